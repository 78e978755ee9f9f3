"""The job monitor shows the status the job store holds now, and a partial ingest as such, with its report."""

from __future__ import annotations

import os
import socket

from streamlit.testing.v1 import AppTest

from lmspace_core.domain import FileOutcome, IngestReport, JobStatus, Outcome, Progress, to_json_data
from lmspace_ui.text import plain
from tests.conftest import read

THIS_PROCESS = f"{socket.gethostname()}:{os.getpid()}"  # a live owner: the runner leaves its jobs running


def monitor_the_job_as_first_read() -> None:
    """A page that read its job while it was queued and draws it after the job has started (or finished)."""
    import dataclasses

    from lmspace_core.domain import JobStatus
    from lmspace_ui.job_monitor import job_monitor
    from lmspace_ui.resources import get_workspace

    workspace = get_workspace()
    [job] = workspace.job_store.list_jobs(workspace.enterprise_id, kind="ingest")
    job_monitor(workspace.job_store, job if job.status.finished else dataclasses.replace(job, status=JobStatus.QUEUED))


def test_a_job_that_has_reported_progress_is_shown_running_not_queued(app_workspace):
    space = app_workspace.create_space("handbook")
    job = app_workspace.job_store.create_job(space.scope, "ingest", "Ingest a.md", THIS_PROCESS)
    app_workspace.job_store.record_progress(job.enterprise_id, job.id, Progress("ingest", 0, 1, item="a.md"))
    at = AppTest.from_function(monitor_the_job_as_first_read, default_timeout=30).run()
    assert not at.exception
    [caption] = [caption.value for caption in at.caption if caption.value.startswith("ingest ·")]
    assert caption.startswith("ingest · running ·")


def test_a_partial_ingest_is_labelled_partial_with_its_failures_and_report(app_workspace):
    space = app_workspace.create_space("handbook")
    job = app_workspace.job_store.create_job(space.scope, "ingest", "Ingest a.md, b.pdf", THIS_PROCESS)
    report = IngestReport(space.id, (FileOutcome("a.md", Outcome.ADDED, chunks=1),
                                     FileOutcome("b.pdf", Outcome.FAILED, reason="is encrypted")))
    app_workspace.job_store.finish_job(job.enterprise_id, job.id, JobStatus.PARTIAL, result=to_json_data(report),
                                       error="1 of 2 inputs failed: b.pdf: is encrypted.")
    at = AppTest.from_function(monitor_the_job_as_first_read, default_timeout=30).run()
    assert not at.exception
    assert any(caption.value.startswith("ingest · partial ·") for caption in at.caption)
    [warning] = at.warning
    assert plain("b.pdf") in warning.value and "is encrypted" in warning.value
    assert {row["File"]: row["Outcome"] for row in at.dataframe[0].value.to_dict("records")} == {
        "a.md": "added", "b.pdf": "failed"
    }


def test_every_status_has_its_own_colour_and_icon_and_a_failed_job_shows_red():
    from lmspace_ui.job_monitor import status_badge

    colours = {status_badge(status).split("-badge")[0] for status in JobStatus}
    icons = {status_badge(status).split()[0].split("[")[1] for status in JobStatus}
    assert len(colours) == len(icons) == len(JobStatus)
    assert status_badge(JobStatus.FAILED) == ":red-badge[:material/error: failed]"
    assert status_badge(JobStatus.SUCCEEDED).startswith(":green-badge[")


def test_a_failed_job_is_headed_by_a_red_failed_badge(app_workspace):
    space = app_workspace.create_space("handbook")
    job = app_workspace.job_store.create_job(space.scope, "ingest", "Ingest a.pdf", THIS_PROCESS)
    app_workspace.job_store.finish_job(job.enterprise_id, job.id, JobStatus.FAILED, error="every input failed")
    at = AppTest.from_function(monitor_the_job_as_first_read, default_timeout=30).run()
    assert not at.exception
    assert any(markdown.value.startswith(":red-badge[:material/error: failed]") for markdown in at.markdown)


def test_an_ingest_report_shows_the_sync_it_queued_and_its_warnings(app_workspace):
    space = app_workspace.create_space("handbook")
    job = app_workspace.job_store.create_job(space.scope, "ingest", "Ingest a.md", THIS_PROCESS)
    report = IngestReport(space.id, (FileOutcome("a.md", Outcome.ADDED, chunks=1),),
                          sync_queued="20 changed documents (threshold 20)",
                          warnings=("The automatic sync of space 'handbook' could not be queued (OSError: down).",))
    app_workspace.job_store.finish_job(job.enterprise_id, job.id, JobStatus.SUCCEEDED, result=to_json_data(report))
    at = AppTest.from_function(monitor_the_job_as_first_read, default_timeout=30).run()
    assert not at.exception
    assert any("Queued an automatic sync of the space (20 changed documents" in read(info.value) for info in at.info)
    [warning] = at.warning
    assert "could not be queued (OSError: down)" in read(warning.value)


def test_many_files_of_unread_types_in_a_codebase_are_counted_by_type_not_boxed_one_by_one(app_workspace, tmp_path):
    """A zipped codebase's headers, images and build files each drew their own 'skipped' box (lxml: 52 boxes)."""
    import zipfile

    archive = tmp_path / "tool.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("tool/main.py", "def main():\n    return 1\n")
        for n in range(12):
            zipped.writestr(f"tool/include/part{n}.pxd", "cdef int x\n")
        for n in range(3):
            zipped.writestr(f"tool/img/logo{n}.png", b"\x89PNG")
        zipped.writestr("tool/link", "")
    space = app_workspace.create_space("handbook")
    app_workspace.job_store.finish_job(
        space.enterprise_id,
        app_workspace.job_store.create_job(space.scope, "ingest", "Ingest tool.zip", THIS_PROCESS).id,
        JobStatus.SUCCEEDED, result=to_json_data(app_workspace.ingest(space, [archive])),
    )
    at = AppTest.from_function(monitor_the_job_as_first_read, default_timeout=30).run()
    assert not at.exception
    [unread] = [read(info.value) for info in at.info]
    assert unread.startswith("Left out 16 files of types LMSpace does not read: .pxd 12, .png 3, (no extension) 1")
    assert len(at.dataframe[0].value) == 17, "the table still lists every file"
