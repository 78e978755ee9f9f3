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
st.subheader("Jobs")
every_space = st.toggle("All spaces", key="sync_all_spaces", help="The jobs of every space, with a Space column.")
jobs = manager.jobs(None if every_space else space)
if jobs:
    names = {s.id: s.name for s in workspace.list_spaces()} if every_space else None
    job_view(manager, jobs_table(jobs, names))
st.subheader("Models")
models_panel(manager, space)
