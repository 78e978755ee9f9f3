"""Answers in the dashboard: a conversation per space, streamed answers, and numbered citations to expand.

An answer is shown the way it was produced: generated text as written, extracted passages under a visible label
(nobody should take them for a model's words), "not found in this space" as a warning. Every citation expands to
the whole passage it comes from, the quote highlighted, and links to that passage among its document's chunks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import streamlit as st

from lmspace_core.agents.citations import quote_span
from lmspace_core.agents.extractive import EXTRACTED_LABEL
from lmspace_core.agents.programs import KNOWLEDGE, program_path
from lmspace_core.domain import Answer, AnswerMode, Citation, Space, Turn
from lmspace_core.workspace import Workspace
from lmspace_ui.chunk_links import ChunkLink, chunk_link
from lmspace_ui.components import offline_notice, reported_errors
from lmspace_ui.resources import knowledge_agent
from lmspace_ui.text import highlighted, plain


def has_language_model(workspace: Workspace, space: Space) -> bool:
    """Whether answers in `space` are generated; the settings say so without importing DSPy.

    With `lm.provider: none` the workspace may still hold a model the application set (`use_lm`), which is cheap
    to ask about because no model is built for provider none, or the space may answer with the Azure ML deployment
    a sync made its active model.
    """
    return workspace.settings.lm.provider != "none" or workspace.language_model(space) is not None


def no_model_notice() -> None:
    """Tell the user that answers are quoted passages, and where a model is configured."""
    st.info(
        "No language model is configured: answers are the passages of the space that best match your question, "
        "quoted and cited, not written text.",
        icon=":material/format_quote:",
    )
    st.page_link("pages/settings.py", label="Configure a language model in Settings", icon=":material/settings:")


def compiled_program_notice(workspace: Workspace, space: Space) -> None:
    """Say so when the space answers with prompts `lmspace optimize` compiled on its examples, and the way back."""
    if has_language_model(workspace, space) and program_path(workspace.settings.data_dir, space, KNOWLEDGE).is_file():
        st.caption(f":material/tune: Answers use prompts optimised on this space's examples "
                   f"(`lmspace optimize {plain(space.name)} --reset` goes back).")


def turns(answers: Sequence[Answer]) -> list[Turn]:
    """The conversation as the agent reads it."""
    return [Turn(answer.question, answer.text) for answer in answers]


def render_exchange(workspace: Workspace, space: Space, answer: Answer, key: str) -> None:
    """A past question and its answer as chat messages; `key` names the answer's widgets (conversation, position)."""
    with st.chat_message("user"):
        st.markdown(plain(answer.question))
    with st.chat_message("assistant"):
        render_answer(answer)
        example_feedback(workspace, space, answer, key)


def example_feedback(workspace: Workspace, space: Space, answer: Answer, key: str) -> None:
    """Thumbs under a model's answer: up saves the question and answer as an example of the space, which
    `lmspace optimize` learns from; down or a second click takes it back. Extracted and not-found answers get none:
    they are not what a model should learn to write."""
    if answer.mode is not AnswerMode.GENERATED:
        return
    widget = f"example_feedback_{key}"
    st.feedback("thumbs", key=widget, on_change=_record_feedback, args=(workspace, space, answer, widget))


def _record_feedback(workspace: Workspace, space: Space, answer: Answer, key: str) -> None:
    from lmspace_core.examples import open_examples

    with reported_errors(), open_examples(workspace.settings) as store:
        if st.session_state.get(key) == 1:
            store.accept(space.scope, answer)
            st.toast(f"Saved as an example of {plain(space.name)}", icon=":material/thumb_up:")
        elif store.withdraw(space.scope, answer):
            st.toast(f"Removed from the examples of {plain(space.name)}", icon=":material/undo:")


def render_answer(answer: Answer) -> None:
    """The answer's text as its mode demands, then its citations."""
    if answer.mode is AnswerMode.NOT_FOUND:
        st.warning(plain(answer.text), icon=":material/search_off:")
    elif answer.mode is AnswerMode.EXTRACTED:
        st.caption(":material/format_quote: **Extracted passages** — no language model wrote this answer")
        st.markdown(plain(answer.text.removeprefix(EXTRACTED_LABEL).strip()))  # one quoted sentence per line
    else:
        st.markdown(plain(answer.text))
    offline_notice(answer.offline_notice)
    render_citations(answer.citations, answer.space_id)


def render_citations(citations: Sequence[Citation], space_id: str) -> None:
    """One expander per citation, numbered by relevance: the whole passage with what the answer quotes from it
    highlighted, where it sits, how well it matched, and a link that opens it among its document's chunks."""
    for citation in citations:
        where = citation.location.describe()
        with st.expander(f"\\[{citation.number}\\] " + plain(citation.source + (f" — {where}" if where else ""))):
            if citation.passage and citation.quote != citation.passage:
                st.markdown(highlighted(citation.passage, quote_span(citation.passage, citation.quote)))
            else:  # the whole passage is cited (or the citation was stored before it carried its passage)
                st.markdown(plain(citation.passage or citation.quote))
            place = f"{citation.source}, {where}" if where else citation.source
            st.caption(f"{plain(place)} · similarity {citation.score:.2f}")
            if citation.ordinal is not None:
                chunk_link(ChunkLink(space_id, citation.document_id, citation.ordinal),
                           f"Open chunk {citation.ordinal + 1} of {plain(citation.source)}")


def ask(workspace: Workspace, space: Space, question: str, earlier: Sequence[Answer]) -> Answer:
    """Ask the space's agent, showing the answer text as the model streams it; return the checked answer.

    The wait for the first piece covers building the agent (DSPy import), retrieval (the embedding model loads on
    the first question) and the model's first token, so it sits under a spinner. The streamed text is provisional
    (the checked answer may be a retry's or "not found"), so it is removed once the answer is known.
    """
    with st.spinner(f"Searching {space.name}… (the first question loads the embedding model)"):
        stream = knowledge_agent(workspace).stream_query(question, space, history=turns(earlier))
        first = next(stream)
    if isinstance(first, Answer):
        return first
    checked: list[Answer] = []
    provisional = st.empty()
    try:
        with provisional.container():
            st.write_stream(_text_pieces(first, stream, checked))
    finally:
        provisional.empty()
    return checked[0]


def _text_pieces(first: str, stream: Iterator[str | Answer], checked: list[Answer]) -> Iterator[str]:
    """The streamed text pieces; the final `Answer` is put into `checked` instead of being shown."""
    yield plain(first)
    for item in stream:
        if isinstance(item, Answer):
            checked.append(item)
            return
        yield plain(item)
