"""Sync requests through an Azure Storage queue, on Azurite: one taker per request, and a request whose worker
died (never marked done) comes back after its visibility timeout."""

from __future__ import annotations

import time
import uuid

from lmspace_core.sync.queue import StorageQueueSyncQueue, SyncRequest


def test_requests_are_taken_once_and_an_unfinished_one_comes_back(azure_emulators):
    name = f"sync-{uuid.uuid4().hex[:12]}"
    connection = azure_emulators.storage_connection_string
    first = StorageQueueSyncQueue.from_connection_string(connection, name, visibility_s=1)
    second = StorageQueueSyncQueue.from_connection_string(connection, name, visibility_s=1)
    first.put(SyncRequest.now("acme", "space-1", "25 changed documents"))
    first.put(SyncRequest.now("acme", "space-2", "old changes"))

    taken = [first.take(), second.take()]
    assert sorted(t.request.space_id for t in taken) == ["space-1", "space-2"]
    assert first.take() is None
    first.done(taken[0])
    time.sleep(2)  # taken[1]'s worker "died": its request becomes visible again
    again = second.take()
    assert again is not None and again.request == taken[1].request
    second.done(again)
    time.sleep(2)
    assert first.take() is None


def test_a_waiting_request_is_seen_by_space_until_it_is_taken(azure_emulators):
    queue = StorageQueueSyncQueue.from_connection_string(azure_emulators.storage_connection_string,
                                                         f"sync-{uuid.uuid4().hex[:12]}")
    assert not queue.waiting("space-1")
    queue.put(SyncRequest.now("acme", "space-1", "25 changed documents"))
    assert queue.waiting("space-1") and not queue.waiting("space-2")
    queue.done(queue.take())
    assert not queue.waiting("space-1")
