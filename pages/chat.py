"""Chat: conversations with a space's agent, kept per space; every answer shows its numbered citations.

A thumbs-up under an answer saves it as an example of the space (`lmspace optimize` learns from the examples).
"""

import streamlit as st

from lmspace_ui.answers import (
    ask,
    compiled_program_notice,
    example_feedback,
    has_language_model,
    no_model_notice,
    render_answer,
    render_exchange,
)
from lmspace_ui.chat_history import conversation_picker, conversation_store, open_conversation
from lmspace_ui.components import reported_errors, space_picker
from lmspace_ui.frame import frame
from lmspace_ui.resources import workspace_or_stop
from lmspace_ui.text import plain

frame()

st.title("Chat")
workspace = workspace_or_stop()
space = space_picker(workspace)
if space is None:
    st.stop()
if not has_language_model(workspace, space):
    no_model_notice()
compiled_program_notice(workspace, space)

empty = workspace.space_stats(space).documents == 0
question = None if empty else st.chat_input(f"Ask {space.name}")
store = conversation_store(workspace)
current = open_conversation(store, space, question)
conversation_picker(store, space)
answers = store.answers(current) if current else []
for number, earlier in enumerate(answers):
    render_exchange(workspace, space, earlier, f"{current}_{number}")

if empty:
    st.info(f"The space {plain(space.name)} has no documents yet: upload some, then ask.", icon=":material/info:")
    st.page_link("pages/upload.py", label="Upload documents", icon=":material/upload:")
elif question:
    with st.chat_message("user"):
        st.markdown(plain(question))
    with st.chat_message("assistant"), reported_errors():
        answer = ask(workspace, space, question, answers)
        render_answer(answer)
        store.add_answer(current, answer)
        example_feedback(workspace, space, answer, f"{current}_{len(answers)}")
    if not answers and not store.answers(current):
        store.delete(current)  # the first question failed: no empty conversation stays in the list
