"""The Chat page's past conversations: pick one, start a new one, delete one; the open one survives a reload.

Which conversation is open is per browser session (a widget key per space); a fresh session opens the space's most
recently continued conversation, so reloading the page shows what was on it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import streamlit as st

from lmspace_core.conversations import Conversation, ConversationStore
from lmspace_core.domain import Space
from lmspace_core.stores.local.database import Database
from lmspace_core.workspace import Workspace
from lmspace_ui.components import reported_errors
from lmspace_ui.text import plain

NEW = ""  # the picker's value for a conversation not started yet


@st.cache_resource(show_spinner=False, hash_funcs={Workspace: id})
def conversation_store(workspace: Workspace) -> ConversationStore:
    """The workspace's conversations, in the SQLite database of its data directory (opened once)."""
    return ConversationStore(Database(workspace.settings.data_dir / "lmspace.db"))


def _open_key(space: Space) -> str:
    return f"chat_conversation_{space.id}"


def open_conversation(store: ConversationStore, space: Space, question: str | None) -> str:
    """The id of the conversation on screen ("" for a new one), after starting one for `question` if needed."""
    key = _open_key(space)
    if key not in st.session_state:
        latest = store.list(space.scope)
        st.session_state[key] = latest[0].id if latest else NEW
    if question and st.session_state[key] == NEW:
        st.session_state[key] = store.start(space.scope, question).id
    return st.session_state[key]


def conversation_picker(store: ConversationStore, space: Space) -> None:
    """A select box over the space's conversations, with New and Delete buttons beside it.

    The open conversation is kept under its own key, not the select box's: New, Delete and a first question change
    it after the box exists. The box's key names the conversation it opened on, so each change draws a fresh box.
    """
    conversations = {conversation.id: conversation for conversation in store.list(space.scope)}
    key = _open_key(space)
    if st.session_state.get(key) not in conversations:
        st.session_state[key] = NEW  # deleted in another tab
    options = [NEW, *conversations]
    labels = {NEW: "New conversation", **conversation_labels(conversations.values())}
    box = f"{key}_picker_{st.session_state[key]}"
    choice, new, delete = st.columns([6, 1, 1], vertical_alignment="bottom")
    choice.selectbox("Conversation", options, index=options.index(st.session_state[key]), key=box,
                     format_func=labels.__getitem__, on_change=_pick, args=(key, box))
    new.button("New", icon=":material/add_comment:", on_click=_pick, args=(key, None), width="stretch",
               help="Start a new conversation; this one stays in the list")
    # Deleting asks first, as every delete on Spaces does: the popover holds the one button that deletes.
    with delete.popover("Delete", icon=":material/delete:", width="stretch", disabled=st.session_state[key] == NEW,
                        help="Delete this conversation"):
        st.markdown(f"Delete the conversation {plain(labels[st.session_state[key]])} and its answers? "
                    "This cannot be undone.")
        st.button("Yes, delete it", type="primary", on_click=_delete, args=(store, key),
                  key=f"{key}_delete_{st.session_state[key]}")


def conversation_labels(conversations: Iterable[Conversation]) -> dict[str, str]:
    """Each conversation's name in the picker, by id: its title and when it started, numbered when two read alike.

    Streamlit's select box remembers the chosen option by its label, so a label must never change while its
    conversation is open: with the time it was last continued in it, each answer renamed the open option, the box
    then took its own old label for the choice, and the next question failed. Distinct, so no choice is ambiguous.
    """
    labels: dict[str, str] = {}
    seen: Counter[str] = Counter()
    for conversation in sorted(conversations, key=lambda conversation: (conversation.created_at, conversation.id)):
        label = f"{conversation.title} · {conversation.created_at.astimezone():%Y-%m-%d %H:%M}"
        seen[label] += 1
        labels[conversation.id] = label if seen[label] == 1 else f"{label} ({seen[label]})"
    return labels


def _pick(key: str, box: str | None) -> None:
    """Open the conversation chosen in the select box `box`, or a new one when None."""
    st.session_state[key] = st.session_state[box] if box else NEW


def _delete(store: ConversationStore, key: str) -> None:
    with reported_errors():
        store.delete(st.session_state[key])
    st.session_state[key] = NEW
