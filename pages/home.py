"""Home: what LMSpace is, the active backend and model, counts per space, and the next step for a new user.

A new user can also create a sample space in one click from the policies shipped with LMSpace; its ingest runs as a
background job, shown here with the job monitor until it has finished.
"""

from __future__ import annotations

import streamlit as st

from lmspace_core.config import Settings
from lmspace_core.domain import Space
from lmspace_core.lm import describe_lm
from lmspace_core.overview import SpaceSummary, space_summaries
from lmspace_core.samples import SAMPLE_DESCRIPTION, SAMPLE_INSTRUCTIONS, SAMPLE_SPACE, sample_documents
from lmspace_core.workspace import Workspace
from lmspace_ui.components import ACTIVE_SPACE, reported_errors
from lmspace_ui.documents import spaces_table
from lmspace_ui.frame import frame
from lmspace_ui.job_monitor import job_monitor
from lmspace_ui.resources import workspace_or_stop

frame()

SAMPLE_JOB = "home_sample_job"  # session_state: the id of the sample ingest started from this session

INTRO = (
    "LMSpace keeps an organisation's knowledge (documents, pasted rules and whole codebases) in **spaces** and "
    "answers questions over a space with citations to the passages it used. It also researches codebases with "
    "isolated subagents and verified findings, and syncs what a space holds into its models (Sync Jobs: a "
    "fine-tuned embedder on this machine, an Azure OpenAI or Azure ML fine-tune, or optimised prompts). Everything "
    "here is also available from the `lmspace` command and the Python API."
)


def describe_backend(settings: Settings) -> str:
    """Where the knowledge is kept, in one line."""
    if settings.store.backend == "embedded":
        return f"embedded: SQLite and files in `{settings.data_dir}`"
    azure = settings.store.azure
    return f"Azure: Cosmos DB at `{azure.cosmos_endpoint if azure else '?'}` with Blob storage"


def next_step(summaries: list[SpaceSummary]) -> None:
    """Point a new user at the one thing to do next: create a space, fill it, or ask it something."""
    st.subheader("Next step")
    if not summaries:
        st.info("Create a space and upload documents into it, or try the sample space below.")
        st.page_link("pages/spaces.py", label="Create a space", icon=":material/add:")
        st.page_link("pages/upload.py", label="Upload documents", icon=":material/upload:")
    elif not any(summary.documents for summary in summaries):
        st.info("Your spaces are empty: upload documents, a zipped codebase or pasted text.")
        st.page_link("pages/upload.py", label="Upload documents", icon=":material/upload:")
    else:
        st.info("Ask a question over a space; answers cite the passages they come from.")
        st.page_link("pages/chat.py", label="Open Chat", icon=":material/chat:")


def create_sample_space(workspace: Workspace) -> None:
    """Create the sample space and start ingesting the shipped documents into it, then redraw the page."""
    space = workspace.create_space(SAMPLE_SPACE, SAMPLE_DESCRIPTION, SAMPLE_INSTRUCTIONS)
    with st.spinner("Starting the ingest…"):
        job = workspace.start_ingest(space, uploads=sample_documents())
    st.session_state[SAMPLE_JOB] = job.id
    st.session_state[ACTIVE_SPACE] = space.name
    st.rerun()


def sample_section(workspace: Workspace, spaces: list[Space]) -> None:
    """A button that creates the sample space; once it exists, its ingest while it runs and a link to Chat."""
    st.subheader("Sample space")
    sample = next((space for space in spaces if space.name == SAMPLE_SPACE), None)
    if sample is None:
        st.write(f"{len(sample_documents())} short, fictional Acme Corp policies to try questions and citations on.")
        if st.button("Create the sample space", icon=":material/auto_awesome:"):
            with reported_errors():
                create_sample_space(workspace)
        return
    st.write(f"The sample space **{SAMPLE_SPACE}** exists: {SAMPLE_DESCRIPTION}")
    latest = workspace.recent_jobs(sample, "ingest", limit=1)
    if latest and (not latest[0].status.finished or latest[0].id == st.session_state.get(SAMPLE_JOB)):
        job_monitor(workspace.job_store, latest[0])
    st.page_link("pages/chat.py", label=f"Ask the {SAMPLE_SPACE} space", icon=":material/chat:")


st.title("LMSpace")
st.markdown(INTRO)
workspace = workspace_or_stop()
settings = workspace.settings
st.markdown(f"**Storage**: {describe_backend(settings)}  \n**Language model**: {describe_lm(settings.lm)}")
with reported_errors():
    summaries = space_summaries(workspace)
    if summaries:
        st.subheader("Spaces")
        spaces_table(summaries)
    next_step(summaries)
    sample_section(workspace, [summary.space for summary in summaries])
