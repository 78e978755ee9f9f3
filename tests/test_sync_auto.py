"""Automatic sync after ingest: an ingest that takes a `sync.auto_sync` space past its threshold queues one sync,
which `lmspace sync worker` then runs; a queue that fails is a warning, never a failed ingest."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lmspace_core.config import load_config
from lmspace_core.domain import Outcome
from lmspace_core.sync import auto
from lmspace_core.sync.manager import DatasetRejectedError, SyncManager
from lmspace_core.sync.model import SyncStatus
from lmspace_core.sync.queue import FolderSyncQueue, build_queue
from lmspace_core.workspace import Workspace, build_sync_store
from tests.conftest import write_config
from tests.test_sync_plan import POLICY, put
from tests.test_sync_prompt import lmspace

AUTO = """sync:
  auto_sync: [travel]
  auto_sync_items: 3
  min_examples: 4
  local:
    epochs: 1
    batch_size: 4
"""


def policy(number: int) -> dict[str, str]:
    return {f"travel-{number}.md": POLICY.replace("Travel policy", f"Travel policy {number}")}


def open_workspace(tmp_path: Path, settings: str = AUTO, env: dict[str, str] | None = None) -> Workspace:
    return Workspace(load_config(write_config(tmp_path, settings), env=env or {}))


def waiting(workspace: Workspace) -> list[str]:
    """The space ids of the requests waiting in the enterprise's queue."""
    queue = build_queue(workspace.settings, workspace.enterprise_id)
    assert isinstance(queue, FolderSyncQueue)
    return [json.loads(path.read_text())["space_id"] for path in sorted(queue._folder.glob("[0-9]*.json"))]


@pytest.fixture
def workspace(tmp_path: Path, backend, backend_environment):
    """An auto-synced workspace on each store backend (the sync state, read after every ingest, with it)."""
    opened = open_workspace(tmp_path, env=backend_environment)
    yield opened
    opened.close()


def test_the_ingest_that_passes_the_threshold_queues_exactly_one_sync(workspace):
    space = workspace.create_space("travel")
    reports = [workspace.ingest(space, policy(number)) for number in range(2)]
    assert waiting(workspace) == [] and all(not report.sync_queued for report in reports)

    passing = workspace.ingest(space, policy(2))
    assert passing.sync_queued == "3 changed documents (threshold 3)"
    assert waiting(workspace) == [space.id]

    later = workspace.ingest(space, policy(3))
    assert not later.sync_queued and waiting(workspace) == [space.id], "a waiting request is not queued again"


def test_spaces_without_auto_sync_queue_nothing(tmp_path):
    for number, settings in enumerate((AUTO, AUTO.replace("auto_sync: [travel]", "auto_sync: []"))):
        (tmp_path / str(number)).mkdir()
        workspace = open_workspace(tmp_path / str(number), settings)
        try:
            space = workspace.create_space("notes" if settings == AUTO else "travel")
            reports = [workspace.ingest(space, policy(number)) for number in range(4)]
            assert waiting(workspace) == [] and not any(report.sync_queued for report in reports)
        finally:
            workspace.close()


def test_a_queue_that_fails_is_a_warning_and_the_ingest_still_succeeds(workspace, monkeypatch, caplog):
    def broken_queue(settings, enterprise_id):
        raise OSError("queue storage unreachable")

    monkeypatch.setattr(auto, "build_queue", broken_queue)
    space = workspace.create_space("travel")
    with caplog.at_level(logging.ERROR, logger="lmspace_core.sync.auto"):
        report = workspace.ingest(space, policy(0))
    assert [f.outcome for f in report.files] == [Outcome.ADDED]
    [warning] = report.warnings
    assert "automatic sync of space 'travel' could not be queued (OSError: queue storage unreachable)" in warning
    assert "could not queue an automatic sync" in caplog.text
    assert len(workspace.documents(space)) == 1


def test_a_cli_ingest_says_it_queued_a_sync_and_the_worker_runs_it(tmp_path):
    config = write_config(tmp_path, AUTO)
    assert lmspace(config, "spaces", "create", "travel").exit_code == 0
    for number in range(3):
        (tmp_path / f"travel-{number}.md").write_text(*policy(number).values())
    result = lmspace(config, "ingest", "travel", *(str(tmp_path / f"travel-{n}.md") for n in range(3)))
    assert result.exit_code == 0, result.output
    assert "Queued an automatic sync (3 changed documents (threshold 3)); `lmspace sync worker` runs it." in result.stdout

    worker = lmspace(config, "sync", "worker", "--once", "--json")
    assert worker.exit_code == 0, worker.output
    done = json.loads(worker.stdout)
    assert done["queued"] == [], "the ingest queued it already"
    [job] = done["jobs"]
    assert (job["backend"], job["status"]) == ("local", "succeeded"), job["error"]
    workspace = Workspace(load_config(config, env={}))
    try:
        assert waiting(workspace) == []
    finally:
        workspace.close()


REFUSED = AUTO.replace("min_examples: 4", "min_examples: 100")  # every dataset these tests build is refused


@pytest.fixture
def refused(tmp_path: Path, backend, backend_environment):
    """An auto-synced space whose datasets are refused, with a manager, on each sync-state backend."""
    workspace = open_workspace(tmp_path, REFUSED, backend_environment)
    manager = SyncManager(workspace)
    yield workspace, manager, workspace.create_space("travel")
    manager.close()
    workspace.close()


def fail_one_automatic_sync(workspace, manager, space, first: int = 0) -> None:
    """Three documents queue a sync; the worker runs it and the dataset is refused."""
    assert workspace.ingest(space, {**policy(first), **policy(first + 1), **policy(first + 2)}).sync_queued
    [job] = manager.run_queued(build_queue(workspace.settings, workspace.enterprise_id))
    assert job.status is SyncStatus.FAILED and job.message.startswith("dataset refused: only")


def test_a_refused_automatic_sync_is_not_queued_again_until_its_delta_has_grown(refused):
    workspace, manager, space = refused
    fail_one_automatic_sync(workspace, manager, space)

    later = workspace.ingest(space, policy(3))
    assert not later.sync_queued and waiting(workspace) == [], "the same refused delta is not tried on every ingest"
    outlook = manager.auto_sync_outlook(space)
    assert outlook.state == "held" and outlook.changes_needed == 2
    assert outlook.text.startswith("Automatic sync is waiting: dataset refused: only 4 training example(s); "
                                   "fine-tuning needs at least 100")
    local = outlook.retry_at.astimezone()  # a time today reads HH:MM; one after midnight carries its date
    retry_at = f"{local:%H:%M}" if local.date() == datetime.now().astimezone().date() else f"{local:%Y-%m-%d %H:%M}"
    assert f"next automatic try after 2 more changes or at {retry_at}." in outlook.text

    grown = workspace.ingest(space, {**policy(4), **policy(5)})
    assert grown.sync_queued == "6 changed documents (threshold 3)" and waiting(workspace) == [space.id]


def test_after_failed_automatic_syncs_the_next_try_waits_a_doubling_capped_backoff(refused):
    workspace, manager, space = refused
    assert [auto.retry_delay(workspace.settings, n) for n in (1, 2, 3, 8, 10_000)] == [
        timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2), timedelta(hours=24), timedelta(hours=24)]
    fail_one_automatic_sync(workspace, manager, space)
    queue = build_queue(workspace.settings, workspace.enterprise_id)
    hold = manager.store.auto_sync_state(space.scope).hold
    assert (hold.failures, hold.retry_at - hold.failed_at) == (1, timedelta(minutes=30))

    def check(at: datetime):
        return auto.enqueue_if_due(workspace.settings, workspace.store, manager.store, queue, space, now=at)

    assert check(hold.failed_at + timedelta(minutes=29)) is None
    assert check(hold.failed_at + timedelta(minutes=31)) is not None, "the backoff has passed"
    [job] = manager.run_queued(queue)
    assert job.status is SyncStatus.FAILED
    hold = manager.store.auto_sync_state(space.scope).hold
    assert (hold.failures, hold.retry_at - hold.failed_at) == (2, timedelta(hours=1))


def test_a_manual_sync_is_never_held_back(refused):
    workspace, manager, space = refused
    fail_one_automatic_sync(workspace, manager, space)
    assert manager.auto_sync_outlook(space).state == "held"
    with pytest.raises(DatasetRejectedError):
        manager.sync_to_llm(space=space)
    assert len(manager.jobs(space)) == 2, "the manual sync ran (and was refused on its own)"


def test_a_sync_that_succeeds_meanwhile_lifts_the_hold(refused):
    workspace, manager, space = refused
    fail_one_automatic_sync(workspace, manager, space)
    assert manager.auto_sync_outlook(space).state == "held"
    dataset = manager.build_dataset(space)  # as a manual sync with its own dataset leaves it
    manager.store.save_dataset(dataset, manager.plan(space).items)
    job = manager.store.create_job(space.scope, "local", "test")
    manager.store.update_job(job.enterprise_id, job.id, SyncStatus.SUCCEEDED, "done", dataset_id=dataset.id)
    assert manager.auto_sync_outlook(space).state == "waiting"
    assert workspace.ingest(space, {**policy(3), **policy(4), **policy(5)}).sync_queued


def test_a_request_queued_before_a_manual_sync_started_is_let_go_without_holding_the_space(refused):
    workspace, manager, space = refused
    assert workspace.ingest(space, {**policy(0), **policy(1), **policy(2)}).sync_queued
    manual = manager.store.create_job(space.scope, "local", "elsewhere:1")  # started by hand meanwhile, still running
    assert manager.run_queued(build_queue(workspace.settings, workspace.enterprise_id)) == []
    assert [job.id for job in manager.jobs(space)] == [manual.id]
    state = manager.store.auto_sync_state(space.scope)
    assert (state.request_id, state.running, state.hold) == (None, False, None)


def test_two_processes_checking_at_once_queue_the_space_once(tmp_path, backend, backend_environment, monkeypatch):
    """Both finish their checks (nothing waits, no job runs) before either queues: only one may."""
    workspaces = [open_workspace(tmp_path, REFUSED, backend_environment) for _ in range(2)]
    space = workspaces[0].create_space("travel")
    for number in range(3):
        put(workspaces[0], space, f"travel-{number}.md", POLICY, f"h{number}")
    stores = [build_sync_store(workspace.settings) for workspace in workspaces]
    both_checked = threading.Barrier(2, timeout=30)
    for store in stores:
        listed = store.list_jobs

        def list_jobs(*args, listed=listed, **kwargs):
            jobs = listed(*args, **kwargs)
            both_checked.wait()
            return jobs

        monkeypatch.setattr(store, "list_jobs", list_jobs)

    def check(index: int):
        workspace = workspaces[index]
        queue = build_queue(workspace.settings, workspace.enterprise_id)
        return auto.enqueue_if_due(workspace.settings, workspace.store, stores[index], queue, space)

    try:
        with ThreadPoolExecutor(2) as pool:
            requests = list(pool.map(check, range(2)))
        assert len([r for r in requests if r is not None]) == 1 and waiting(workspaces[0]) == [space.id]
    finally:
        for closable in (*stores, *workspaces):
            closable.close()


def test_a_request_the_queue_delivers_twice_runs_one_job(refused):
    workspace, manager, space = refused
    queue = build_queue(workspace.settings, workspace.enterprise_id)
    assert workspace.ingest(space, {**policy(0), **policy(1), **policy(2)}).sync_queued
    taken = queue.take()
    queue.put(taken.request)  # a queue promises delivery at least once: the same message twice
    queue.put(taken.request)
    queue.done(taken)
    assert [job.status for job in manager.run_queued(queue)] == [SyncStatus.FAILED]
    assert len(manager.jobs(space)) == 1 and queue.take() is None


def test_a_request_whose_worker_died_is_let_go_and_its_failure_still_holds(refused):
    workspace, manager, space = refused
    queue = build_queue(workspace.settings, workspace.enterprise_id)
    assert workspace.ingest(space, {**policy(0), **policy(1), **policy(2)}).sync_queued
    lost = queue.take()  # its worker dies before claiming it
    later = datetime.now(UTC) + auto.STALE_AFTER + timedelta(seconds=1)

    def check(at: datetime):
        return auto.enqueue_if_due(workspace.settings, workspace.store, manager.store, queue, space, now=at)

    assert check(datetime.now(UTC)) is None, "queued a moment ago: its worker may be about to claim it"
    again = check(later)
    assert again is not None and again.id != lost.request.id
    claimed = auto.claim(manager.store, queue.take().request)  # this worker dies while running it
    assert claimed is not None and check(later + auto.STALE_AFTER) is None
    outlook = manager.auto_sync_outlook(space)
    assert outlook.state == "held" and "the worker running it stopped before it started a job" in outlook.text
    queue.put(lost.request)  # the first message comes back (Azure's visibility timeout): it was superseded
    assert manager.run_queued(queue) == [] and manager.jobs(space) == []


def test_sync_status_says_when_the_next_automatic_try_comes(tmp_path):
    config = write_config(tmp_path, REFUSED)
    assert lmspace(config, "spaces", "create", "travel").exit_code == 0
    for number in range(3):
        (tmp_path / f"travel-{number}.md").write_text(*policy(number).values())
    assert lmspace(config, "ingest", "travel", *(str(tmp_path / f"travel-{n}.md") for n in range(3))).exit_code == 0
    assert lmspace(config, "sync", "worker", "--once").exit_code == 0

    status = lmspace(config, "sync", "status", "travel")
    assert status.exit_code == 0, status.output
    text = " ".join(status.stdout.split())
    assert "Automatic sync is waiting: dataset refused: only 4 training example(s)" in text
    assert "next automatic try after 3 more changes or at" in text
    plan = json.loads(lmspace(config, "sync", "plan", "travel", "--json").stdout)
    assert (plan["auto_sync"]["state"], plan["auto_sync"]["changes_needed"]) == ("held", 3)
