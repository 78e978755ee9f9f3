"""Text from users, documents and models, shown through Streamlit's markdown exactly as written.

`st.markdown`, captions, alerts and expander labels all render markdown. A document or a space description holding
`![](http://host/x.png)` would make the browser fetch that URL — with a model configured, a channel for a
prompt-injected answer to send data out — and `requests/__init__.py` would lose its underscores to bold. Every
piece of such text goes through `plain` first: each markdown character is escaped, so nothing becomes an image, a
link, emphasis, a heading, math or an icon. Leading spaces become `&nbsp;`, so an indented line (code) keeps its
indentation and never turns into a markdown code block, inside which the escapes would show.
"""

from __future__ import annotations

import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are the ones that can start
# markup in Streamlit's renderer (GFM, math with `$`, `:icon:` shortcodes) or an autolink (`://`, `www.`).
_MARKDOWN_CHARACTERS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:=&\"'^])")
_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)


def plain(text: str) -> str:
    """`text` escaped for markdown, its line breaks and indentation kept."""
    escaped = _MARKDOWN_CHARACTERS.sub(r"\\\1", text)
    indented = _INDENT.sub(lambda found: found.group().replace("\t", "    ").replace(" ", "&nbsp;"), escaped)
    return indented.replace("\n", "  \n")


def highlighted(text: str, span: tuple[int, int] | None) -> str:
    """`text` escaped as `plain` does, with the characters `span` covers (start, end) on a highlight.

    The highlight is Streamlit's `:orange-background[...]` around escaped text, which holds no unescaped `]`; it
    is applied line by line, since it cannot hold a line break.
    """
    if span is None:
        return plain(text)
    start, end = span
    lines = [f":orange-background[{plain(line)}]" if line.strip() else "" for line in text[start:end].split("\n")]
    return plain(text[:start]) + "  \n".join(lines) + plain(text[end:])
