"""Sync requests through an Azure Storage queue, on Azurite: one taker per request, a request whose worker
died (never marked done) comes back after its visibility timeout, and one that comes back while its job still runs
is not run twice."""

from __future__ import annotations

import time
import uuid

from azure.storage.queue import QueueClient

from lmspace_core.config import load_config
from lmspace_core.sync import auto
from lmspace_core.sync.manager import SyncManager
from lmspace_core.sync.queue import StorageQueueSyncQueue, SyncRequest
from lmspace_core.workspace import Workspace
from tests.conftest import write_config
from tests.test_sync_plan import POLICY, put

VISIBILITY_S = 5  # how long a taken request stays invisible in the first test


def test_requests_are_taken_once_and_an_unfinished_one_comes_back(azure_emulators):
    name = f"sync-{uuid.uuid4().hex[:12]}"
    connection = azure_emulators.storage_connection_string
    # Long enough that the takes below all fall inside it on a loaded machine (with 1 s, a third take 1 s after the
    # first found the first request visible again); the return is waited for, not slept for.
    first = StorageQueueSyncQueue.from_connection_string(connection, name, visibility_s=VISIBILITY_S)
    second = StorageQueueSyncQueue.from_connection_string(connection, name, visibility_s=VISIBILITY_S)
    first.put(SyncRequest.now("acme", "space-1", "25 changed documents"))
    first.put(SyncRequest.now("acme", "space-2", "old changes"))

    taken = [first.take(), second.take()]
    assert sorted(t.request.space_id for t in taken) == ["space-1", "space-2"]
    assert first.take() is None
    first.done(taken[0])
    again = _taken_when_visible_again(second)  # taken[1]'s worker "died": its request becomes visible again
    assert again.request == taken[1].request
    second.done(again)
    left = QueueClient.from_connection_string(connection, name).get_queue_properties().approximate_message_count
    assert left == 0  # both deleted: the count includes messages that are taken and not yet visible again


def _taken_when_visible_again(queue: StorageQueueSyncQueue):
    deadline = time.monotonic() + VISIBILITY_S + 60
    while (taken := queue.take()) is None:
        assert time.monotonic() < deadline, "a request whose worker died never came back"
        time.sleep(0.2)
    return taken


def test_a_waiting_request_is_seen_by_space_until_it_is_taken(azure_emulators):
    queue = StorageQueueSyncQueue.from_connection_string(azure_emulators.storage_connection_string,
                                                         f"sync-{uuid.uuid4().hex[:12]}")
    assert not queue.waiting("space-1")
    queue.put(SyncRequest.now("acme", "space-1", "25 changed documents"))
    assert queue.waiting("space-1") and not queue.waiting("space-2")
    queue.done(queue.take())
    assert not queue.waiting("space-1")


def test_a_message_that_comes_back_while_its_job_runs_is_not_run_again(azure_emulators, tmp_path):
    """A job can outlast the time a taken message stays invisible; the worker that takes it again drops it."""
    settings = "sync:\n  auto_sync: [travel]\n  auto_sync_items: 1\n  min_examples: 100\n"
    workspace = Workspace(load_config(write_config(tmp_path, settings), env={}))
    space = workspace.create_space("travel")
    put(workspace, space, "a.md", POLICY, "h1")
    manager = SyncManager(workspace)
    name, connection = f"sync-{uuid.uuid4().hex[:12]}", azure_emulators.storage_connection_string
    first, second = (StorageQueueSyncQueue.from_connection_string(connection, name, visibility_s=1) for _ in "12")
    try:
        [request] = manager.enqueue_due(first)
        taken = first.take()
        assert auto.claim(manager.store, taken.request) is not None  # the first worker's job starts...
        time.sleep(2)  # ...and runs longer than its message stays invisible
        assert manager.run_queued(second) == [] and manager.jobs(space) == []
        assert manager.enqueue_due(second) == [], "running: not queued again either"
        first.done(taken)  # the first worker finishes: its message is gone already, which is no error
        time.sleep(2)
        assert first.take() is None
    finally:
        manager.close()
        workspace.close()
