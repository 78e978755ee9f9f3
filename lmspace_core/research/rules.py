"""The built-in planner used without a language model: it recognises common task families from plain English.

Recognised families and phrasings (case-insensitive; `X` is a name such as `print`, `requests.get`, `ValueError`):
- TODO comments: the markers named ("list the TODOs", "TODO and FIXME comments"), or all of TODO, FIXME, HACK and
  XXX for "todo-like comments", "TODOs and the like".
- print statements: "find print statements", "print calls", "where do we print".
- calls: "calls to X", "X calls", "uses of X()", "where is X called", "who calls X", "invocations of X",
  "where is the X class instantiated"; "the X method" means any method named X (`*.X`).
- raises: "functions that raise X", "where is X raised", "which methods throw X", "where are Xs thrown".
- imports: "imports of X", "which files import the X module", "where is X imported", "files that require X",
  "files that use the X library", "anything that uses X" for a standard-library module X (`pickle`, `subprocess`).
- definitions: "where is class X defined", "definition of X", "the X class definition", "find class X".
- operations named in words, searched by the code that performs them: opening files ("where do we open files?",
  "functions that read a file": calls to `open`, `io.open`, `os.open`, `gzip.open`, `fopen`, `os.Open`...),
  environment variables ("places that read environment variables", "env vars": `os.environ`, `getenv`,
  `process.env`...) and missing docstrings ("which functions have no docstring", "undocumented classes"; Python).
A language may be named ("in Python files", "in the Go code", "C# code", ".rs files") to restrict the files.

Names are read from the words around the family's keyword, skipping articles and words such as "module", "class"
or "function"; a name in backticks or quotes always wins, dotted names stay whole, and a trailing `()` is dropped.
A common word is never taken for a name: when the rules cannot tell which name a task means, the plan says so and
falls back to a semantic search. Anything else is a semantic search over the code chunks, reported as such.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from lmspace_core.research.plan import FileSelection, PatternKind, PatternQuery, ResearchPlan, Strategy

_MARKERS = ("TODO", "FIXME", "HACK", "XXX")

_LANGUAGES = {
    "python": "python", "javascript": "javascript", "js": "javascript", "typescript": "typescript",
    "ts": "typescript", "java": "java", "go": "go", "golang": "go", "rust": "rust", "c#": "csharp",
    "csharp": "csharp", "ruby": "ruby", "shell": "shell", "bash": "shell", "sql": "sql", "c++": "cpp", "cpp": "cpp",
    "c": "c", "kotlin": "kotlin", "php": "php", "swift": "swift", "scala": "scala", "lua": "lua",
}
_EXTENSIONS = {
    "py": "python", "js": "javascript", "jsx": "javascript", "ts": "typescript", "tsx": "typescript", "java": "java",
    "go": "go", "rs": "rust", "cs": "csharp", "rb": "ruby", "sh": "shell", "sql": "sql", "cpp": "cpp", "cc": "cpp",
    "hpp": "cpp", "c": "c", "h": "c", "kt": "kotlin", "php": "php", "swift": "swift", "scala": "scala", "lua": "lua",
}

# Words that introduce or qualify a name without being one: skipped when looking for the name.
_KIND_WORDS = frozenset("""
    module modules package packages library libraries lib libs crate crates namespace namespaces header headers
    class classes function functions func method methods procedure procedures routine routines struct structs
    interface interfaces trait traits enum enums type types object objects exception exceptions error errors
    macro macros builtin built-in helper helpers constructor constructors statement statements keyword api apis
    endpoint endpoints decorator decorators variable variables constant constants
""".split())
_FILLER = frozenset("""
    the a an all any every each our my their its this that these those some of to for from on at by named called
    is are was were be been being get gets got custom deprecated old legacy internal external standard global
    top-level same whole
""".split())
# Words after which the name cannot be: the scan for a name stops there.
_BOUNDARY = frozenset("""
    in inside within across when where which who whom whose what if and or but with without under because so than
    as while during into onto over via
""".split())
# Common words that are never a name, whatever their place in the task.
_STOP = _KIND_WORDS | _FILLER | _BOUNDARY | frozenset("""
    it they them we us you your i me he she him her something anything everything nothing stuff thing things
    code codebase project repo repository source sources file files folder folders directory directories place
    places line lines location locations spot spots why how do does did done have has had can could should would
    will may might must find list show give search look locate tell please not also just only other others such
    too very many much more most few one two new used use uses using usage usages call calls calling caller
    callers invoke invokes invoked invoking invocation invocations define defines defined defining definition
    definitions declare declares declared declaring declaration declarations import imports imported importing
    require requires required raise raises raised raising throw throws thrown throwing comment comments note notes
    instantiate instantiates instantiated instantiating instance instances instantiations constructed
    marker markers usage there here then done left remaining outstanding grep depend depends dependency
    dependencies
""".split()) | frozenset(_LANGUAGES)

_TOKEN = re.compile(
    r"`(?P<backticked>[^`]+)`|[\"“](?P<quoted>[^\"”]+)[\"”]|(?<!\w)'(?P<single>[^'\s]+)'(?!\w)"
    r"|(?P<word>\.?[A-Za-z_*$][\w.*$#+-]*(?:\(\))?)"
)
_IDENTIFIER = re.compile(r"\*?\.?[A-Za-z_$][\w$]*(?:\.[A-Za-z_$*][\w$]*)*")
_CODE_SHAPED = re.compile(r"[_.*$\d]|[a-z][A-Z]|^[A-Z][a-z]+[A-Z]")  # snake_case, dotted, camelCase, CamelCase


@dataclass(frozen=True)
class _Token:
    text: str  # as written, without quotes, a trailing `()` or sentence punctuation
    quoted: bool  # in backticks or quotes, or written as a call (`open()`): a name whatever the word
    start: int
    end: int

    @property
    def word(self) -> str:
        return self.text.lower()

    @property
    def is_name(self) -> bool:
        """Whether this could be the name a task is about: identifier-shaped and not a common word."""
        return _IDENTIFIER.fullmatch(self.text) is not None and (self.quoted or self.word not in _STOP)


def _tokens(task: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(task):
        text = next(group for group in match.groups() if group is not None).strip()
        quoted = match.group("word") is None or text.endswith("()")
        text = text.removesuffix("()").rstrip(".,:;!?-")
        if text:
            tokens.append(_Token(text, quoted, match.start(), match.end()))
    return tokens


def _normalise(task: str) -> str:
    """Contractions out of the way: "where's X defined" reads as "where is X defined", "X's" as "X"."""
    task = re.sub(r"\b(where|what|who|it|that)'s\b", r"\1 is", task, flags=re.IGNORECASE)
    return re.sub(r"(?<=\w)'s\b", "", task.replace("’", "'"))


# -- families ------------------------------------------------------------------------------------------------------

# keyword -> (kind, where the name is: "after" the keyword, or "before" it as in "where is X raised")
_KEYWORDS: dict[str, tuple[PatternKind, str]] = {
    **dict.fromkeys(("raise", "raises", "raising", "throw", "throws", "throwing"), (PatternKind.RAISE, "after")),
    **dict.fromkeys(("raised", "thrown"), (PatternKind.RAISE, "before")),
    **dict.fromkeys(("import", "imports", "importing", "require", "requires", "requiring"),
                    (PatternKind.IMPORT, "after")),
    **dict.fromkeys(("imported", "required"), (PatternKind.IMPORT, "before")),
    **dict.fromkeys(("depend", "depends", "depending"), (PatternKind.IMPORT, "after")),
    **dict.fromkeys(("define", "defines", "defining", "declare", "declares", "declaring"),
                    (PatternKind.DEFINITION, "after")),
    **dict.fromkeys(("defined", "declared", "definition", "definitions", "declaration", "declarations"),
                    (PatternKind.DEFINITION, "before")),
    **dict.fromkeys(("call", "calling", "invoke", "invokes", "invoking", "use", "uses", "using", "instantiate",
                     "instantiates", "instantiating", "instances", "instantiations"), (PatternKind.CALL, "after")),
    **dict.fromkeys(("called", "invoked", "used", "calls", "invocations", "invocation", "usages", "usage", "callers",
                     "instantiated", "constructed"), (PatternKind.CALL, "before")),
}
_USE_WORDS = frozenset({"use", "uses", "using", "used", "usage", "usages"})
_FAMILY_ORDER = (PatternKind.RAISE, PatternKind.IMPORT, PatternKind.DEFINITION, PatternKind.CALL)
_CONNECTORS = frozenset({"of", "to", "for", "from", "on"})  # "calls to X", "imports of X": the name follows
_IMPORT_KINDS = frozenset({"module", "modules", "package", "packages", "library", "libraries", "lib", "crate",
                           "crates", "namespace", "header"})
_DEFINED_KINDS = frozenset({"class", "struct", "interface", "trait", "enum"})
_ALL_MARKERS = re.compile(r"-(?:like|style|ish)\b|\b(?:and|or) (?:the like|similar|friends|such|so on)\b"
                          r"|\b(?:all|any|every) (?:the )?markers?\b", re.IGNORECASE)
_WINDOW = 5  # words looked at either side of a keyword for its name


@dataclass(frozen=True)
class _Reading:
    kind: PatternKind
    name: str | None  # None: the family is clear but the name is not
    phrase: str


def _marker(token: _Token) -> str:
    """"TODOs" -> "TODO", "todo-like" -> "TODO"; a word that is no marker comes back as something else."""
    return token.word.split("-")[0].rstrip("s").upper()


def _markers(tokens: list[_Token], task: str) -> _Reading | None:
    """The comment markers named: only those, unless the task asks for the like ("todo-like", "and the like")."""
    named = [t for t in tokens if _marker(t) in _MARKERS]
    if not named:
        return None
    asked = None if _ALL_MARKERS.search(task) else ",".join(dict.fromkeys(_marker(t) for t in named))
    return _Reading(PatternKind.TODO, asked, task[named[0].start : named[-1].end])


def _name_near(tokens: list[_Token], index: int, direction: str) -> _Token | None:
    """The name after (or before) `tokens[index]`, skipping filler, up to a clause boundary: the first that looks
    like code (`get_user`, `os.path`, `parseArgs`), else the first name-like word."""
    step = 1 if direction == "after" else -1
    candidates = []
    for position in range(index + step, index + step * (_WINDOW + 1), step):
        if not 0 <= position < len(tokens):
            break
        token = tokens[position]
        if token.is_name:
            candidates.append(token)
        elif token.word not in _FILLER | _KIND_WORDS:
            break  # a clause boundary ("in", "when") or a common word ("it", "something"): no name beyond
    return next((t for t in candidates if _CODE_SHAPED.search(t.text)), candidates[0] if candidates else None)


def _named_as(tokens: list[_Token]) -> _Token | None:
    """A name given outright: in backticks or quotes, or after "named" ("the function named build_index")."""
    quoted = [t for t in tokens if t.quoted and _IDENTIFIER.fullmatch(t.text)]
    if quoted:
        return quoted[0]
    for before, token in zip(tokens, tokens[1:], strict=False):
        if before.word == "named" and token.is_name:
            return token
    return None


def _keyword_reading(tokens: list[_Token], task: str) -> _Reading | None:
    found: dict[PatternKind, tuple[int, str]] = {}
    for index, token in enumerate(tokens):
        if not token.quoted and token.word in _KEYWORDS:
            kind, direction = _KEYWORDS[token.word]
            found.setdefault(kind, (index, direction))
    for kind in _FAMILY_ORDER:
        if kind not in found:
            continue
        index, direction = found[kind]
        if kind is PatternKind.CALL and _mentions(tokens, index, _IMPORT_KINDS):
            kind = PatternKind.IMPORT  # "files that use the requests module"
        if direction == "before" and index + 1 < len(tokens) and tokens[index + 1].word in _CONNECTORS:
            direction = "after"  # "calls to X", "definition of X"
        name = _named_as(tokens) or _name_near(tokens, index, direction)
        if name is None:
            name = _name_near(tokens, index, "before" if direction == "after" else "after")
        if kind is PatternKind.CALL and tokens[index].word in _USE_WORDS and name is not None and not name.quoted \
                and name.text in sys.stdlib_module_names:
            kind = PatternKind.IMPORT  # "anything that uses pickle": a module is used through its import
        return _reading(kind, tokens, index, name, task)
    return None


def _mentions(tokens: list[_Token], index: int, words: frozenset[str]) -> bool:
    return any(t.word in words for t in tokens[index + 1 : index + 1 + _WINDOW])


def _reading(kind: PatternKind, tokens: list[_Token], index: int, name: _Token | None, task: str) -> _Reading:
    keyword = tokens[index]
    if name is None:
        return _Reading(kind, None, keyword.text)
    phrase = task[min(keyword.start, name.start) : max(keyword.end, name.end)]
    text = name.text
    if kind is PatternKind.RAISE:
        text = re.sub(r"(Error|Exception|Warning)s$", r"\1", text)  # "where are ValueErrors raised"
    if kind is PatternKind.CALL and text.startswith("."):
        text = "*" + text  # "calls to .execute()"
    elif kind is PatternKind.CALL and "." not in text and _beside(tokens, name, {"method", "methods"}):
        text = f"*.{text}"  # "the execute method": any method of that name
    return _Reading(kind, text.lstrip("."), phrase)


def _beside(tokens: list[_Token], name: _Token, words: set[str]) -> bool:
    at = tokens.index(name)
    return any(t.word in words for t in tokens[max(0, at - 1) : at + 2])


def _print_reading(tokens: list[_Token]) -> _Reading | None:
    """"find print statements", "where do we print", "list the prints": calls to `print`."""
    for token in tokens:
        if token.word in ("print", "prints", "printing"):
            return _Reading(PatternKind.CALL, "print", token.text)
    return None


def _defined_kind_reading(tokens: list[_Token], task: str) -> _Reading | None:
    """"find class Invoice", "the Invoice struct", "functions named parse": a named kind reads as a definition."""
    for index, token in enumerate(tokens):
        named = index + 1 < len(tokens) and tokens[index + 1].word == "named"
        if (token.word in _DEFINED_KINDS or named and token.word in _KIND_WORDS) and not token.quoted:
            name = _named_as(tokens) or _name_near(tokens, index, "after") or _name_near(tokens, index, "before")
            if name is not None:
                return _reading(PatternKind.DEFINITION, tokens, index, name, task)
    return None


def _read(task: str) -> _Reading | None:
    """What the task asks for; a reading without a name when the family is clear but the name is not."""
    normalised = _normalise(task)
    tokens = _tokens(normalised)
    markers = _markers(tokens, normalised)
    keyword = _keyword_reading(tokens, normalised)
    if markers is not None or (keyword is not None and keyword.name):
        return markers or keyword
    return _print_reading(tokens) or _defined_kind_reading(tokens, normalised) or keyword


@dataclass(frozen=True)
class _Operation:
    """Something code does that people name in words ("open files") rather than by a name, and how to find it."""

    what: str
    phrasing: re.Pattern[str]
    query: PatternQuery
    searched: str  # what the query finds, in words, for the rationale


# The calls that open a file, by language. Methods are left out (`Path.open`, `Path.read_text`): other objects have
# methods of those names, and `*.open` counted click's `webbrowser.open(url)`, `*.write_text` its help formatter's.
_FILE_OPENS = (
    "open", "io.open", "os.open", "os.fdopen", "codecs.open", "gzip.open", "bz2.open", "lzma.open", "tarfile.open",
    "zipfile.ZipFile", "tempfile.NamedTemporaryFile", "tempfile.TemporaryFile",  # Python
    "fopen", "freopen", "fdopen",  # C, C++
    "os.Open", "os.OpenFile", "os.Create", "os.ReadFile", "os.WriteFile",  # Go
    "fs.open", "fs.openSync", "fs.readFile", "fs.readFileSync", "fs.writeFile", "fs.writeFileSync",
    "fs.createReadStream", "fs.createWriteStream",  # Node
    "FileInputStream", "FileOutputStream", "FileReader", "FileWriter", "Files.newBufferedReader",
    "Files.newBufferedWriter", "Files.readAllLines", "Files.readString", "Files.writeString",  # Java
    "File.open", "File.read", "File.write", "File.OpenRead", "File.OpenWrite", "File.ReadAllText",
    "File.WriteAllText",  # Ruby, C#
)
# Uses of the process environment, by language (strings and comments are blanked before this runs).
_ENVIRONMENT_READS = (
    r"\bos\.environb?\b|\benviron\s*(?:\[|\.get\b)|\b(?:os\.)?getenv\b|\bos\.(?:Getenv|LookupEnv|Environ)\b"
    r"|\bprocess\.env\b|\bSystem\.getenv\b|\bEnvironment\.GetEnvironmentVariables?\b|\bENV\s*(?:\[|\.fetch\b)"
    r"|\benv::var"
)
# "no docstring", "without docstrings", "missing a doc string", "undocumented"
_NO_DOCSTRING = r"(?:\b(?:no|without|missing|lacks?|lacking)\s+(?:a\s+|any\s+)?doc[\s-]?strings?\b|\bundocumented\b)"
_PYTHON_ONLY = "; docstrings are Python's, so files in other languages give no findings"
_OPERATIONS = (
    _Operation(
        "classes without a docstring",
        re.compile(rf"\bclass(?:es)?\b.*{_NO_DOCSTRING}|{_NO_DOCSTRING}.*\bclass(?:es)?\b", re.IGNORECASE),
        PatternQuery(PatternKind.UNDOCUMENTED, name="class"),
        f"the Python classes whose body does not start with a docstring{_PYTHON_ONLY}",
    ),
    _Operation(
        "functions without a docstring",
        re.compile(_NO_DOCSTRING, re.IGNORECASE),
        PatternQuery(PatternKind.UNDOCUMENTED),
        f"the Python functions and methods whose body does not start with a docstring{_PYTHON_ONLY}",
    ),
    _Operation(
        "opening files",
        re.compile(r"\b(?:open(?:s|ed|ing)?|reads?|reading|writes?|writing|written)\b(?:\W+\w+){0,3}?\W+files?\b"
                   r"|\bfiles?\W+(?:opens?|opened|opening|access(?:es)?|reads?|reading|writes?|writing|I/?O)\b",
                   re.IGNORECASE),
        PatternQuery(PatternKind.CALL, name=",".join(_FILE_OPENS)),
        "the functions that open a file (`open`, `io.open`, `os.open`, `gzip.open`... in Python, `fopen` in C, "
        "`os.Open` in Go, `fs.readFile` in Node...; `pattern.name` lists them all). Methods (`Path.open`, "
        "`Path.read_text`) are not counted, since other objects have methods of those names (`webbrowser.open`): "
        "add `*.open` or `*.read_text` to `pattern.name` to count them",
    ),
    _Operation(
        "environment variables",
        re.compile(r"\b(?:env(?:ironment)?[\s_-]*var(?:iable)?s?|environ|getenv)\b", re.IGNORECASE),
        PatternQuery(PatternKind.REGEX, regex=_ENVIRONMENT_READS, note="uses an environment variable"),
        "the code that reads or sets the process environment (`os.environ`, `os.getenv`, `process.env`, "
        "`System.getenv`, `ENV[...]`...), outside strings and comments",
    ),
)


def _operation(task: str, reading: _Reading | None) -> tuple[_Operation, str] | None:
    """The operation a task names in words, with the phrase that names it, unless the family rules read something
    the phrase does not account for (a marker, or a name outside it: "raise ValueError when reading files")."""
    for operation in _OPERATIONS:
        if found := operation.phrasing.search(task):
            phrase = found.group(0)
            if reading is None or reading.kind is not PatternKind.TODO and (
                    reading.name is None or reading.name.lower() in phrase.lower()):
                return operation, phrase
    return None


def _languages(task: str) -> tuple[str, ...]:
    found = set()
    for word, language in _LANGUAGES.items():
        escaped = re.escape(word)
        if re.search(rf"(?<![\w+#])(?:(?:in|for|across|of) (?:the |all |our )?{escaped}(?![\w+#])"
                     rf"|{escaped} (?:files?|code|sources?|scripts?|modules?|classes|functions|projects?)\b)",
                     task, re.IGNORECASE):
            found.add(language)
    for extension in re.findall(r"\*?\.([a-z]+) files?\b", task, re.IGNORECASE):
        if extension.lower() in _EXTENSIONS:
            found.add(_EXTENSIONS[extension.lower()])
    return tuple(sorted(found))


def _about(reading: _Reading) -> str:
    if reading.kind is not PatternKind.TODO:
        return f"`{reading.name}`"
    if reading.name:
        return f"the markers {reading.name.replace(',', ', ')}"
    return "every TODO, FIXME, HACK and XXX marker"


def plan_with_rules(task: str) -> ResearchPlan:
    """A plan for `task` from the built-in rules; a semantic search plan when no family (or no name) is clear."""
    files = FileSelection(languages=_languages(task))
    reading = _read(task)
    if operated := _operation(_normalise(task), reading):
        operation, phrase = operated
        rationale = (f"Recognised a task about {operation.what} from the phrase \"{phrase}\"; searched by code for "
                     f"{operation.searched}.")
        return ResearchPlan(task, Strategy.PATTERN, files, operation.query, rationale=rationale, planner="rules")
    if reading is not None and (reading.name or reading.kind is PatternKind.TODO):
        rationale = (f"Recognised a task of the '{reading.kind.value}' family about {_about(reading)} from the phrase "
                     f"\"{reading.phrase}\"; searched by code.")
        return ResearchPlan(task, Strategy.PATTERN, files, PatternQuery(reading.kind, reading.name),
                            rationale=rationale, planner="rules")
    search = ("so this is a semantic search over the code: the top locations are reported as search results, not as "
              "answers.")
    if reading is not None:
        rationale = (f"This reads as a task of the '{reading.kind.value}' family (\"{reading.phrase}\"), but the rules "
                     "could not tell which name it is about; write the name in backticks (e.g. \"which files import "
                     f"`requests`\") to search by code. No language model is configured, {search}")
    else:
        rationale = f"No built-in task family matched and no language model is configured, {search}"
    return ResearchPlan(task, Strategy.SEARCH, files, question=task, rationale=rationale, planner="rules")
