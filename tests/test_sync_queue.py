"""Automatic sync: a space is due when its delta passes a threshold; requests wait in a queue for a worker."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lmspace_core.config import load_config
from lmspace_core.sync.manager import SyncManager
from lmspace_core.sync.model import SyncStatus
from lmspace_core.sync.queue import FolderSyncQueue, SyncRequest, build_queue
from lmspace_core.workspace import Workspace
from tests.conftest import write_config
from tests.test_sync_plan import POLICY, put

SETTINGS = """sync:
  auto_sync: [travel]
  auto_sync_items: 3
  auto_sync_age_h: 48
  min_examples: 100
"""


@pytest.fixture
def auto(tmp_path: Path):
    workspace = Workspace(load_config(write_config(tmp_path, SETTINGS), env={}))
    space = workspace.create_space("travel")
    manager = SyncManager(workspace)
    yield workspace, manager, space
    manager.close()
    workspace.close()


def test_a_space_is_due_once_its_delta_reaches_the_item_threshold(auto):
    workspace, manager, space = auto
    put(workspace, space, "a.md", POLICY, "h1")
    put(workspace, space, "b.md", POLICY, "h2")
    assert manager.due(space) is None
    put(workspace, space, "c.md", POLICY, "h3")
    assert manager.due(space) == "3 changed documents (threshold 3)"


def test_a_space_is_due_once_its_oldest_unsynced_change_passes_the_age_threshold(tmp_path):
    settings = load_config(write_config(tmp_path, SETTINGS.replace("auto_sync_age_h: 48", "auto_sync_age_h: 0.0005")),
                           env={})  # 1.8 s
    workspace = Workspace(settings)
    manager = SyncManager(workspace)
    try:
        space = workspace.create_space("travel")
        put(workspace, space, "a.md", POLICY, "h1")  # one change: far below the item threshold
        time.sleep(2)
        reason = manager.due(space)
    finally:
        manager.close()
        workspace.close()
    assert reason is not None and reason.startswith("the oldest unsynced change is ")
    assert reason.endswith(" h old (threshold 0.0005 h)")


def test_the_worker_queues_due_spaces_once_and_runs_them(auto, tmp_path):
    workspace, manager, space = auto
    workspace.create_space("untracked")
    for name in "abc":
        put(workspace, space, f"{name}.md", POLICY, f"h{name}")
    queue = build_queue(workspace.settings, workspace.enterprise_id)
    [request] = manager.enqueue_due(queue)
    assert (request.space_id, request.reason) == (space.id, "3 changed documents (threshold 3)")
    [job] = manager.run_queued(queue)
    assert job.space_id == space.id and job.status is SyncStatus.FAILED  # min_examples 100: refused, not lost
    assert "at least 100" in job.error
    assert queue.take() is None


def test_a_claimed_request_is_taken_by_one_worker_only(tmp_path):
    first, second = FolderSyncQueue(tmp_path / "q"), FolderSyncQueue(tmp_path / "q")
    first.put(SyncRequest.now("acme", "s1", "test"))
    first.put(SyncRequest.now("acme", "s2", "test"))
    taken = [first.take(), second.take(), first.take()]
    assert [t.request.space_id if t else None for t in taken] == ["s1", "s2", None]
    first.done(taken[0])
    assert list((tmp_path / "q" / "taken").iterdir()) == [taken[1].receipt]


def test_a_waiting_request_is_seen_by_space_until_it_is_taken(tmp_path):
    queue = FolderSyncQueue(tmp_path / "q")
    queue.put(SyncRequest.now("acme", "s1", "test"))
    assert queue.waiting("s1") and not queue.waiting("s2")
    taken = queue.take()
    assert not queue.waiting("s1"), "a claimed request is being run, not waiting"
    queue.done(taken)
