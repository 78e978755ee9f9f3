"""Upload: add files, a zipped codebase or pasted text to a space as one background ingest job, and follow it.

The ingest runs in the workspace's job runner, not in this script, so leaving the page does not stop it; the page
lists the space's recent ingest jobs from the job store, running ones live and finished ones with their report.
"""

from __future__ import annotations

import streamlit as st

from lmspace_core.domain import Job, Space
from lmspace_core.workspace import Workspace
from lmspace_ui.components import ACTIVE_SPACE, reported_errors, space_picker
from lmspace_ui.frame import frame
from lmspace_ui.job_monitor import job_list
from lmspace_ui.resources import workspace_or_stop
from lmspace_ui.text import plain

frame()

RECENT_JOBS = 10
NEW_SPACE_TOGGLE = "upload_new_space"
CREATED_SPACE = "upload_created_space"  # set by an Ingest that created its space: select it on the next run
FORM_ROUND = "upload_form_round"  # bumped by a started ingest: the next run draws a new, empty form
STARTED = "upload_started"  # the title of the job the last Ingest started, said once on the next run


def select_created_space() -> None:
    """After an Ingest that created a space, select that space and go back to picking (before the widgets exist)."""
    created = st.session_state.pop(CREATED_SPACE, None)
    if created:
        st.session_state[ACTIVE_SPACE] = created
        st.session_state[NEW_SPACE_TOGGLE] = False


def choose_target(workspace: Workspace) -> Space | str | None:
    """An existing space, or the name of a space to create with the ingest; None while there is neither."""
    if workspace.list_spaces() and not st.toggle("Create a new space", key=NEW_SPACE_TOGGLE):
        return space_picker(workspace, key="upload_space")
    name = st.text_input("Name of the new space", placeholder="e.g. hr-policies", key="upload_space_name")
    return name.strip() or None


def known_tags(workspace: Workspace, target: Space | str | None) -> list[str]:
    """Tags already used in the space, offered first so the same tag is not spelled two ways."""
    if not isinstance(target, Space):
        return []
    return sorted({tag for document in workspace.documents(target) for tag in document.tags})


def start_job(
    workspace: Workspace,
    target: Space | str,
    uploads: list[tuple[str, bytes]],
    text: tuple[str, str] | None,
    tags: list[str],
) -> Job:
    """Create the space when it is new, then start the one ingest job for everything submitted."""
    space = target if isinstance(target, Space) else workspace.create_space(target)
    with st.spinner("Starting the ingest…"):
        return workspace.start_ingest(space, uploads=uploads, text=text, tags=tags)


def upload_form(workspace: Workspace, target: Space | str | None) -> None:
    """Files, tags and pasted text, submitted together as one ingest job.

    A submit that is refused (a space name taken, a title without its text) keeps what was entered, to correct; only
    a started ingest empties the form (a form of a new round: its widgets start blank).
    """
    form_round = st.session_state.get(FORM_ROUND, 0)
    with st.form(f"upload_{form_round}", border=True):
        limit = workspace.settings.ingest.max_file_mb  # the box says the limit the ingest enforces
        files = st.file_uploader(
            "Files or a .zip of a codebase",
            accept_multiple_files=True,
            max_upload_size=limit,
            help="PDF, Word, Markdown, HTML, text and source files (also README-style names and .gz-compressed "
                 f"files, as in /usr/share/doc); a .zip is read as a codebase. Up to {limit} MB per "
                 "file (`ingest.max_file_mb`); `lmspace ingest` takes a larger .zip.",
        )
        tags = st.multiselect(
            "Tags", known_tags(workspace, target), accept_new_options=True, placeholder="Type a tag, press Enter"
        )
        title = st.text_input("Title of the pasted text", placeholder="e.g. Expense rules 2025")
        body = st.text_area("Pasted text", height=160)
        submitted = st.form_submit_button("Ingest", type="primary", icon=":material/upload:")
    if started := st.session_state.pop(STARTED, None):
        st.success(f"Started: {plain(started)}", icon=":material/hourglass_top:")
    if not submitted:
        return
    uploads = [(file.name, file.getvalue()) for file in files or []]
    if target is None:
        st.warning("Pick a space, or name the new space to create.")
    elif bool(title.strip()) != bool(body.strip()):
        st.warning("Pasted text needs both a title and the text.")
    elif not uploads and not body.strip():
        st.warning("Add files or paste some text to ingest.")
    else:
        with reported_errors():
            job = start_job(workspace, target, uploads, (title.strip(), body) if body.strip() else None, tags)
            if not isinstance(target, Space):
                st.session_state[CREATED_SPACE] = target
            st.session_state[FORM_ROUND] = form_round + 1
            st.session_state[STARTED] = job.title
            st.rerun()


def ingest_jobs(workspace: Workspace, space: Space) -> None:
    """The space's latest ingest jobs, newest first; older finished ones folded away so the newest stays in view."""
    jobs = workspace.recent_jobs(space, "ingest", RECENT_JOBS)
    st.subheader("Ingest jobs")
    if not jobs:
        st.caption(f"No ingest jobs in {plain(space.name)} yet.")
    job_list(workspace.job_store, jobs, cancel=workspace.jobs.cancel)


st.title("Upload")
st.caption("Add documents, a zipped codebase or pasted text to a space. Ingesting goes on if you leave this page.")
workspace = workspace_or_stop()
select_created_space()
target = choose_target(workspace)
upload_form(workspace, target)
if isinstance(target, Space):
    with reported_errors():
        ingest_jobs(workspace, target)
