"""Home: what LMSpace is, the active backend and model, counts per space, and the next step for a new user.

A new user can also create a sample space in one click from the policies shipped with LMSpace; its ingest runs as a
background job, shown here with the job monitor until it has finished.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from lmspace_core.config import Settings
from lmspace_core.domain import Space, SpaceStats
from lmspace_core.lm import describe_lm
from lmspace_core.samples import SAMPLE_DESCRIPTION, SAMPLE_INSTRUCTIONS, SAMPLE_SPACE, sample_documents
from lmspace_core.workspace import Workspace
from lmspace_ui.components import ACTIVE_SPACE, reported_errors
from lmspace_ui.job_monitor import job_monitor
from lmspace_ui.resources import workspace_or_stop

SAMPLE_JOB = "home_sample_job"  # session_state: the id of the sample ingest started from this session

INTRO = (
    "LMSpace keeps an organisation's knowledge (documents, pasted rules and whole codebases) in **spaces** and "
    "answers questions over a space with citations to the passages it used. It also researches codebases with "
    "isolated subagents and verified findings; syncing a space to a fine-tuned model is coming. Everything here "
    "is also available from the `lmspace` command and the Python API."
)


def describe_backend(settings: Settings) -> str:
    """Where the knowledge is kept, in one line."""
    if settings.store.backend == "embedded":
        return f"embedded: SQLite and files in `{settings.data_dir}`"
    azure = settings.store.azure
    return f"Azure: Cosmos DB at `{azure.cosmos_endpoint if azure else '?'}` with Blob storage"


def human_size(size: int) -> str:
    """Bytes as a person reads them (12.3 MB), for the counts table."""
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def counts_table(spaces: list[Space], stats: dict[str, SpaceStats]) -> None:
    """One row per space: documents, chunks, size of the raw content and when it last changed."""
    rows = [
        {
            "Space": space.name,
            "Documents": stats[space.id].documents,
            "Chunks": stats[space.id].chunks,
            "Size": human_size(stats[space.id].bytes),
            "Last update": _local_time(stats[space.id].last_update),
        }
        for space in spaces
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _local_time(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "never"


def next_step(spaces: list[Space], stats: dict[str, SpaceStats]) -> None:
    """Point a new user at the one thing to do next: create a space, fill it, or ask it something."""
    st.subheader("Next step")
    if not spaces:
        st.info("Create a space and upload documents into it, or try the sample space below.")
        st.page_link("views/spaces.py", label="Create a space", icon=":material/add:")
        st.page_link("views/upload.py", label="Upload documents", icon=":material/upload:")
    elif not any(stats[space.id].documents for space in spaces):
        st.info("Your spaces are empty: upload documents, a zipped codebase or pasted text.")
        st.page_link("views/upload.py", label="Upload documents", icon=":material/upload:")
    else:
        st.info("Ask a question over a space; answers cite the passages they come from.")
        st.page_link("views/chat.py", label="Open Chat", icon=":material/chat:")


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
    st.page_link("views/chat.py", label=f"Ask the {SAMPLE_SPACE} space", icon=":material/chat:")


st.title("LMSpace")
st.markdown(INTRO)
workspace = workspace_or_stop()
settings = workspace.settings
st.markdown(f"**Storage**: {describe_backend(settings)}  \n**Language model**: {describe_lm(settings.lm)}")
with reported_errors():
    spaces = workspace.list_spaces()
    stats = {space.id: workspace.space_stats(space) for space in spaces}
    if spaces:
        st.subheader("Spaces")
        counts_table(spaces, stats)
    next_step(spaces, stats)
    sample_section(workspace, spaces)
