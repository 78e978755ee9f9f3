"""Background jobs: results and progress events in the store, failures made visible, orphans interrupted; on both
backends (SQLite, and Table + Blob Storage on Azurite)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import zipfile

import pytest

from lmspace_core.domain import FileOutcome, IngestReport, JobStatus, Outcome, Progress, Scope, to_json_data
from lmspace_core.errors import IngestError
from lmspace_core.jobs import JobRunner, owner_is_alive, owner_is_on_this_host, this_process_owner

pytestmark = pytest.mark.usefixtures("backend")


def test_an_ingest_job_records_each_file_and_its_report(workspace):
    space = workspace.create_space("uploads")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("pyproject.toml", "[project]\nname = 'tool'\n")
        zipped.writestr("tool/main.py", "def main():\n    return 42\n")
    job = workspace.start_ingest(
        space,
        uploads=[("notes.md", b"# Notes\n\nThe office closes at six on Fridays."), ("tool.zip", archive.getvalue())],
        text=("faq", "Parking is free for visitors who register at reception."),
        tags=["upload"],
    )
    finished = workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=120)
    assert finished.status is JobStatus.SUCCEEDED
    report = IngestReport.from_json_data(finished.result)
    assert {f.source: f.outcome for f in report.files} == {
        "notes.md": Outcome.ADDED, "tool/pyproject.toml": Outcome.ADDED, "tool/tool/main.py": Outcome.ADDED,
        "faq.md": Outcome.ADDED,
    }
    items = [e.item for e in workspace.job_store.job_events(workspace.enterprise_id, job.id) if e.item]
    assert items == ["notes.md", "tool/pyproject.toml", "tool/tool/main.py", "faq.md"]
    assert list((workspace.settings.data_dir / "uploads").iterdir()) == []


def test_a_job_that_raises_an_lmspace_error_fails_with_its_message(workspace):
    space = workspace.create_space("s")

    def work(progress):
        progress(Progress("ingest", 1, 2, item="a.pdf"))
        raise IngestError("a.pdf is encrypted")

    job = workspace.jobs.submit(space.scope, "ingest", "broken", work)
    finished = workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=10)
    assert (finished.status, finished.error, finished.done, finished.total) == (
        JobStatus.FAILED, "a.pdf is encrypted", 1, 2
    )


def test_a_job_with_a_bug_still_ends_as_failed(workspace):
    space = workspace.create_space("s")
    job = workspace.jobs.submit(space.scope, "ingest", "buggy", lambda progress: {}["missing"])
    finished = workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=10)
    assert finished.status is JobStatus.FAILED
    assert finished.error.startswith("Unexpected error (KeyError)")


def test_unfinished_jobs_of_a_dead_process_are_marked_interrupted(workspace):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    scope = Scope(workspace.enterprise_id, workspace.create_space("s").id)
    orphan = workspace.job_store.create_job(scope, "ingest", "orphan", f"{socket.gethostname()}:{dead.stdout.strip()}")
    remote = workspace.job_store.create_job(scope, "ingest", "elsewhere", "another-host:1")
    JobRunner(workspace.job_store).shutdown()
    assert workspace.job_store.get_job(scope.enterprise_id, orphan.id).status is JobStatus.INTERRUPTED
    assert workspace.job_store.get_job(scope.enterprise_id, remote.id).status is JobStatus.QUEUED


def test_a_job_owner_is_alive_while_its_process_runs_and_elsewhere_is_assumed_alive():
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert this_process_owner() == f"{socket.gethostname()}:{os.getpid()}"
    assert owner_is_alive(this_process_owner())
    assert not owner_is_alive(f"{socket.gethostname()}:{dead.stdout.strip()}")
    assert owner_is_alive("another-host:1")
    assert owner_is_on_this_host(this_process_owner()) and not owner_is_on_this_host("another-host:1")


def test_jobs_are_listed_newest_first_within_their_enterprise(workspace):
    space = workspace.create_space("s")
    first = workspace.jobs.submit(space.scope, "ingest", "first", lambda progress: None)
    second = workspace.jobs.submit(space.scope, "ingest", "second", lambda progress: None)
    for job in (first, second):
        workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=10)
    assert [j.title for j in workspace.job_store.list_jobs(workspace.enterprise_id, space.id)] == ["second", "first"]
    assert workspace.job_store.list_jobs("another-enterprise") == []


def _report(*outcomes: Outcome) -> dict:
    files = [FileOutcome(f"f{n}.txt", outcome, reason="unreadable" if outcome is Outcome.FAILED else "")
             for n, outcome in enumerate(outcomes)]
    return to_json_data(IngestReport("s", tuple(files)))


def test_an_ingest_whose_every_input_failed_is_failed_with_the_reasons(workspace):
    space = workspace.create_space("s")
    job = workspace.start_ingest(space, uploads=[("empty.txt", b""), ("blank.md", b"  \n")])
    finished = workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=60)
    assert finished.status is JobStatus.FAILED
    assert finished.error.startswith("Every input failed (2): empty.txt: ")
    assert [f.outcome for f in IngestReport.from_json_data(finished.result).files] == [Outcome.FAILED] * 2


def test_an_ingest_where_some_inputs_failed_is_partial(workspace):
    space = workspace.create_space("s")
    job = workspace.jobs.submit(space.scope, "ingest", "mixed", lambda progress: _report(Outcome.ADDED, Outcome.FAILED))
    finished = workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=10)
    assert (finished.status, finished.error) == (JobStatus.PARTIAL, "1 of 2 inputs failed: f1.txt: unreadable.")
    assert finished.status.finished


def test_an_ingest_with_nothing_failed_succeeds(workspace):
    space = workspace.create_space("s")
    job = workspace.jobs.submit(space.scope, "ingest", "fine", lambda progress: _report(Outcome.ADDED, Outcome.UNCHANGED))
    assert workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=10).status is JobStatus.SUCCEEDED


def test_a_job_is_running_from_its_first_progress_event(workspace):
    space = workspace.create_space("s")
    reported, release = threading.Event(), threading.Event()

    def work(progress):
        progress(Progress("ingest", 1, 3, item="a.md"))
        reported.set()
        release.wait(10)

    job = workspace.jobs.submit(space.scope, "ingest", "slow", work)
    assert reported.wait(10)
    running = workspace.job_store.get_job(workspace.enterprise_id, job.id)
    release.set()
    assert (running.status, running.done, running.total) == (JobStatus.RUNNING, 1, 3)
    workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=10)


def test_lmspace_jobs_lists_jobs_newest_first_and_shows_one_with_its_events(workspace, tmp_path, monkeypatch,
                                                                             backend_environment):
    import json

    from typer.testing import CliRunner

    from lmspace_core.cli import app

    space = workspace.create_space("uploads")
    first, second = (workspace.jobs.wait(workspace.enterprise_id, workspace.start_ingest(space, text=text).id,
                                         timeout=120) for text in (("alpha", "Alpha rules."), ("beta", "Beta rules.")))
    for name, value in backend_environment.items():
        monkeypatch.setenv(name, value)

    def lmspace(*args: str) -> str:
        result = CliRunner().invoke(app, ["--config", str(tmp_path / "lmspace.yaml"), *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    listed = json.loads(lmspace("jobs", "list", "uploads", "--json"))
    assert [(job["id"], job["status"]) for job in listed] == [(second.id, "succeeded"), (first.id, "succeeded")]
    shown = json.loads(lmspace("jobs", "show", first.id, "--json"))
    assert shown["job"]["title"] == "Ingest alpha"
    assert [event["sequence"] for event in shown["events"]] == list(range(1, len(shown["events"]) + 1))
    assert "alpha.md" in lmspace("jobs", "show", first.id) and "Ingest beta" in lmspace("jobs", "list")
