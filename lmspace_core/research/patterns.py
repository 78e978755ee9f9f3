"""Pattern research executed by code: exact answers, no model.

Python files are read through their syntax tree (`ast`, `tokenize`), so a `print` inside a string or a comment is
not a call, and a call spanning several lines is one finding with its full line range. Other languages go through a
small lexer that blanks out strings and comments, then regular expressions; multi-line calls are followed to their
closing parenthesis.

Names in queries: `print` matches bare calls `print(...)`; `requests.get` matches that dotted call; `*.execute`
matches any method named `execute`.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator

from lmspace_core.domain import Finding
from lmspace_core.research.plan import PatternKind, PatternQuery

TODO_MARKERS = re.compile(r"\b(TODO|FIXME|HACK|XXX)\b")
_HASH_COMMENT_LANGUAGES = {"shell", "ruby", "yaml", "toml", "perl", "r", "ini"}


def find_in_file(path: str, text: str, language: str | None, query: PatternQuery) -> list[Finding]:
    """All findings of `query` in one file, in line order."""
    lines = text.splitlines()
    if language == "python":
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            tree = None
        if tree is not None:
            spans = _python_spans(tree, text, query)
            return [_finding(path, lines, start, end, note) for start, end, note in spans]
    spans = _lexical_spans(text, language, query)
    return [_finding(path, lines, start, end, note) for start, end, note in spans]


def _finding(path: str, lines: list[str], start: int, end: int, note: str) -> Finding:
    return Finding(path=path, line=start, end_line=end, text="\n".join(lines[start - 1 : end]), note=note)


# -- Python: syntax tree -------------------------------------------------------------------------------------------


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else f"?.{node.attr}"
    return None


def name_matches(dotted: str | None, wanted: str) -> bool:
    """`wanted` is a bare name, a dotted name, or `*.attr` for any attribute of that name."""
    if dotted is None:
        return False
    if wanted.startswith("*."):
        return dotted.endswith(wanted[1:])
    return dotted == wanted


def _python_spans(tree: ast.Module, text: str, query: PatternQuery) -> list[tuple[int, int, str]]:
    match query.kind:
        case PatternKind.CALL:
            spans = [(n.lineno, n.end_lineno or n.lineno, f"call to {_dotted(n.func)}")
                     for n in ast.walk(tree) if isinstance(n, ast.Call) and name_matches(_dotted(n.func), query.name)]
        case PatternKind.RAISE:
            spans = list(_python_raises(tree, query.name or ""))
        case PatternKind.IMPORT:
            spans = list(_python_imports(tree, query.name or ""))
        case PatternKind.DEFINITION:
            spans = [(n.lineno, n.lineno, f"definition of {type(n).__name__.removesuffix('Def').lower()} {n.name}")
                     for n in ast.walk(tree)
                     if isinstance(n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and n.name == query.name]
        case PatternKind.TODO:
            spans = [(row, row, comment.strip()) for row, comment in _python_comments(text)
                     if TODO_MARKERS.search(comment)]
        case PatternKind.REGEX:
            searched = _python_code_only(text) if query.code_only else text
            spans = list(_regex_lines(searched, query.regex or "", f"matches /{query.regex}/"))
    return sorted(set(spans))


def _python_raises(tree: ast.AST, name: str) -> Iterator[tuple[int, int, str]]:
    """`raise name(...)` / `raise name` statements, noted with the function they are in."""

    def visit(node: ast.AST, function: str | None) -> Iterator[tuple[int, int, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from visit(child, child.name)
                continue
            if isinstance(child, ast.Raise) and child.exc is not None:
                raised = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                dotted = _dotted(raised)
                if dotted == name or (dotted or "").endswith(f".{name}"):
                    where = f"in function {function}" if function else "at module level"
                    yield child.lineno, child.end_lineno or child.lineno, f"raises {name} {where}"
            yield from visit(child, function)

    yield from visit(tree, None)


def _python_imports(tree: ast.AST, name: str) -> Iterator[tuple[int, int, str]]:
    def wanted(module: str | None) -> bool:
        return module is not None and (module == name or module.startswith(f"{name}."))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(wanted(alias.name) for alias in node.names):
            yield node.lineno, node.end_lineno or node.lineno, f"imports {name}"
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and wanted(node.module):
            yield node.lineno, node.end_lineno or node.lineno, f"imports from {node.module}"


def _python_tokens(text: str) -> list[tokenize.TokenInfo]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return []


def _python_comments(text: str) -> Iterator[tuple[int, str]]:
    for token in _python_tokens(text):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string


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


# -- other languages: a lexer that blanks strings and comments, then regular expressions ---------------------------


def _literal_spans(text: str, language: str | None) -> Iterator[tuple[str, int, int]]:
    """("comment" | "string", start, stop) offsets of every comment and string literal, in order."""
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


def mask_strings_and_comments(text: str, language: str | None) -> str:
    """Replace string literals and comments by spaces, keeping newlines so line numbers stay right."""
    out = list(text)
    for _, start, stop in _literal_spans(text, language):
        for k in range(start, stop):
            if out[k] != "\n":
                out[k] = " "
    return "".join(out)


def _todo_lines(text: str, language: str | None) -> Iterator[tuple[int, int, str]]:
    """Lines where a comment carries a TODO/FIXME/HACK/XXX marker."""
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    lines = text.splitlines()
    for kind, start, stop in _literal_spans(text, language):
        if kind != "comment":
            continue
        for marker in TODO_MARKERS.finditer(text, start, stop):
            row = _line_of(line_starts, marker.start())
            yield row, row, lines[row - 1].strip()


def _lexical_spans(text: str, language: str | None, query: PatternQuery) -> list[tuple[int, int, str]]:
    name = re.escape(query.name or "")
    match query.kind:
        case PatternKind.CALL:
            return list(_call_spans(mask_strings_and_comments(text, language), query.name or ""))
        case PatternKind.RAISE:
            regex, searched, note = rf"\b(?:raise|throw)\s+(?:new\s+)?(?:[\w.]+\.)?{name}\b", "code", f"raises {query.name}"
        case PatternKind.IMPORT:
            regex = (rf"^\s*(?:import\s+(?:[\w*{{}}\s,]+\s+from\s+)?['\"]?{name}\b|from\s+{name}\b|"
                     rf"using\s+{name}\b|#include\s*[<\"]{name}|.*\brequire\s*\(\s*['\"]{name}\b|"
                     rf"use\s+{name}\b|.*\bimport\s+\(?\s*\"{name}\")")
            searched, note = "raw", f"imports {query.name}"
        case PatternKind.DEFINITION:
            regex = (rf"\b(?:class|interface|struct|enum|trait|def|func|function|fn|type|module)\s+"
                     rf"(?:\([^)]*\)\s*)?{name}\b")
            searched, note = "code", f"definition of {query.name}"
        case PatternKind.TODO:
            return sorted(set(_todo_lines(text, language)))
        case PatternKind.REGEX:
            regex, searched = query.regex or "", "code" if query.code_only else "raw"
            note = f"matches /{regex}/"
    source = mask_strings_and_comments(text, language) if searched == "code" else text
    return list(_regex_lines(source, regex, note))


def _regex_lines(text: str, regex: str, note: str) -> Iterator[tuple[int, int, str]]:
    pattern = re.compile(regex)
    for row, line in enumerate(text.splitlines(), start=1):
        if pattern.search(line):
            yield row, row, note


def _call_spans(masked: str, name: str) -> Iterator[tuple[int, int, str]]:
    """Calls `name(` in masked text, each spanning to its closing parenthesis."""
    if name.startswith("*."):
        regex = rf"\.\s*{re.escape(name[2:])}\s*\("
    else:
        regex = rf"(?<![\w.]){re.escape(name)}\s*\("
    line_starts = [0] + [m.end() for m in re.finditer("\n", masked)]
    for match in re.finditer(regex, masked):
        depth, position = 0, match.end() - 1
        while position < len(masked):
            depth += {"(": 1, ")": -1}.get(masked[position], 0)
            if depth == 0:
                break
            position += 1
        start_line = _line_of(line_starts, match.start())
        yield start_line, _line_of(line_starts, min(position, len(masked) - 1)), f"call to {name}"


def _line_of(line_starts: list[int], offset: int) -> int:
    low, high = 0, len(line_starts) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if line_starts[middle] <= offset:
            low = middle
        else:
            high = middle - 1
    return low + 1
