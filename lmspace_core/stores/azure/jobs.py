"""Jobs in Table Storage (PartitionKey = enterprise), their events in a second table, results as blobs.

Job ids start with an inverted timestamp, so a partition lists newest first without sorting. Results go to Blob
Storage (`{enterprise}/jobs/{job}.json`) because a table property holds at most 64 KiB and an ingest report or
research findings can be larger.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from lmspace_core.domain import Job, JobEvent, JobStatus, Progress, Scope
from lmspace_core.errors import NotFoundError
from lmspace_core.stores.azure.blobs import AzureBlobStore
from lmspace_core.stores.azure.boundary import azure_call
from lmspace_core.stores.azure.retry import call_with_retries

_tables = azure_call("Table Storage")
_UNFINISHED = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
_ID_CLOCK_LIMIT = 10**14  # milliseconds; inverted so that later jobs sort first


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _job(entity: dict, result: dict | None) -> Job:
    return Job(
        id=entity["RowKey"], enterprise_id=entity["PartitionKey"], space_id=entity["space_id"], kind=entity["kind"],
        title=entity["title"], status=JobStatus(entity["status"]), done=entity.get("done", 0),
        total=entity.get("total"), message=entity.get("message", ""), result=result, error=entity.get("error", ""),
        created_at=datetime.fromisoformat(entity["created_at"]),
        updated_at=datetime.fromisoformat(entity["updated_at"]),
    )


def _event_entity(event: JobEvent) -> dict:
    entity = {"PartitionKey": event.job_id, "RowKey": f"{event.sequence:010d}", "sequence": event.sequence,
              "at": event.at.isoformat(), "stage": event.stage, "done": event.done, "item": event.item,
              "message": event.message}
    if event.total is not None:
        entity["total"] = event.total
    return entity


class _IdClock:
    """Wall-clock milliseconds that never repeat in this process: a reading within the same millisecond as the last
    (or after the clock stepped back) is the last one plus one, so ids made in a burst still sort in creation order
    instead of by their random suffix."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(int(time.time() * 1000), self._last + 1)
            return self._last


_ID_CLOCK = _IdClock()


def newest_first_id() -> str:
    """A unique id that sorts before every id made earlier in this process: Table Storage returns a partition in
    RowKey order, so rows keyed by these ids list newest first and a `limit` reads only the newest."""
    return f"{_ID_CLOCK_LIMIT - _ID_CLOCK.next():014d}{uuid.uuid4().hex[:6]}"


def quoted(value: str) -> str:
    """A string literal for an OData filter."""
    return "'" + value.replace("'", "''") + "'"


class TableJobStore:
    """`JobStore` over Table Storage and the blob container of `AzureBlobStore`."""

    def __init__(self, service: Any, table: str, blobs: AzureBlobStore) -> None:
        self._service = service
        self._jobs_name, self._events_name = table, f"{table}events"
        self._blobs = blobs
        self._ready = False
        self._lock = threading.Lock()
        self._sequences: dict[str, int] = {}

    def _table(self, name: str) -> Any:
        with self._lock:
            if not self._ready:
                for table in (self._jobs_name, self._events_name):
                    call_with_retries(lambda t=table: self._service.create_table_if_not_exists(t))
                self._ready = True
        return self._service.get_table_client(name)

    def _jobs(self) -> Any:
        return self._table(self._jobs_name)

    def _events(self) -> Any:
        return self._table(self._events_name)

    @staticmethod
    def _result_name(enterprise_id: str, job_id: str) -> str:
        return f"{enterprise_id}/jobs/{job_id}.json"

    def _entity(self, enterprise_id: str, job_id: str) -> dict:
        try:
            return call_with_retries(lambda: self._jobs().get_entity(enterprise_id, job_id))
        except ResourceNotFoundError:
            raise NotFoundError(f"No job {job_id} in enterprise '{enterprise_id}'.") from None

    def _with_result(self, entity: dict) -> Job:
        result = None
        if entity.get("has_result"):
            blob = self._blobs.container().get_blob_client(self._result_name(entity["PartitionKey"],
                                                                              entity["RowKey"]))
            result = json.loads(call_with_retries(lambda: blob.download_blob().readall()))
        return _job(entity, result)

    @_tables
    def create_job(self, scope: Scope, kind: str, title: str, owner: str) -> Job:
        job_id = newest_first_id()
        now = _now()
        entity = {"PartitionKey": scope.enterprise_id, "RowKey": job_id, "space_id": scope.space_id, "kind": kind,
                  "title": title, "status": JobStatus.QUEUED.value, "owner": owner, "done": 0, "message": "",
                  "error": "", "created_at": now, "updated_at": now}
        try:
            call_with_retries(lambda: self._jobs().create_entity(entity))
        except ResourceExistsError:
            pass  # a retried create whose first answer was lost
        return _job(entity, None)

    @_tables
    def record_progress(self, enterprise_id: str, job_id: str, progress: Progress) -> None:
        update = {"PartitionKey": enterprise_id, "RowKey": job_id, "status": JobStatus.RUNNING.value,
                  "done": progress.done, "message": progress.message or progress.item, "updated_at": _now()}
        if progress.total is not None:
            update["total"] = progress.total
        call_with_retries(lambda: self._jobs().update_entity(update))
        with self._lock:
            sequence = self._sequences.get(job_id)
        if sequence is None:
            sequence = len(self._event_entities(job_id, 0))
        sequence += 1
        with self._lock:
            self._sequences[job_id] = sequence
        event = JobEvent(job_id, sequence, datetime.now(UTC), progress.stage, progress.done, progress.total,
                         progress.item, progress.message)
        call_with_retries(lambda: self._events().upsert_entity(_event_entity(event)))

    @_tables
    def finish_job(
        self, enterprise_id: str, job_id: str, status: JobStatus, result: dict | None = None, error: str = ""
    ) -> Job:
        self._put_result(enterprise_id, job_id, result)
        update = {"PartitionKey": enterprise_id, "RowKey": job_id, "status": status.value, "error": error,
                  "has_result": result is not None, "updated_at": _now()}
        call_with_retries(lambda: self._jobs().update_entity(update))
        with self._lock:
            self._sequences.pop(job_id, None)
        return self._with_result(self._entity(enterprise_id, job_id))

    def _put_result(self, enterprise_id: str, job_id: str, result: dict | None) -> None:
        if result is not None:
            blob = self._blobs.container().get_blob_client(self._result_name(enterprise_id, job_id))
            call_with_retries(lambda: blob.upload_blob(json.dumps(result), overwrite=True))

    @_tables
    def put_job(self, job: Job, events: Sequence[JobEvent]) -> None:
        """Write a finished job recorded elsewhere (offline, see `offline_jobs.py`): its result, its row, its events.

        The row is created if missing, else only its state is updated, so a job that began here keeps its start
        and earlier events; everything is keyed by the job's id and sequences, so writing it again changes nothing.
        """
        self._put_result(job.enterprise_id, job.id, job.result)
        state = {"PartitionKey": job.enterprise_id, "RowKey": job.id, "status": job.status.value, "done": job.done,
                 "message": job.message, "error": job.error, "has_result": job.result is not None,
                 "updated_at": job.updated_at.isoformat()}
        if job.total is not None:
            state["total"] = job.total
        row = {**state, "space_id": job.space_id, "kind": job.kind, "title": job.title, "owner": "",
               "created_at": job.created_at.isoformat()}
        try:
            call_with_retries(lambda: self._jobs().create_entity(row))
        except ResourceExistsError:
            call_with_retries(lambda: self._jobs().update_entity(state))
        for event in events:
            call_with_retries(lambda e=event: self._events().upsert_entity(_event_entity(e)))

    @_tables
    def get_job(self, enterprise_id: str, job_id: str) -> Job:
        return self._with_result(self._entity(enterprise_id, job_id))

    @_tables
    def list_jobs(
        self, enterprise_id: str, space_id: str | None = None, kind: str | None = None, limit: int = 50
    ) -> list[Job]:
        conditions = [f"PartitionKey eq {quoted(enterprise_id)}"]
        if space_id is not None:
            conditions.append(f"space_id eq {quoted(space_id)}")
        if kind is not None:
            conditions.append(f"kind eq {quoted(kind)}")

        def first_page() -> list[dict]:
            found = []
            for entity in self._jobs().query_entities(" and ".join(conditions), results_per_page=min(limit, 1000)):
                found.append(entity)
                if len(found) >= limit:
                    break
            return found

        return [self._with_result(entity) for entity in call_with_retries(first_page)]

    def _event_entities(self, job_id: str, after_sequence: int) -> list[dict]:
        query = f"PartitionKey eq {quoted(job_id)} and RowKey gt {quoted(f'{after_sequence:010d}')}"
        return call_with_retries(lambda: list(self._events().query_entities(query)))

    @_tables
    def job_events(self, enterprise_id: str, job_id: str, after_sequence: int = 0) -> list[JobEvent]:
        self._entity(enterprise_id, job_id)
        return [
            JobEvent(job_id, entity["sequence"], datetime.fromisoformat(entity["at"]), entity["stage"],
                     entity["done"], entity.get("total"), entity.get("item", ""), entity.get("message", ""))
            for entity in self._event_entities(job_id, after_sequence)
        ]

    def _unfinished(self) -> list[dict]:
        """Queued and running jobs of every enterprise (a query across partitions: for maintenance, not pages)."""
        query = " or ".join(f"status eq {quoted(status)}" for status in _UNFINISHED)
        return call_with_retries(lambda: list(self._jobs().query_entities(query, select=["PartitionKey", "RowKey",
                                                                                          "owner"])))

    @_tables
    def has_unfinished_jobs(self, owned_here: Callable[[str], bool]) -> bool:
        return any(owned_here(entity["owner"]) for entity in self._unfinished())

    @_tables
    def interrupt_orphans(self, owner_alive: Callable[[str], bool]) -> int:
        orphans = [entity for entity in self._unfinished() if not owner_alive(entity["owner"])]
        for entity in orphans:
            update = {"PartitionKey": entity["PartitionKey"], "RowKey": entity["RowKey"],
                      "status": JobStatus.INTERRUPTED.value,
                      "error": "The process running this job stopped before it finished.", "updated_at": _now()}
            call_with_retries(lambda u=update: self._jobs().update_entity(u))
        return len(orphans)
