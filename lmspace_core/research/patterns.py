"""Pattern research executed by code: exact answers, no model.

Python files are read through their syntax tree (`ast`, `tokenize`), so a `print` inside a string or a comment is
not a call, and a call spanning several lines is one finding with its full line range. Other languages are parsed
(tree-sitter grammars, see `syntax.py`) to blank out their strings and comments and to know where functions are
declared (`function check(` is not a call), then searched with regular expressions; multi-line calls are followed
to their closing parenthesis. Every finding carries its column: two calls
on one line are two findings.

Names in queries: `print` matches bare calls `print(...)` (and Rust macros `print!(...)`); `requests.get` matches that
dotted call; `*.execute` matches any method named `execute`. A call query's `name` may list several names
("open,io.open,*.read_text"): a call to any of them is a finding. A TODO query's `name` lists the markers asked for
("TODO", "TODO,FIXME"); without one, every marker (TODO, FIXME, HACK, XXX) counts.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from typing import NamedTuple

from lmspace_core.domain import Finding
from lmspace_core.research.plan import PatternKind, PatternQuery
from lmspace_core.research.regex import plan_regex
from lmspace_core.research.syntax import ParsedSource

TODO_MARKERS = ("TODO", "FIXME", "HACK", "XXX")


class _Span(NamedTuple):
    line: int
    end_line: int
    column: int  # 1-based, in characters
    note: str


# What only code does: a document (`language` None: text, markdown, HTML...) that mentions `eval()` calls nothing.
_CODE_KINDS = frozenset({PatternKind.CALL, PatternKind.RAISE, PatternKind.IMPORT, PatternKind.DEFINITION,
                         PatternKind.UNDOCUMENTED})


def find_in_file(path: str, text: str, language: str | None, query: PatternQuery) -> list[Finding]:
    """All findings of `query` in one file, in line and column order; calls, raises, imports and definitions only
    in code (comment markers and plan regexes in documents too)."""
    if language is None and query.kind in _CODE_KINDS:
        return []
    lines = text.splitlines()
    tree = _python_tree(text) if language == "python" else None
    spans = _python_spans(tree, text, lines, query) if tree is not None else _parsed_spans(text, language, path, query)
    return [
        Finding(path=path, line=span.line, end_line=span.end_line, text="\n".join(lines[span.line - 1 : span.end_line]),
                note=span.note, column=span.column)
        for span in sorted(set(spans))
    ]


def asked_markers(query: PatternQuery) -> re.Pattern[str]:
    """The comment markers a TODO query asks for, as a regex: those its `name` lists, else all of them."""
    asked = [word.upper() for word in re.findall(r"[A-Za-z]+", query.name or "") if word.upper() in TODO_MARKERS]
    return re.compile(r"\b(" + "|".join(asked or TODO_MARKERS) + r")\b")


def _regex_note(query: PatternQuery) -> str:
    return query.note or f"matches /{query.regex}/"


def _plan_pattern(query: PatternQuery):
    """A plan's own regex runs on RE2 (linear time); the ones built here from names are plain `re` patterns."""
    return plan_regex(query.regex or "", "pattern.regex")


# -- Python: syntax tree -------------------------------------------------------------------------------------------


def _python_tree(text: str) -> ast.Module | None:
    """The syntax tree, or None for a file Python cannot parse (it is then searched like other languages)."""
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else f"?.{node.attr}"
    return None


def called_names(query: PatternQuery) -> tuple[str, ...]:
    """The names a call query asks for: its `name`, or each of the comma-separated names it lists."""
    return tuple(name.strip() for name in (query.name or "").split(",") if name.strip())


def _name_matches(dotted: str | None, wanted: tuple[str, ...]) -> bool:
    """Each wanted name is a bare name, a dotted name, or `*.attr` for any attribute of that name."""
    if dotted is None:
        return False
    return any(dotted.endswith(name[1:]) if name.startswith("*.") else dotted == name for name in wanted)


class _Columns:
    """Character columns for `ast`'s UTF-8 byte offsets (they differ on lines with non-ASCII text)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def __call__(self, node: ast.expr | ast.stmt) -> int:
        line = self.lines[node.lineno - 1] if node.lineno <= len(self.lines) else ""
        if line.isascii():
            return node.col_offset + 1
        return len(line.encode()[: node.col_offset].decode(errors="ignore")) + 1


def _python_spans(tree: ast.Module, text: str, lines: list[str], query: PatternQuery) -> list[_Span]:
    column = _Columns(lines)
    match query.kind:
        case PatternKind.CALL:
            wanted = called_names(query)
            return [_Span(n.lineno, n.end_lineno or n.lineno, column(n), f"call to {_dotted(n.func)}")
                    for n in ast.walk(tree) if isinstance(n, ast.Call) and _name_matches(_dotted(n.func), wanted)]
        case PatternKind.RAISE:
            return list(_python_raises(tree, query.name or "", column))
        case PatternKind.IMPORT:
            return list(_python_imports(tree, query.name or "", column))
        case PatternKind.DEFINITION:
            return [_Span(n.lineno, n.lineno, column(n),
                          f"definition of {type(n).__name__.removesuffix('Def').lower()} {n.name}")
                    for n in ast.walk(tree)
                    if isinstance(n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and n.name == query.name]
        case PatternKind.TODO:
            markers = asked_markers(query)
            return [_Span(row, row, col + found.start() + 1, comment.strip())
                    for row, col, comment in _python_comments(text) if (found := markers.search(comment))]
        case PatternKind.UNDOCUMENTED:
            kinds, what = ((ast.ClassDef,), "class") if query.name == "class" else (
                (ast.FunctionDef, ast.AsyncFunctionDef), "function")
            return [_Span(n.lineno, n.lineno, column(n), f"{what} {n.name} has no docstring")
                    for n in ast.walk(tree) if isinstance(n, kinds) and ast.get_docstring(n, clean=False) is None]
        case PatternKind.REGEX:
            searched = _python_code_only(text) if query.code_only else text
            return list(_regex_lines(searched, _plan_pattern(query), _regex_note(query)))


def _python_raises(tree: ast.AST, name: str, column: _Columns) -> Iterator[_Span]:
    """`raise name(...)` / `raise name` statements, noted with the function they are in."""

    def visit(node: ast.AST, function: str | None) -> Iterator[_Span]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from visit(child, child.name)
                continue
            if isinstance(child, ast.Raise) and child.exc is not None:
                raised = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                dotted = _dotted(raised)
                if dotted == name or (dotted or "").endswith(f".{name}"):
                    where = f"in function {function}" if function else "at module level"
                    yield _Span(child.lineno, child.end_lineno or child.lineno, column(child), f"raises {name} {where}")
            yield from visit(child, function)

    yield from visit(tree, None)


def _python_imports(tree: ast.AST, name: str, column: _Columns) -> Iterator[_Span]:
    def wanted(module: str | None) -> bool:
        return module is not None and (module == name or module.startswith(f"{name}."))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(wanted(alias.name) for alias in node.names):
            yield _Span(node.lineno, node.end_lineno or node.lineno, column(node), f"imports {name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and wanted(node.module):
            yield _Span(node.lineno, node.end_lineno or node.lineno, column(node), f"imports from {node.module}")


def _python_tokens(text: str) -> list[tokenize.TokenInfo]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return []


def _python_comments(text: str) -> Iterator[tuple[int, int, str]]:
    """(row, 0-based column, comment) of every comment."""
    for token in _python_tokens(text):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.start[1], token.string


def _python_code_only(text: str) -> str:
    """The text with every string literal and comment replaced by spaces (line and column positions kept)."""
    lines = [list(line) for line in text.splitlines()]
    for token in _python_tokens(text):
        if token.type in (tokenize.STRING, tokenize.COMMENT) or token.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            _blank(lines, token.start, token.end)
    return "\n".join("".join(line) for line in lines)


def _blank(lines: list[list[str]], start: tuple[int, int], end: tuple[int, int]) -> None:
    (first_row, first_col), (last_row, last_col) = start, end
    for row in range(first_row, last_row + 1):
        if row - 1 >= len(lines):
            break
        line = lines[row - 1]
        begin = first_col if row == first_row else 0
        stop = last_col if row == last_row else len(line)
        for column in range(begin, min(stop, len(line))):
            line[column] = " "


# -- other languages: parsed strings and comments blanked out, then regular expressions ----------------------------


def _parsed_spans(text: str, language: str | None, path: str, query: PatternQuery) -> list[_Span]:
    source = ParsedSource(text, language, path)
    name = re.escape(query.name or "")
    match query.kind:
        case PatternKind.UNDOCUMENTED:  # docstrings are Python's; a file `ast` cannot parse has none to read
            return []
        case PatternKind.CALL:
            return [span for name in called_names(query)
                    for span in _call_spans(source.blanked(), name, source.declared_names())]
        case PatternKind.TODO:
            return list(_todo_lines(text, source.literals(), asked_markers(query)))
        case PatternKind.RAISE:
            regex, blank = rf"\b(?:raise|throw)\s+(?:new\s+)?(?:[\w.]+\.)?{name}\b", "literals"
            note = f"raises {query.name}"
        case PatternKind.IMPORT:
            regex = (rf"^\s*(?:import\s+(?:[\w*{{}}\s,]+\s+from\s+)?['\"]?{name}\b|from\s+{name}\b|"
                     rf"using\s+{name}\b|#include\s*[<\"]{name}|.*\brequire\s*\(\s*['\"]{name}\b|"
                     rf"use\s+{name}\b|.*\bimport\s+\(?\s*\"{name}\")")
            blank, note = "comments", f"imports {query.name}"  # module names are strings in JS, Go, C...
        case PatternKind.DEFINITION:
            regex = (rf"\b(?:class|interface|struct|enum|trait|def|func|function|fn|type|module)\s+"
                     rf"(?:\([^)]*\)\s*)?{name}\b")
            blank, note = "literals", f"definition of {query.name}"
        case PatternKind.REGEX:
            regex, note = _plan_pattern(query), _regex_note(query)
            blank = "literals" if query.code_only else None
    searched = text if blank is None else source.blanked(keep_strings=blank == "comments")
    return list(_regex_lines(searched, re.compile(regex) if isinstance(regex, str) else regex, note))


def _todo_lines(text: str, literals: list[tuple[str, int, int]], markers: re.Pattern[str]) -> Iterator[_Span]:
    """One span per line where a comment carries an asked marker, at the first such marker's column."""
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    lines = text.splitlines()
    seen: set[int] = set()
    for kind, start, stop in literals:
        if kind != "comment":
            continue
        for marker in markers.finditer(text, start, stop):
            row = _line_of(line_starts, marker.start())
            if row not in seen:
                seen.add(row)
                yield _Span(row, row, marker.start() - line_starts[row - 1] + 1, lines[row - 1].strip())


def _regex_lines(text: str, pattern, note: str) -> Iterator[_Span]:
    """Lines where `pattern` (an `re` or RE2 pattern) matches, at the first match's first non-blank column."""
    for row, line in enumerate(text.splitlines(), start=1):
        found = pattern.search(line)
        if found is not None:
            matched = found.group(0)
            yield _Span(row, row, found.start() + len(matched) - len(matched.lstrip()) + 1, note)


def _call_spans(masked: str, name: str, declared: frozenset[int]) -> Iterator[_Span]:
    """Calls `name(` (or macros `name!(`) in masked text, each spanning to its closing parenthesis; a name that a
    declaration introduces there (`declared` offsets: `function name(`) is not a call."""
    if name.startswith("*."):
        regex = rf"\.\s*({re.escape(name[2:])})\s*!?\s*\("
    else:
        regex = rf"(?<![\w.])({re.escape(name)})\s*!?\s*\("
    line_starts = [0] + [m.end() for m in re.finditer("\n", masked)]
    for match in re.finditer(regex, masked):
        if match.start(1) in declared:
            continue
        depth, position = 0, match.end() - 1
        while position < len(masked):
            depth += {"(": 1, ")": -1}.get(masked[position], 0)
            if depth == 0:
                break
            position += 1
        start_line = _line_of(line_starts, match.start(1))
        yield _Span(start_line, _line_of(line_starts, min(position, len(masked) - 1)),
                    match.start(1) - line_starts[start_line - 1] + 1, f"call to {name}")


def _line_of(line_starts: list[int], offset: int) -> int:
    low, high = 0, len(line_starts) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if line_starts[middle] <= offset:
            low = middle
        else:
            high = middle - 1
    return low + 1
