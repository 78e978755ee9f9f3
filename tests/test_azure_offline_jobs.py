"""Jobs on Azure while Table Storage is unreachable: recorded in the local job store, listed with Azure's, and
written to Table Storage once by the outbox replay, behind the writes they made."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from lmspace_core.cli import app
from lmspace_core.config import load_config
from lmspace_core.domain import IngestReport, JobStatus, Outcome, Progress, Scope
from lmspace_core.jobs import JobRunner, this_process_owner
from lmspace_core.stores.azure.offline import ReplayReport
from lmspace_core.workspace import Workspace
from tests.conftest import (APP, azure_environment, offline_dashboard, read, start_test_emulators,
                            unreachable_environment, write_config)

LEAVE = b"# Leave\n\nEmployees get 25 days of paid leave per year.\n"


def _workspace(config: Path, environment: dict[str, str]) -> Workspace:
    return Workspace(load_config(config, env=environment))


def _lmspace(config: Path, monkeypatch, environment: dict[str, str], *args: str) -> str:
    """The output of an `lmspace` command run in-process against `environment`."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_an_upload_made_offline_runs_locally_is_listed_and_reaches_azure_once(tmp_path: Path, monkeypatch,
                                                                               azure_emulators):
    config = write_config(tmp_path)
    online = azure_environment(azure_emulators)
    before = _workspace(config, online)  # this machine while Azure answered: one space, one upload
    space = before.create_space("policies")
    earlier = before.jobs.wait(before.enterprise_id, before.start_ingest(space, text=("travel", "Trains only.")).id,
                               timeout=120)
    assert [job.id for job in before.recent_jobs(space, "ingest")] == [earlier.id]
    before.close()

    unreachable = unreachable_environment(azure_emulators, online)
    offline = _workspace(config, unreachable)
    try:
        job = offline.start_ingest(space, uploads=[("leave.md", LEAVE)])
        done = offline.jobs.wait(offline.enterprise_id, job.id, timeout=120)
        assert done.status is JobStatus.SUCCEEDED, done.error
        assert [f.outcome for f in IngestReport.from_json_data(done.result).files] == [Outcome.ADDED]
        assert [j.id for j in offline.recent_jobs(space, "ingest")] == [job.id, earlier.id]  # local and Azure's
        events = offline.job_store.job_events(offline.enterprise_id, job.id)
        assert events[0].stage == "start" and any(event.item == "leave.md" for event in events)
        assert offline.search(space, "How many days of paid leave?")[0].document.source == "leave.md"
        assert [(p.target, p.method) for p in offline.store.outbox.file.pending()] == [
            ("blobs", "put"), ("knowledge", "put_documents"), ("jobs", "send_job")]
    finally:
        offline.close()
    listed = json.loads(_lmspace(config, monkeypatch, unreachable, "jobs", "list", "policies", "--json"))
    assert [(j["id"], j["status"]) for j in listed][:1] == [(job.id, "succeeded")]
    shown = json.loads(_lmspace(config, monkeypatch, unreachable, "jobs", "show", job.id, "--json"))
    assert len(shown["events"]) == len(events)

    back = _workspace(config, online)
    try:
        assert back.store.outbox.replay() == ReplayReport(3, 0)
        back.job_store.send_job(back.enterprise_id, job.id)  # a send repeated after its answer was lost
        assert back.store.outbox.replay() == ReplayReport(0, 0)
    finally:
        back.close()
    (tmp_path / "elsewhere").mkdir()
    elsewhere = _workspace(write_config(tmp_path / "elsewhere"), online)  # sees only what Azure holds
    try:
        jobs = elsewhere.recent_jobs(space, "ingest")
        assert [(j.id, j.status) for j in jobs] == [(job.id, JobStatus.SUCCEEDED), (earlier.id, JobStatus.SUCCEEDED)]
        assert jobs[0].result == done.result and jobs[0].created_at == done.created_at
        assert elsewhere.job_store.job_events(elsewhere.enterprise_id, job.id) == events
        assert [d.source for d in elsewhere.documents(space)] == ["leave.md", "travel.md"]
        assert [c.source for c in elsewhere.store.changes(space.scope)] == ["travel.md", "leave.md"]
    finally:
        elsewhere.close()
    elsewhere_config = tmp_path / "elsewhere" / "lmspace.yaml"
    listed = json.loads(_lmspace(elsewhere_config, monkeypatch, online, "jobs", "list", "--json"))
    assert [j["id"] for j in listed] == [job.id, earlier.id]


def test_a_job_that_loses_table_storage_half_way_goes_on_locally_and_keeps_its_events(tmp_path: Path):
    emulators = start_test_emulators(tmp_path / "emulators")  # keeps its data across the outage, as Azure does
    try:
        workspace = _workspace(write_config(tmp_path), azure_environment(emulators))
        space = workspace.create_space("policies")

        def work(progress) -> dict:
            for step in range(1, 5):
                if step == 3:
                    emulators.stop()  # Azure goes away after two steps
                progress(Progress("step", step, 4, item=f"item {step}"))
            return {"steps": 4}

        job = workspace.jobs.submit(space.scope, "index", "Four steps", work)
        done = workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=120)
        assert (done.status, done.done, done.total, done.result) == (JobStatus.SUCCEEDED, 4, 4, {"steps": 4})
        assert [p.method for p in workspace.store.outbox.file.pending()] == ["send_job"]
        local = workspace.job_store.job_events(workspace.enterprise_id, job.id)  # numbered after Azure's two
        assert [(e.sequence, e.item) for e in local] == [(3, "item 2"), (4, "item 3"), (5, "item 4")]
        assert [e.sequence for e in workspace.job_store.job_events(workspace.enterprise_id, job.id, 4)] == [5]
        emulators = emulators.restart()
        assert workspace.store.outbox.replay() == ReplayReport(1, 0)
        on_azure = workspace.job_store.get_job(workspace.enterprise_id, job.id)  # the local copy is gone
        assert (on_azure.status, on_azure.done, on_azure.result) == (JobStatus.SUCCEEDED, 4, {"steps": 4})
        assert on_azure.created_at == job.created_at
        events = workspace.job_store.job_events(workspace.enterprise_id, job.id)
        assert [(e.sequence, e.stage, e.item) for e in events] == [
            (1, "start", ""), (2, "step", "item 1"), (3, "step", "item 2"), (4, "step", "item 3"),
            (5, "step", "item 4")]
        workspace.close()
    finally:
        emulators.stop()


def _a_stopped_process() -> str:
    """The owner name (`host:pid`) of a process of this machine that has ended."""
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                             text=True, check=True)
    return f"{socket.gethostname()}:{process.stdout.strip()}"


def test_a_local_job_whose_process_died_is_sent_to_azure_interrupted(tmp_path: Path, azure_emulators):
    config = write_config(tmp_path)
    online = azure_environment(azure_emulators)
    offline = _workspace(config, unreachable_environment(azure_emulators, online))
    try:  # a job recorded offline by a process that then stopped
        job = offline.job_store.create_job(Scope(offline.enterprise_id, "s1"), "ingest", "Ingest a.md",
                                           _a_stopped_process())
        JobRunner(offline.job_store).shutdown()  # a runner starting marks it interrupted
        interrupted = offline.job_store.get_job(offline.enterprise_id, job.id)
        assert interrupted.status is JobStatus.INTERRUPTED
        assert [p.method for p in offline.store.outbox.file.pending()] == ["send_job"]
    finally:
        offline.close()
    back = _workspace(config, online)
    try:
        assert back.store.outbox.replay() == ReplayReport(1, 0)
        [listed] = back.job_store.list_jobs(back.enterprise_id)
        assert (listed.id, listed.status, listed.error) == (job.id, JobStatus.INTERRUPTED, interrupted.error)
    finally:
        back.close()


def test_the_upload_page_ingests_offline_and_the_banner_counts_the_waiting_changes(tmp_path, monkeypatch,
                                                                                    azure_emulators):
    config = write_config(tmp_path)
    online = azure_environment(azure_emulators)
    before = _workspace(config, online)
    space = before.create_space("handbook")
    before.list_spaces()
    before.close()
    with offline_dashboard(monkeypatch, config, azure_emulators, online) as workspace:
        running = workspace.job_store.create_job(space.scope, "ingest", "Ingest a.md, b.md", this_process_owner())
        workspace.job_store.record_progress(running.enterprise_id, running.id, Progress("ingest", 1, 2, item="b.md"))
        at = AppTest.from_file(APP, default_timeout=60).run().switch_page("pages/upload.py").run()
        assert at.selectbox[0].value == "handbook"
        [bar] = at.get("progress")  # a job recorded on this machine, followed live
        assert bar.value == 50 and "b.md" in read(bar.text)
        workspace.job_store.finish_job(running.enterprise_id, running.id, JobStatus.SUCCEEDED)
        at.file_uploader[0].set_value(("leave.md", LEAVE, "text/markdown"))
        next(button for button in at.button if button.label == "Ingest").click().run()
        assert not at.exception
        job, _ = workspace.job_store.list_jobs(workspace.enterprise_id, kind="ingest")  # newest first
        assert workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=120).status is JobStatus.SUCCEEDED
        at.run()
        assert not at.exception
        assert {row["File"]: row["Outcome"] for row in at.dataframe[0].value.to_dict("records")} == {
            "leave.md": "added"}
        assert "Offline — 4 changes waiting for Azure." in at.warning[0].value  # its file, document and 2 jobs
        assert workspace.search(space, "How many days of paid leave?")[0].document.source == "leave.md"


def test_research_over_an_uploaded_zip_runs_offline_and_its_job_reaches_azure(tmp_path: Path, azure_emulators):
    from lmspace_core.agents.research.researcher import CodebaseResearcher, start_research
    from lmspace_core.research.result import ResearchResult

    archive = tmp_path / "tool.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("app/main.py", 'def main():\n    print("hello")\n')
    config = write_config(tmp_path)
    online = azure_environment(azure_emulators)
    offline = _workspace(config, unreachable_environment(azure_emulators, online))
    try:
        researcher = CodebaseResearcher(offline)
        codebase, _ = researcher.codebase(archive)
        job = start_research(offline, researcher.plan("Find print statements", codebase),
                             archive=("tool.zip", archive.read_bytes()))
        done = offline.jobs.wait(offline.enterprise_id, job.id, timeout=60)
        assert done.status is JobStatus.SUCCEEDED, done.error
        assert [(f.path, f.line) for f in ResearchResult.from_json_data(done.result).findings] == [
            ("app/main.py", 2)]
        assert [j.id for j in offline.recent_jobs(None, "research")] == [job.id]
    finally:
        offline.close()
    back = _workspace(config, online)
    try:
        assert back.store.outbox.replay() == ReplayReport(1, 0)
        [on_azure] = back.recent_jobs(None, "research")
        assert (on_azure.id, on_azure.result) == (job.id, done.result)
    finally:
        back.close()


def test_once_table_storage_did_not_answer_jobs_keep_to_the_local_store_without_asking_again(tmp_path: Path,
                                                                                              azure_emulators):
    import pytest

    from lmspace_core.stores.azure.boundary import ServiceUnreachableError

    online = azure_environment(azure_emulators)
    offline = _workspace(write_config(tmp_path), unreachable_environment(azure_emulators, online))
    try:
        jobs = offline.job_store
        job = jobs.create_job(Scope(offline.enterprise_id, "s1"), "ingest", "Ingest a.md", "here:1")  # asks, in vain
        with pytest.raises(ServiceUnreachableError, match="it did not answer 0 s ago and is asked again in"):
            jobs.get_job(offline.enterprise_id, "not-here")  # not asked: the answer is at once
        assert [j.id for j in jobs.list_jobs(offline.enterprise_id)] == [job.id]
    finally:
        offline.close()
