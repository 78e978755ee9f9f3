"""Small pieces every page uses: reporting core errors, picking the active space."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from lmspace_core.domain import Space
from lmspace_core.errors import LMSpaceError
from lmspace_core.workspace import Workspace
from lmspace_ui.text import plain

ACTIVE_SPACE = "active_space"  # session_state key: the space name selected on any page, shared by all pages


@contextmanager
def reported_errors() -> Iterator[None]:
    """Show an LMSpace error as an error box with its message (never a traceback) and go on rendering."""
    try:
        yield
    except LMSpaceError as error:
        st.error(plain(str(error)), icon=":material/error:")


def space_picker(workspace: Workspace, label: str = "Space", key: str = "space_picker") -> Space | None:
    """A select box over the enterprise's spaces that remembers the choice across pages; None when there are none."""
    spaces = workspace.list_spaces()
    if not spaces:
        st.info("There are no spaces yet. Create one on the Spaces page or upload files on the Upload page.")
        st.page_link("pages/spaces.py", label="Create a space", icon=":material/add:")
        return None
    names = [space.name for space in spaces]
    if st.session_state.get(key) not in names:
        # The choice made on another page, set through Session State only: a widget given both a default and a
        # Session State value warns about it (pages set `key` to select a space they just created or renamed).
        remembered = st.session_state.get(ACTIVE_SPACE)
        st.session_state[key] = remembered if remembered in names else names[0]
    chosen = st.selectbox(label, names, key=key)
    st.session_state[ACTIVE_SPACE] = chosen
    return spaces[names.index(chosen)]


def offline_notice(notice: str) -> None:
    """An answer's or a research result's "offline: answered from the local cache of …", as a sentence; nothing
    when Azure answered (the notice is empty)."""
    if notice:
        st.caption(f":material/cloud_off: {notice[0].upper()}{notice[1:]}")


def offline_banner() -> None:
    """Say on every page when writes are waiting for Azure (it could not be reached when they were made), and when
    some of them could never be sent and were set aside."""
    from lmspace_ui.resources import get_workspace

    try:
        workspace = get_workspace()
    except LMSpaceError:
        return  # the page shows the configuration error itself
    outbox = getattr(workspace.store, "outbox", None)
    if outbox is None:
        return
    waiting, set_aside = len(outbox.file.pending()), len(outbox.file.set_aside_writes())
    if waiting:
        st.warning(f"Offline — {waiting} change{'s' if waiting != 1 else ''} waiting for Azure. They are sent with "
                   "the next write once Azure answers, or now with `lmspace outbox replay`.")
    if set_aside:
        several = set_aside != 1
        st.warning(f"{set_aside} change{'s' if several else ''} made while Azure was unreachable could not be sent "
                   f"and {'were' if several else 'was'} set aside: `lmspace outbox status` says why and what to do.")
