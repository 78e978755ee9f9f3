"""Where the comments and string literals of a non-Python source file are, so code searches can skip them, and
where its function declarations put their names, so a declaration is not taken for a call.

A hand-written lexer cannot know every language's literals: Rust lifetimes (`'a`) look like character literals, C#
verbatim strings (`@"C:\\dir\\"`) end on a backslash-quote, Lua comments are `--[[ ... ]]`, PHP also comments with
`#`, and Kotlin strings open with `\"\"\"`. Each of those hid real code or exposed commented-out code. So every language
with a tree-sitter grammar in ast-grep (grammars compiled into the wheel, nothing downloaded) is parsed for real; the
small lexer remains only for languages without a grammar there (SQL, Perl, R, TOML, INI). Python uses `ast` and
`tokenize` instead (see `patterns.py`), and comes here only for files `ast` cannot parse.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from ast_grep_py import SgRoot

# LMSpace language (see `language_for`) -> ast-grep grammar name. Python is here for the files `ast` cannot parse
# (Python 2, syntax errors): tree-sitter still finds their strings and comments.
_GRAMMARS = {
    "python": "python",
    "javascript": "javascript", "typescript": "typescript", "java": "java", "go": "go", "rust": "rust", "c": "c",
    "cpp": "cpp", "csharp": "csharp", "ruby": "ruby", "shell": "bash", "yaml": "yaml", "kotlin": "kotlin",
    "swift": "swift", "php": "php", "scala": "scala", "lua": "lua",
}
# Node kinds that are comments or literals across the grammars; each grammar knows a few of them.
_LITERAL_KINDS = (
    "comment", "line_comment", "block_comment", "multiline_comment",
    "string", "string_literal", "raw_string_literal", "raw_string", "ansi_c_string", "char_literal",
    "character_literal", "rune_literal", "interpreted_string_literal", "template_string", "verbatim_string_literal",
    "interpolated_string_expression", "interpolated_string", "line_string_literal", "multi_line_string_literal",
    "heredoc_body", "heredoc", "nowdoc", "encapsed_string", "regex", "regex_literal", "text_block",
    "double_quote_scalar", "single_quote_scalar", "block_scalar",
)
# Node kinds that declare a function or method, whose name is followed by `(` as a call's is.
_DECLARATION_KINDS = (
    "function_declaration", "function_definition", "method_declaration", "method_definition", "function_item",
    "function_signature_item", "method", "singleton_method", "local_function_statement", "constructor_declaration",
    "function_signature", "method_signature", "abstract_method_signature", "function_declarator",
    "generator_function_declaration", "function_expression",
)
_HASH_COMMENT_LANGUAGES = {"shell", "ruby", "yaml", "toml", "perl", "r", "ini"}


def _grammar(language: str | None, path: str) -> str | None:
    if language == "typescript" and path.lower().endswith(".tsx"):
        return "tsx"
    return _GRAMMARS.get(language or "")


@lru_cache(maxsize=None)
def _kind_rule(grammar: str, kinds: tuple[str, ...]) -> dict:
    """An ast-grep rule matching those of `kinds` this grammar has (ast-grep refuses kinds a grammar lacks)."""
    root = SgRoot("", grammar).root()
    known = []
    for kind in kinds:
        try:
            root.find(kind=kind)
        except RuntimeError:
            continue
        known.append({"kind": kind})
    return {"any": known}


class ParsedSource:
    """One file parsed once: where its literals are, and where the functions it declares have their names."""

    def __init__(self, text: str, language: str | None, path: str = "") -> None:
        self.text, self.language = text, language
        grammar = _grammar(language, path)
        self._grammar = grammar
        self._root = SgRoot(text, grammar).root() if grammar else None

    def literals(self) -> list[tuple[str, int, int]]:
        """("comment" | "string", start, stop) character offsets of every comment and string literal."""
        if self._root is None:
            return list(_lexed_spans(self.text, self.language))
        spans = []
        for node in self._root.find_all(**_kind_rule(self._grammar, _LITERAL_KINDS)):
            where = node.range()
            spans.append(("comment" if "comment" in node.kind() else "string", where.start.index, where.end.index))
        return spans

    def declared_names(self) -> frozenset[int]:
        """Offsets where a function or method declaration's name starts: `function print(` declares, not calls.
        Empty for languages without a grammar."""
        if self._root is None:
            return frozenset()
        starts = set()
        for node in self._root.find_all(**_kind_rule(self._grammar, _DECLARATION_KINDS)):
            name = node.field("name") or node.field("declarator") or next(
                (child for child in node.children() if child.kind().endswith("identifier")), None)
            if name is not None and name.kind() == "qualified_identifier":
                name = name.field("name")  # C++ `void Shape::draw()`
            if name is not None and name.kind() != "function_declarator":
                starts.add(name.range().start.index)
        return frozenset(starts)

    def blanked(self, *, keep_strings: bool = False) -> str:
        """The text with its literals (comments only, with `keep_strings`) replaced by spaces; newlines stay, so
        lines and columns are unchanged."""
        out = list(self.text)
        for kind, start, stop in self.literals():
            if keep_strings and kind == "string":
                continue
            for k in range(start, stop):
                if out[k] != "\n":
                    out[k] = " "
        return "".join(out)


def _lexed_spans(text: str, language: str | None) -> Iterator[tuple[str, int, int]]:
    """The literals of a language without a grammar, by a lexer that knows `//`, `/* */`, `#`, `--` and quotes."""
    hash_comments = language in _HASH_COMMENT_LANGUAGES
    sql = language == "sql"
    i, n = 0, len(text)
    while i < n:
        two, char = text[i : i + 2], text[i]
        if (two == "//" and not hash_comments and not sql) or (char == "#" and hash_comments) or (two == "--" and sql):
            stop = text.find("\n", i)
            stop = n if stop < 0 else stop
            yield "comment", i, stop
        elif two == "/*" and not hash_comments:
            stop = text.find("*/", i + 2)
            stop = n if stop < 0 else stop + 2
            yield "comment", i, stop
        elif char in "\"'`":
            j = i + 1
            while j < n and text[j] != char and not (text[j] == "\n" and char != "`"):
                j += 2 if text[j] == "\\" else 1
            stop = min(j + 1, n)
            yield "string", i, stop
        else:
            i += 1
            continue
        i = stop
