"""Where the comments and string literals of a non-Python source file are, so code searches can skip them.

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
_HASH_COMMENT_LANGUAGES = {"shell", "ruby", "yaml", "toml", "perl", "r", "ini"}


def _grammar(language: str | None, path: str) -> str | None:
    if language == "typescript" and path.lower().endswith(".tsx"):
        return "tsx"
    return _GRAMMARS.get(language or "")


@lru_cache(maxsize=None)
def _literal_rule(grammar: str) -> dict:
    """An ast-grep rule matching the literal kinds this grammar has (ast-grep refuses kinds a grammar lacks)."""
    root = SgRoot("", grammar).root()
    known = []
    for kind in _LITERAL_KINDS:
        try:
            root.find(kind=kind)
        except RuntimeError:
            continue
        known.append({"kind": kind})
    return {"any": known}


def literal_spans(text: str, language: str | None, path: str = "") -> list[tuple[str, int, int]]:
    """("comment" | "string", start, stop) character offsets of every comment and string literal in `text`."""
    grammar = _grammar(language, path)
    if grammar is None:
        return list(_lexed_spans(text, language))
    spans = []
    for node in SgRoot(text, grammar).root().find_all(**_literal_rule(grammar)):
        where = node.range()
        spans.append(("comment" if "comment" in node.kind() else "string", where.start.index, where.end.index))
    return spans


def mask_strings_and_comments(text: str, language: str | None, path: str = "", *, keep_strings: bool = False) -> str:
    """Replace string literals (unless `keep_strings`) and comments by spaces, keeping newlines so lines and columns
    stay right."""
    out = list(text)
    for kind, start, stop in literal_spans(text, language, path):
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
