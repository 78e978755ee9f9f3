"""Chat: a conversation with a space's agent; every answer shows its numbered citations and their passages.

A thumbs-up under an answer saves it as an example of the space (`lmspace optimize` learns from the examples).
"""

import streamlit as st

from lmspace_ui.answers import (
    ask,
    clear_conversation,
    compiled_program_notice,
    conversation,
    example_feedback,
    has_language_model,
    no_model_notice,
    render_answer,
    render_exchange,
)
from lmspace_ui.components import reported_errors, space_picker
from lmspace_ui.resources import workspace_or_stop
from lmspace_ui.text import plain

st.title("Chat")
workspace = workspace_or_stop()
space = space_picker(workspace)
if space is None:
    st.stop()
if not has_language_model(workspace):
    no_model_notice()
compiled_program_notice(workspace, space)

answers = conversation(space.id)
st.button("Clear conversation", icon=":material/delete_sweep:", on_click=clear_conversation, args=(space.id,))
for number, earlier in enumerate(answers):
    render_exchange(workspace, space, earlier, number)

if question := st.chat_input(f"Ask {space.name}"):
    with st.chat_message("user"):
        st.markdown(plain(question))
    with st.chat_message("assistant"), reported_errors():
        answer = ask(workspace, space, question, answers)
        render_answer(answer)
        example_feedback(workspace, space, answer, len(answers))
        answers.append(answer)
