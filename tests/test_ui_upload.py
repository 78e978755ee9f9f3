"""The Upload page: one background ingest job per submit, followed live, reported per file, still there on return."""

from __future__ import annotations

import os
import socket

from streamlit.testing.v1 import AppTest

from lmspace_core.domain import Job, JobStatus, Progress
from tests.conftest import APP, read

THIS_PROCESS = f"{socket.gethostname()}:{os.getpid()}"  # a live owner: the runner leaves its jobs running
LEAVE = b"# Leave\n\nEmployees get 25 days of paid leave per year.\n"


def open_upload() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    return at.switch_page("pages/upload.py").run()


def click_ingest(at: AppTest) -> AppTest:
    return next(button for button in at.button if button.label == "Ingest").click().run()


def only_job(workspace) -> Job:
    [job] = workspace.job_store.list_jobs(workspace.enterprise_id, kind="ingest")
    return job


def finish(workspace, job: Job) -> Job:
    return workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=120)


def report_rows(at: AppTest) -> dict[str, str]:
    return {row["File"]: row["Outcome"] for row in at.dataframe[0].value.to_dict("records")}


def test_upload_page_renders_on_an_empty_data_directory(app_workspace):
    at = open_upload()
    assert not at.exception
    assert [field.label for field in at.text_input][0] == "Name of the new space"


def test_upload_page_renders_for_a_populated_space(app_workspace):
    space = app_workspace.create_space("handbook")
    app_workspace.ingest(space, {"leave.md": LEAVE.decode()})
    at = open_upload()
    assert not at.exception
    assert at.selectbox[0].value == "handbook"
    assert "No ingest jobs in handbook yet." in [caption.value for caption in at.caption]


def test_uploaded_files_are_one_job_whose_report_gives_each_file_outcome_and_failure_reason(app_workspace):
    app_workspace.create_space("handbook")
    at = open_upload()
    at.file_uploader[0].set_value([("leave.md", LEAVE, "text/markdown"), ("empty.txt", b"", "text/plain")])
    click_ingest(at)
    assert not at.exception
    finish(app_workspace, only_job(app_workspace))
    at.run()
    assert report_rows(at) == {"leave.md": "added", "empty.txt": "failed"}
    [failure] = at.warning
    assert read(failure.value).startswith("empty.txt: ") and "empty" in read(failure.value).removeprefix("empty.txt: ")


def test_pasted_text_with_tags_is_ingested_into_the_selected_space(app_workspace):
    space = app_workspace.create_space("handbook")
    at = open_upload()
    at.text_input[0].input("Expense rules")
    at.text_area[0].input("Meals on business trips are refunded up to 40 euros a day.")
    at.multiselect[0].set_value(["finance"])
    click_ingest(at)
    finish(app_workspace, only_job(app_workspace))
    [document] = app_workspace.documents(space)
    assert (document.source, document.tags) == ("Expense rules.md", ("finance",))


def test_naming_a_new_space_creates_it_with_the_ingest_and_selects_it(app_workspace):
    at = open_upload()
    at.text_input[0].input("policies")
    at.file_uploader[0].set_value(("leave.md", LEAVE, "text/markdown"))
    click_ingest(at)
    assert not at.exception
    finish(app_workspace, only_job(app_workspace))
    at.run()
    assert at.selectbox[0].value == "policies"
    assert report_rows(at) == {"leave.md": "added"}


def test_submitting_nothing_asks_for_files_or_text_and_starts_no_job(app_workspace):
    app_workspace.create_space("handbook")
    at = click_ingest(open_upload())
    assert "Add files or paste some text to ingest." in [warning.value for warning in at.warning]
    assert app_workspace.job_store.list_jobs(app_workspace.enterprise_id) == []


def test_a_refused_submit_keeps_what_was_entered_and_a_started_ingest_empties_the_form(app_workspace):
    """The form was cleared on every submit: a taken space name or a missing title lost the files and the text."""
    app_workspace.create_space("handbook")
    rule = "Meals on business trips are refunded up to 40 euros a day."
    at = open_upload()
    at.toggle[0].set_value(True).run()
    name, title = (lambda: at.text_input(key="upload_space_name")), (lambda: at.text_input[-1])
    name().input("Handbook")  # taken: names are compared ignoring case
    title().input("Expense rules")
    at.text_area[0].input(rule)
    click_ingest(at)
    assert "already exists" in at.error[0].value
    assert (title().value, at.text_area[0].value) == ("Expense rules", rule)
    name().input("finance")
    title().input("")
    click_ingest(at)
    assert "Pasted text needs both a title and the text." in [warning.value for warning in at.warning]
    assert at.text_area[0].value == rule
    title().input("Expense rules")
    click_ingest(at)
    assert not at.exception
    assert at.success[0].value.startswith("Started: ")
    assert (title().value, at.text_area[0].value) == ("", "")
    finish(app_workspace, only_job(app_workspace))
    assert [d.source for d in app_workspace.documents(app_workspace.space("finance"))] == ["Expense rules.md"]


def test_a_running_job_shows_live_progress_with_the_file_being_read(app_workspace):
    space = app_workspace.create_space("handbook")
    job = app_workspace.job_store.create_job(space.scope, "ingest", "Ingest a.md, b.md", THIS_PROCESS)
    app_workspace.job_store.record_progress(job.enterprise_id, job.id, Progress("ingest", 1, 2, item="b.md"))
    at = open_upload()
    assert not at.exception
    [bar] = at.get("progress")
    assert bar.value == 50
    assert "b.md" in read(bar.text)


def test_a_job_started_before_leaving_the_page_is_shown_on_return(app_workspace):
    app_workspace.create_space("handbook")
    at = open_upload()
    at.file_uploader[0].set_value(("leave.md", LEAVE, "text/markdown"))
    click_ingest(at)
    job = finish(app_workspace, only_job(app_workspace))
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/upload.py").run()
    assert job.status is JobStatus.SUCCEEDED
    assert any(job.title in read(markdown.value) for markdown in at.markdown)
    assert report_rows(at) == {"leave.md": "added"}


def test_a_job_whose_server_stopped_is_shown_interrupted_not_running(app_workspace):
    space = app_workspace.create_space("handbook")
    dead_owner = f"{socket.gethostname()}:{2**22 + 1}"  # above Linux's largest pid: no such process
    app_workspace.job_store.create_job(space.scope, "ingest", "Ingest lost.md", dead_owner)
    at = open_upload()
    assert not at.get("progress")
    assert "stopped before it finished" in at.warning[0].value


def test_two_uploads_with_the_same_name_are_both_kept_under_numbered_names(app_workspace):
    app_workspace.create_space("handbook")
    at = open_upload()
    at.file_uploader[0].set_value([("notes.txt", b"Team A meets on Mondays.", "text/plain"),
                                   ("notes.txt", b"Team B meets on Thursdays.", "text/plain")])
    click_ingest(at)
    finish(app_workspace, only_job(app_workspace))
    at.run()
    assert report_rows(at) == {"notes.txt": "added", "notes (2).txt": "added"}


def test_an_upload_with_an_unusable_name_is_refused_with_a_message(app_workspace):
    app_workspace.create_space("handbook")
    at = open_upload()
    at.file_uploader[0].set_value([("..", b"data", "text/plain")])
    click_ingest(at)
    assert not at.exception
    assert "cannot name a document" in at.error[0].value
    assert app_workspace.job_store.list_jobs(app_workspace.enterprise_id) == []


def test_the_upload_box_limit_is_the_ingest_limit_per_file(tmp_path, monkeypatch):
    import streamlit as st

    from lmspace_ui.resources import get_workspace
    from tests.conftest import write_config

    monkeypatch.setenv("LMSPACE_CONFIG", str(write_config(tmp_path, "ingest:\n  max_file_mb: 7\n")))
    st.cache_resource.clear()
    try:
        at = open_upload()
        [uploader] = at.get("file_uploader")
        assert uploader.proto.max_upload_size_mb == 7
        assert "Up to 7 MB per file" in uploader.proto.help
    finally:
        get_workspace().close()
        st.cache_resource.clear()


def test_a_running_ingest_is_cancelled_from_the_page_keeping_what_was_stored(app_workspace):
    space = app_workspace.create_space("handbook")
    uploads = [(f"note-{n}.md", f"# Note {n}\n\n" + "Leave is booked in the portal. " * 200) for n in range(40)]
    job = app_workspace.start_ingest(space, [(name, text.encode()) for name, text in uploads])
    at = open_upload()
    assert not at.exception
    cancel = next(button for button in at.button if button.label == "Cancel")
    cancel.click().run(timeout=60)
    assert any("Stopping after the current step" in caption.value for caption in at.caption)
    finished = app_workspace.jobs.wait(app_workspace.enterprise_id, job.id, timeout=300)
    assert "cancelled" in (finished.error or "").lower()
    stored = len(app_workspace.documents(space))
    assert stored < len(uploads)
    at.run(timeout=60)  # the finished job: a yellow 'cancelled' (not a red 'failed') and the count of what was stored
    assert any(":yellow-badge[:material/stop_circle: cancelled]" in markdown.value for markdown in at.markdown)
    assert [metric.value for metric in at.metric if metric.label == "Added"] == [str(stored)]


def test_uploads_of_types_lmspace_does_not_read_name_the_readable_types_once_not_in_every_failure(app_workspace):
    """Five /usr/share/doc-style uploads of unread types repeated the 400-character list of readable types five times."""
    from lmspace_core.ingest.sources import supported_description

    app_workspace.create_space("handbook")
    at = open_upload()
    at.file_uploader[0].set_value([("leave.md", LEAVE, "text/markdown"), ("logo.bin", b"\x00\x01", "x/y"),
                                   ("setup.exe", b"MZ\x00", "x/y"), ("notes.odt", b"PK", "x/y")])
    click_ingest(at)
    finish(app_workspace, only_job(app_workspace))
    at.run()
    failures = [read(warning.value) for warning in at.warning]
    assert [failure.split(":")[0] for failure in failures] == ["logo.bin", "setup.exe", "notes.odt"]
    assert all(len(failure) < 80 for failure in failures), failures
    shown = " ".join(read(element.value) for element in [*at.info, *at.caption, *at.warning])
    assert shown.count(read(supported_description())) == 1


def test_a_running_job_marks_a_failed_file_as_failed_not_done(app_workspace):
    space = app_workspace.create_space("handbook")
    job = app_workspace.job_store.create_job(space.scope, "ingest", "Ingest a.md, b.pdf, c.md", THIS_PROCESS)
    for progress in (Progress("ingest", 0, 3, item="a.md"), Progress("ingest", 1, 3, item="b.pdf"),
                     Progress("failed", 2, 3, item="b.pdf", message="b.pdf is not a readable PDF"),
                     Progress("ingest", 2, 3, item="c.md")):
        app_workspace.job_store.record_progress(job.enterprise_id, job.id, progress)
    at = open_upload()
    assert not at.exception
    [items] = [read(md.value) for md in at.markdown if read(md.value).startswith(":material/check: a")]
    assert [line.strip() for line in items.splitlines()] == [
        ":material/check: a.md", ":material/error: b.pdf", ":material/progress_activity: c.md"]
