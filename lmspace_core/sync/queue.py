"""Sync requests go through a queue, so whoever notices a space is due (a worker's check, an event) is not the one
that runs the job, and a burst of changes does not start a burst of jobs.

Two implementations of one small interface: a folder of JSON files under the data directory (claiming a request
is an atomic rename, so two workers on one machine never take the same one) and an Azure Storage queue (a taken
message is invisible for `visibility_s` and comes back if its worker dies before `done`).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class SyncRequest:
    """Sync this space (why: e.g. '25 changed documents').

    `id` is the ticket the space's automatic sync state holds for it: a worker runs a request only while that state
    still names it, so a message delivered twice (a queue promises at least once) or left over runs no second job.
    Requests written before ids existed read as id "" and are dropped the same way.
    """

    enterprise_id: str
    space_id: str
    reason: str
    requested_at: str
    id: str = ""

    @classmethod
    def now(cls, enterprise_id: str, space_id: str, reason: str) -> SyncRequest:
        return cls(enterprise_id, space_id, reason, datetime.now(UTC).isoformat(), uuid.uuid4().hex)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class Taken:
    """A request a worker has claimed, with what the queue needs to remove it once it is done."""

    request: SyncRequest
    receipt: Any


def build_queue(settings, enterprise_id: str) -> SyncQueue:
    """The enterprise's queue of the kind `sync.queue` names: a folder under the data directory, or an Azure
    Storage queue (one per enterprise, so a worker only ever takes its own enterprise's requests)."""
    if settings.sync.queue == "azure_storage":
        from lmspace_core.lm import resolve_secret

        return StorageQueueSyncQueue.from_connection_string(
            resolve_secret(settings.sync.queue_connection_string), f"{settings.sync.queue_name}-{enterprise_id}")
    return FolderSyncQueue(settings.data_dir / "sync_queue" / enterprise_id)


class SyncQueue(Protocol):
    def put(self, request: SyncRequest) -> None: ...

    def take(self) -> Taken | None:
        """Claim the oldest request, or None when the queue is empty."""
        ...

    def done(self, taken: Taken) -> None:
        """Remove a claimed request for good."""
        ...

    def waiting(self, space_id: str) -> bool:
        """Whether a request for the space waits in the queue (claimed ones do not count)."""
        ...


class FolderSyncQueue:
    """Requests as files in `folder`; claimed ones move to `folder/taken` until they are done."""

    def __init__(self, folder: Path) -> None:
        self._folder, self._taken = folder, folder / "taken"
        self._taken.mkdir(parents=True, exist_ok=True)

    def put(self, request: SyncRequest) -> None:
        name = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.json"
        partial = self._folder / f".{name}"
        partial.write_text(request.to_json(), encoding="utf-8")
        os.replace(partial, self._folder / name)

    def take(self) -> Taken | None:
        for path in sorted(self._folder.glob("[0-9]*.json")):
            claimed = self._taken / path.name
            try:
                os.rename(path, claimed)
            except FileNotFoundError:  # another worker claimed it first
                continue
            return Taken(SyncRequest(**json.loads(claimed.read_text(encoding="utf-8"))), claimed)
        return None

    def done(self, taken: Taken) -> None:
        Path(taken.receipt).unlink(missing_ok=True)

    def waiting(self, space_id: str) -> bool:
        for path in self._folder.glob("[0-9]*.json"):
            try:
                if json.loads(path.read_text(encoding="utf-8"))["space_id"] == space_id:
                    return True
            except FileNotFoundError:  # claimed meanwhile
                continue
        return False


class StorageQueueSyncQueue:
    """Requests as messages of an Azure Storage queue (`azure.storage.queue.QueueClient`)."""

    def __init__(self, client, visibility_s: int = 3600) -> None:
        from azure.core.exceptions import ResourceExistsError

        self._client, self._visibility_s = client, visibility_s
        try:
            client.create_queue()
        except ResourceExistsError:
            pass

    @classmethod
    def from_connection_string(cls, connection_string: str, queue_name: str, visibility_s: int = 3600):
        from azure.storage.queue import QueueClient

        return cls(QueueClient.from_connection_string(connection_string, queue_name), visibility_s)

    def put(self, request: SyncRequest) -> None:
        self._client.send_message(request.to_json())

    def take(self) -> Taken | None:
        message = self._client.receive_message(visibility_timeout=self._visibility_s)
        if message is None:
            return None
        return Taken(SyncRequest(**json.loads(message.content)), message)

    def done(self, taken: Taken) -> None:
        """Delete the message; when it came back and another worker took it since (a job that outlasted
        `visibility_s`), it is that worker's to drop, and this is no error."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            self._client.delete_message(taken.receipt)
        except ResourceNotFoundError:
            pass
        except HttpResponseError as error:
            if error.error_code != "PopReceiptMismatch":
                raise

    def waiting(self, space_id: str) -> bool:
        """Peeks at the first 32 visible messages (the most a peek returns): enough for a queue a worker drains."""
        return any(json.loads(message.content)["space_id"] == space_id
                   for message in self._client.peek_messages(max_messages=32))
