"""Research: pick a space's code or upload a .zip, plan a task, edit the plan, run it as a job, read the findings."""

from functools import partial

import streamlit as st

from lmspace_core.research.plan import ResearchPlan
from lmspace_ui.components import reported_errors, space_picker
from lmspace_ui.frame import frame
from lmspace_ui.job_monitor import job_list
from lmspace_ui.research_view import render_research_result, space_file_lines
from lmspace_ui.resources import workspace_or_stop

frame()

PLAN = "research_plan"  # session_state: the plan JSON the user may edit, and what it was planned for

st.title("Research")
st.caption("Find things in code: exact pattern searches run by code, or questions answered file by file by "
           "isolated subagents. Every finding is re-read from its file before it is shown.")
workspace = workspace_or_stop()

source = st.radio("Codebase", ["Code in a space", "Upload a .zip"], horizontal=True)
space = archive = None
if source == "Code in a space":
    space = space_picker(workspace, key="research_space")
else:
    upload = st.file_uploader("A .zip of the codebase", type=["zip"],
                              max_upload_size=workspace.settings.ingest.max_zip_total_mb)
    archive = (upload.name, upload.getvalue()) if upload is not None else None
target = space.name if space is not None else (archive[0] if archive else None)

task = st.text_input("Task", placeholder="e.g. Find print statements · functions that raise ValueError · "
                                         "where is class Invoice defined")
if st.button("Plan", icon=":material/route:", disabled=not (task and target)):
    from lmspace_core.agents.research.researcher import plan_research

    with reported_errors(), st.spinner("Planning…"):
        plan = plan_research(workspace, task, space, archive)
        st.session_state[PLAN] = {"json": plan.to_json(), "target": target}

planned = st.session_state.get(PLAN)
if planned and planned["target"] == target:
    edited = st.text_area("Plan (JSON) — the next step: check or edit it, then Run", planned["json"], height=260)
    if st.button("Run", type="primary", icon=":material/play_arrow:"):
        from lmspace_core.agents.research.researcher import start_research

        with reported_errors():
            start_research(workspace, ResearchPlan.from_json(edited), space, archive)

jobs = workspace.recent_jobs(space, "research", limit=5)
if jobs:
    st.subheader("Research jobs")
job_list(workspace.job_store, jobs, partial(render_research_result, source_lines=space_file_lines(workspace)))
