"""Tables of spaces and documents, their filters, and the chunk viewer used by the Spaces page.

The `*_frame` and `matching_name` functions are pure (core dataclasses in, pandas or lists out); the rest render.
Sizes stay numbers and dates stay datetimes in the frames so `st.dataframe` sorts them correctly; the column
configuration only changes how they are displayed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

from lmspace_core.domain import Chunk, Document, SearchFilter
from lmspace_core.overview import SpaceSummary
from lmspace_ui.text import plain

if TYPE_CHECKING:
    import pandas as pd

_WHEN = "YYYY-MM-DD HH:mm"


def spaces_frame(summaries: Sequence[SpaceSummary]) -> pd.DataFrame:
    """One row per space with its counts and latest change (the same figures on every page)."""
    rows = [
        {
            "name": summary.space.name,
            "enterprise": summary.space.enterprise_id,
            "documents": summary.documents,
            "chunks": summary.chunks,
            "size": summary.bytes,
            "last update": summary.last_update,
        }
        for summary in summaries
    ]
    columns = ["name", "enterprise", "documents", "chunks", "size", "last update"]
    import pandas as pd  # here, not at the top: Home paints its heading before pandas (1.2 s) has loaded

    return pd.DataFrame(rows, columns=columns)


def spaces_table(summaries: Sequence[SpaceSummary]) -> None:
    """The sortable list of spaces, shown alike on Home and Spaces."""
    st.dataframe(
        spaces_frame(summaries),
        hide_index=True,
        width="stretch",
        column_config={
            "size": st.column_config.NumberColumn("size", format="bytes"),
            "last update": st.column_config.DatetimeColumn("last update", format=_WHEN),
        },
    )


def documents_frame(documents: Sequence[Document]) -> pd.DataFrame:
    """One row per document: what a user needs to recognise it and judge how it was chunked."""
    rows = [
        {
            "source": document.source,
            "type": document.doc_type,
            "size": document.size_bytes,
            "chunks": document.chunk_count,
            "version": document.version,
            "added": document.created_at,
            "updated": document.updated_at,
            "tags": list(document.tags),
            # A knowledge entity's metadata, as `key=value` pairs (a column of dicts does not sort or render well).
            "metadata": ", ".join(f"{key}={json.dumps(value)}" for key, value in sorted(document.metadata.items())),
        }
        for document in documents
    ]
    columns = ["source", "type", "size", "chunks", "version", "added", "updated", "tags", "metadata"]
    import pandas as pd  # here, not at the top: Home paints its heading before pandas (1.2 s) has loaded

    return pd.DataFrame(rows, columns=columns)


def documents_table(documents: Sequence[Document]) -> None:
    """The sortable list of a space's documents."""
    st.dataframe(
        documents_frame(documents),
        hide_index=True,
        column_config={
            "size": st.column_config.NumberColumn("size", format="bytes"),
            "added": st.column_config.DatetimeColumn("added", format=_WHEN),
            "updated": st.column_config.DatetimeColumn("updated", format=_WHEN),
            "tags": st.column_config.ListColumn("tags"),
        },
    )


@dataclass(frozen=True)
class DocumentQuery:
    """What the user asked to see: a metadata filter the store applies, and a name substring applied here."""

    search_filter: SearchFilter
    name: str


def matching_name(documents: Sequence[Document], name: str) -> list[Document]:
    """The documents whose source contains `name`, ignoring case (all of them for an empty name)."""
    wanted = name.strip().casefold()
    return [document for document in documents if wanted in document.source.casefold()]


def document_query(documents: Sequence[Document], key: str) -> DocumentQuery:
    """Type and tag multiselects (options from the whole space) and a name search box.

    `key` prefixes the widget keys, so each space keeps its own filters.
    """
    types = sorted({document.doc_type for document in documents})
    tags = sorted({tag for document in documents for tag in document.tags})
    type_column, tag_column, name_column = st.columns(3)
    chosen_types = type_column.multiselect("Type", types, key=f"{key}_types", placeholder="Any type")
    chosen_tags = tag_column.multiselect(
        "Tags", tags, key=f"{key}_tags", placeholder="Any tags", help="Documents carrying every chosen tag."
    )
    name = name_column.text_input("Name contains", key=f"{key}_name", placeholder="e.g. policy")
    return DocumentQuery(SearchFilter(doc_types=tuple(chosen_types), tags=tuple(chosen_tags)), name)


def reset_document_query(key: str) -> None:
    """Clear the filters `document_query(..., key)` draws (before they render), so that every document is listed."""
    st.session_state[f"{key}_types"] = []
    st.session_state[f"{key}_tags"] = []
    st.session_state[f"{key}_name"] = ""


CHUNKS_PER_PAGE = 10


def matching_chunks(chunks: Sequence[Chunk], text: str) -> list[Chunk]:
    """The chunks whose text contains `text`, ignoring case (all of them for an empty search)."""
    wanted = text.strip().casefold()
    return [chunk for chunk in chunks if wanted in chunk.text.casefold()]


def _search_key(document: Document) -> str:
    return f"chunk_search_{document.id}"


def _page_key(document: Document, text: str) -> str:
    return f"chunk_page_{document.id}_{text}"  # per search: a new search starts on its first page


def turn_to_chunk(document: Document, ordinal: int) -> None:
    """Set the chunk viewer of `document` (before it renders) to show every chunk, on the page holding `ordinal`."""
    st.session_state[_search_key(document)] = ""
    st.session_state[_page_key(document, "")] = ordinal // CHUNKS_PER_PAGE + 1


_CITED_CHUNK = "cited_chunk"  # the key, hence the CSS class `st-key-cited_chunk`, of the marked chunk's box
# Streamlit has no call that scrolls to an element. A script brings the box to the middle of the window and keeps it
# in view for a few seconds while the page above it finishes drawing (tables appear late and push it down), until the
# reader scrolls, clicks or types. Every run that draws the cited chunk draws the script (a run can be cut short by
# the next one before the browser got it), so it scrolls only once for each following of a link, named by `{token}`.
_SCROLL_TO_CITED = """<script>
(() => {
  if (window.lmspaceScrolledFor === "{token}") return;
  window.lmspaceScrolledFor = "{token}";
  let stopped = false;
  for (const event of ["wheel", "touchstart", "keydown", "mousedown"]) {
    window.addEventListener(event, () => { stopped = true; }, {once: true, capture: true});
  }
  (function keep(tries) {
    if (stopped || tries === 0) return;
    const box = document.querySelector(".st-key-{key}");
    if (box) {
      const place = box.getBoundingClientRect();
      if (place.top < 0 || place.top > window.innerHeight / 2) box.scrollIntoView({block: "center"});
    }
    setTimeout(() => keep(tries - 1), 150);
  })(50);
})();
</script>"""


def chunk_viewer(document: Document, chunks: Sequence[Chunk], cited: int | None = None, following: int = 0) -> None:
    """A document's chunks in order, with where each sits in the source, as the agents will cite them; searchable
    and shown a page at a time (a long document made one page thousands of pixels tall). The chunk whose ordinal is
    `cited` (the one a citation link opened) is marked, and the page scrolls to it once per `following` (the
    number of the link's following: later reruns leave the reader where they are)."""
    search, paging = st.columns([3, 1], vertical_alignment="bottom")
    text = search.text_input("Search in the chunks", key=_search_key(document), placeholder="e.g. refund")
    found = matching_chunks(chunks, text)
    pages = max(1, -(-len(found) // CHUNKS_PER_PAGE))
    page = paging.number_input("Page", min_value=1, max_value=pages, step=1, key=_page_key(document, text),
                               disabled=pages == 1)
    first = (page - 1) * CHUNKS_PER_PAGE
    shown = found[first:first + CHUNKS_PER_PAGE]
    which = f"{len(found)} of {len(chunks)} chunks" if text.strip() else f"{len(chunks)} chunks"
    st.caption(f"{which} of {plain(document.source)} (version {document.version})"
               + (f" · page {page} of {pages}" if pages > 1 else ""))
    for chunk in shown:
        with st.container(border=True, key=_CITED_CHUNK if chunk.ordinal == cited else None):
            where = chunk.location.describe() or "whole document"
            if chunk.ordinal == cited:
                st.badge("Cited passage", icon=":material/format_quote:", color="orange")
            st.caption(f"Chunk {chunk.ordinal + 1} · {plain(where)}")
            st.code(chunk.text, language=None, wrap_lines=True)
    if any(chunk.ordinal == cited for chunk in shown):
        script = _SCROLL_TO_CITED.replace("{token}", f"{document.id}:{cited}:{following}")
        st.html(script.replace("{key}", _CITED_CHUNK), unsafe_allow_javascript=True)


def original_download(read: Callable[[], bytes], document: Document) -> None:
    """A button that downloads the file as it was uploaded; it is read from the blob store only when clicked."""
    st.download_button("Download the original", data=read, file_name=document.source.rsplit("/", 1)[-1],
                       icon=":material/download:", key=f"download_{document.id}", mime="application/octet-stream")
