"""Text from users, documents and models, shown through Streamlit's markdown exactly as written.

`st.markdown`, captions, alerts and expander labels all render markdown. A document or a space description holding
`![](http://host/x.png)` would make the browser fetch that URL — with a model configured, a channel for a
prompt-injected answer to send data out — and `requests/__init__.py` would lose its underscores to bold. Every
piece of such text goes through `plain` first: each markdown character is escaped, so nothing becomes an image, a
link, emphasis, a heading, math or an icon.
"""

from __future__ import annotations

import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are the ones that can start
# markup in Streamlit's renderer (GFM, math with `$`, `:icon:` shortcodes) or an autolink (`://`, `www.`).
_MARKDOWN_CHARACTERS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:=&\"'^])")


def plain(text: str) -> str:
    """`text` escaped for markdown, its line breaks kept."""
    return _MARKDOWN_CHARACTERS.sub(r"\\\1", text).replace("\n", "  \n")
