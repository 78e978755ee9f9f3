"""Links that open a document's chunks at one passage on the Spaces page: where a citation's link leads.

A link is the Spaces page's URL with `space` (id), `document` (id) and `chunk` (the number the chunk viewer shows)
query parameters, so it also works pasted or bookmarked. The Spaces page follows a link once per session: it selects
the space and the document and turns the chunk viewer to the page holding the chunk, then lets the user browse on.
Rendering a link again (every answer that cites it does) makes it followed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import streamlit as st

SPACES_PAGE = "pages/spaces.py"
_FOLLOWED = "chunk_link_followed"  # session_state: the link the Spaces page last followed
_FOLLOWS = "chunk_link_follows"  # session_state: how many links it has followed, which numbers each following


@dataclass(frozen=True)
class ChunkLink:
    """A chunk of a document of a space, by ids and the chunk's ordinal (its position in the document)."""

    space_id: str
    document_id: str
    ordinal: int

    def query_params(self) -> dict[str, str]:
        return {"space": self.space_id, "document": self.document_id, "chunk": str(self.ordinal + 1)}

    @classmethod
    def from_query_params(cls, params: Mapping[str, str]) -> ChunkLink | None:
        """The link a URL's query parameters hold; None when they hold none (or a chunk that is not a number)."""
        try:
            chunk = int(params["chunk"])
            return cls(params["space"], params["document"], chunk - 1) if chunk >= 1 else None
        except (KeyError, ValueError):
            return None


def chunk_link(link: ChunkLink, label: str) -> None:
    """A link to the Spaces page that opens `link`'s chunk."""
    st.session_state.pop(_FOLLOWED, None)
    st.page_link(SPACES_PAGE, label=label, icon=":material/open_in_new:", query_params=link.query_params())


def opened_link() -> ChunkLink | None:
    """The link in the current page's URL, if any."""
    return ChunkLink.from_query_params(st.query_params)


def link_to_follow() -> ChunkLink | None:
    """The link in the URL the first time the page runs with it since it was rendered; None afterwards."""
    link = opened_link()
    if link is None or st.session_state.get(_FOLLOWED) == link:
        return None
    st.session_state[_FOLLOWED] = link
    st.session_state[_FOLLOWS] = following() + 1
    return link


def following() -> int:
    """The number of the latest time a link was followed in this session (0 before any): what the page scrolls
    for once, however many reruns draw the followed chunk."""
    return st.session_state.get(_FOLLOWS, 0)
