"""Spaces: create and list spaces; browse, filter, open and delete a space's documents; edit, rename or delete it."""

from __future__ import annotations

from functools import partial

import streamlit as st

from lmspace_core.domain import Document, Space
from lmspace_core.overview import space_summaries
from lmspace_core.stores.base import BlobPlacement
from lmspace_core.workspace import Workspace
from lmspace_ui import charts
from lmspace_ui.chunk_links import ChunkLink, following, link_to_follow, opened_link
from lmspace_ui.components import ACTIVE_SPACE, reported_errors, space_picker
from lmspace_ui.documents import (
    chunk_viewer,
    document_query,
    documents_table,
    matching_name,
    original_download,
    reset_document_query,
    spaces_table,
    turn_to_chunk,
)
from lmspace_ui.frame import frame
from lmspace_ui.resources import workspace_or_stop
from lmspace_ui.text import plain

frame()

PICKER = "spaces_page_space"  # this page's own picker key, so a new space can be selected before the picker renders
NOTICE = "spaces_page_notice"  # a success message that must outlive the rerun that follows a change


def announce_and_rerun(message: str) -> None:
    """Rerun so every table reflects the change, and say what happened at the top of the next run."""
    st.session_state[NOTICE] = plain(message)
    st.rerun()


def create_space_form(workspace: Workspace) -> None:
    """Create a space and make it the selected one; a taken or invalid name shows the core's message."""
    with st.form("create_space"):
        name = st.text_input(
            "Name", key="new_space_name", placeholder="acme-policies", help="Letters, digits, spaces, '.', '_' or '-'."
        )
        description = st.text_input("Description", key="new_space_description", placeholder="What it is about")
        instructions = st.text_area(
            "Instructions", key="new_space_instructions",
            placeholder="Answer only from the documents; cite policy numbers.",
            help="What the space's agent always follows when it answers.",
        )
        submitted = st.form_submit_button("Create space", type="primary", icon=":material/add:")
    if submitted:
        with reported_errors():
            space = workspace.create_space(name.strip(), description.strip(), instructions.strip())
            st.session_state[ACTIVE_SPACE] = st.session_state[PICKER] = space.name
            announce_and_rerun(f"Created space '{space.name}'. Add documents on the Upload page.")


def documents_tab(workspace: Workspace, space: Space) -> None:
    """The filtered documents table, and the chunks and delete action of the document the user opens."""
    everything = workspace.documents(space)
    if not everything:
        st.info("This space has no documents yet.")
        st.page_link("pages/upload.py", label="Upload documents", icon=":material/upload:")
        return
    query = document_query(everything, key=f"documents_{space.id}")
    shown = matching_name(workspace.documents(space, query.search_filter), query.name)
    st.caption(f"{len(shown)} of {len(everything)} documents")
    documents_table(shown)
    sources = [document.source for document in shown]
    opened = st.selectbox(
        "Open a document", sources, index=None, key=f"open_{space.id}",
        placeholder="Choose a document to see its chunks",
    )
    if opened is not None:
        document = shown[sources.index(opened)]
        confirmed = st.checkbox(
            f"Yes, delete {document.source} and its {document.chunk_count} chunks", key=f"confirm_{document.id}"
        )
        download, remove = st.columns(2)
        with download:
            original_download(partial(workspace.blobs.get, BlobPlacement.of(document)), document)
        if remove.button("Delete document", icon=":material/delete:", disabled=not confirmed,
                         key=f"delete_{document.id}"):
            with reported_errors():
                workspace.delete_document(space, document)
                announce_and_rerun(f"Deleted {document.source} from '{space.name}'.")
        link = opened_link()
        cited = link.ordinal if link is not None and link.document_id == document.id else None
        chunk_viewer(document, workspace.chunks(space, document), cited, following())
    bulk_delete(workspace, space, shown)


def follow(workspace: Workspace, link: ChunkLink) -> None:
    """Open the chunk a citation links to: select its space and document, and turn the chunk viewer to it."""
    space = next((space for space in workspace.list_spaces() if space.id == link.space_id), None)
    document = next((doc for doc in workspace.documents(space) if doc.id == link.document_id), None) if space else None
    if document is None:
        st.warning("The cited passage is no longer in this workspace: its space or document was deleted.",
                   icon=":material/link_off:")
        return
    st.session_state[ACTIVE_SPACE] = st.session_state[PICKER] = space.name
    st.session_state[f"spaces_tabs_{space.id}"] = "Documents"
    reset_document_query(f"documents_{space.id}")
    st.session_state[f"open_{space.id}"] = document.source
    turn_to_chunk(document, min(link.ordinal, max(document.chunk_count - 1, 0)))  # the document may have shrunk
    st.info(f"Opened from a citation: chunk {link.ordinal + 1} of {plain(document.source)}, marked below as the "
            "cited passage.", icon=":material/format_quote:")


def bulk_delete(workspace: Workspace, space: Space, shown: list[Document]) -> None:
    """Delete several of the listed documents at once, after an explicit confirmation."""
    with st.expander("Delete several documents", icon=":material/delete_sweep:"):
        sources = [document.source for document in shown]
        chosen = st.multiselect("Documents to delete", sources, key=f"bulk_{space.id}",
                                placeholder="Choose documents from the list above")
        confirmed = st.checkbox(f"Yes, delete these {len(chosen)} documents and their chunks",
                                key=f"confirm_bulk_{space.id}", disabled=not chosen)
        if st.button(f"Delete {len(chosen)} documents", icon=":material/delete:", disabled=not (chosen and confirmed),
                     key=f"delete_bulk_{space.id}"):
            with reported_errors():
                for source in chosen:
                    workspace.delete_document(space, shown[sources.index(source)])
                announce_and_rerun(f"Deleted {len(chosen)} documents from '{space.name}'.")


def charts_tab(workspace: Workspace, space: Space) -> None:
    """What the space is made of and how it grew."""
    documents = workspace.documents(space)
    if not documents:
        st.info("Charts appear once the space has documents.")
        return
    left, right = st.columns(2)
    left.plotly_chart(charts.documents_by_type(documents))
    if growth := charts.chunks_over_time(documents):
        right.plotly_chart(growth)
    else:
        right.markdown("**Chunks over time**")
        right.caption(f"All {len(documents)} documents were written on one day; the growth of the space is drawn "
                      "once documents are added or replaced on another day.")
    st.plotly_chart(charts.size_by_document(documents))


def settings_tab(workspace: Workspace, space: Space) -> None:
    """Rename the space, edit what its agent is told, or delete it after an explicit confirmation."""
    with st.form(f"edit_{space.id}"):
        name = st.text_input("Name", value=space.name, key=f"name_{space.id}")
        description = st.text_input("Description", value=space.description, key=f"description_{space.id}")
        instructions = st.text_area(
            "Instructions", value=space.instructions, key=f"instructions_{space.id}", height=200,
            help="What the space's agent always follows when it answers.",
        )
        saved = st.form_submit_button("Save changes", icon=":material/save:")
    if saved:
        with reported_errors():
            new_name = name.strip()
            updated = workspace.update_space(
                space, name=new_name if new_name != space.name else None,
                description=description, instructions=instructions,
            )
            st.session_state[ACTIVE_SPACE] = updated.name
            announce_and_rerun(f"Saved the settings of '{updated.name}'.")
    st.subheader("Delete this space")
    confirmed = st.checkbox(
        f"Yes, delete '{space.name}' with all its documents and chunks; this cannot be undone",
        key=f"confirm_delete_space_{space.id}",
    )
    if st.button("Delete space", icon=":material/delete_forever:", disabled=not confirmed, key=f"delete_{space.id}"):
        with reported_errors():
            workspace.delete_space(space)
            announce_and_rerun(f"Deleted space '{space.name}'.")


st.title("Spaces")
workspace = workspace_or_stop()
if notice := st.session_state.pop(NOTICE, None):
    st.success(notice, icon=":material/check_circle:")
had_spaces = bool(workspace.list_spaces())
if not had_spaces:
    st.info("There are no spaces yet. A space holds the documents an agent answers from: create the first one here.")
with st.expander("Create a space", expanded=not had_spaces, icon=":material/add:"):
    create_space_form(workspace)
spaces = workspace.list_spaces()
if not spaces:
    st.stop()
spaces_table(space_summaries(workspace))
if followed := link_to_follow():
    follow(workspace, followed)
chosen = space_picker(workspace, label="Space to inspect", key=PICKER)
if chosen.description:
    st.caption(plain(chosen.description))
# Keyed and tracked, so the rerun after saving the Settings tab shows that tab again, not the first one.
documents, growth, settings = st.tabs(["Documents", "Charts", "Settings"], key=f"spaces_tabs_{chosen.id}",
                                      on_change="rerun")
with documents:
    documents_tab(workspace, chosen)
with growth:
    charts_tab(workspace, chosen)
with settings:
    settings_tab(workspace, chosen)
