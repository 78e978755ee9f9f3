"""Sync Jobs: turn what changed in a space into a fine-tuning job, watch it live, and switch the space's model."""

import streamlit as st

from lmspace_core.errors import LMSpaceError
from lmspace_ui.components import space_picker
from lmspace_ui.frame import frame
from lmspace_ui.resources import workspace_or_stop
from lmspace_ui.sync_view import job_view, jobs_table, models_panel, plan_panel, sync_manager

frame()

st.title("Sync Jobs")
st.caption("What changed in a space since its last sync becomes a checked fine-tuning dataset and a job on this "
           "machine, Azure OpenAI or Azure ML. A new model is switched to only if it scores better.")
workspace = workspace_or_stop()
space = space_picker(workspace, key="sync_space")
if space is None:
    st.stop()
try:
    manager = sync_manager(workspace)
except LMSpaceError as error:  # e.g. sync state needs the embedded store
    st.error(str(error), icon=":material/error:")
    st.stop()

plan_panel(manager, space)
jobs = manager.jobs(space)
if jobs:
    st.subheader("Jobs")
    job_view(manager, jobs_table(jobs))
st.subheader("Models")
models_panel(manager, space)
