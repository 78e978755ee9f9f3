"""Sync Jobs: fine-tuning a model on a space's knowledge, watched live. Not available yet; says what it will do."""

import streamlit as st

st.title("Sync Jobs")
st.info(
    "Syncing spaces to language models is not available yet in this version of LMSpace. No jobs are shown "
    "because none can exist yet.",
    icon=":material/construction:",
)
st.markdown(
    """
When it lands, this page will turn what changed in a space since its last sync (added, replaced and deleted
documents — LMSpace already records every version) into a fine-tuning dataset, start a job on Azure OpenAI,
Azure ML or locally, and let you watch it live: status, events, training metrics and checkpoints. When a job
succeeds you can switch the space's agent to the new model.
"""
)
