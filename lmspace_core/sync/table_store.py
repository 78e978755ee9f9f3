"""Sync state on Azure: rows of one Table Storage table, one partition per enterprise; dataset bodies as blobs.

Every row of an enterprise lives in its partition (PartitionKey = enterprise id), so no call ever reads across
tenants, and the kinds are told apart by a RowKey prefix: `job|{id}` (ids list newest first), `event|{job}|{seq}`,
`metric|{job}|{step}`, `model|{id}`, `dataset|{id}`, `auto|{space}` and `syncing|{space}` (the space's latest
job, which keeps a space to one unfinished job). Rows of one partition can change together in an entity-group
transaction, which gives what the SQLite store gets from its write lock: a job's new state and the event that logs
it are written in one transaction guarded by the job row's ETag, and a writer that lost a race reads again and
retries. The job row counts its events, so the next event's RowKey is known without reading the log.

A dataset's examples and lineage go to Blob Storage (`{enterprise}/sync/datasets/{id}.json`): a table property holds
at most 64 KiB and a dataset of a thousand examples is megabytes. The dataset row is written after its blob, so a
row always has its body.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode

from lmspace_core.domain import ChangeKind, Scope
from lmspace_core.stores.azure.blobs import AzureBlobStore
from lmspace_core.stores.azure.boundary import azure_call
from lmspace_core.stores.azure.jobs import newest_first_id, quoted
from lmspace_core.stores.azure.retry import call_with_retries
from lmspace_core.sync.model import (
    AutoSyncState,
    Dataset,
    DeltaItem,
    Example,
    Metric,
    ModelVersion,
    Split,
    SyncEvent,
    SyncJob,
    SyncStatus,
)
from lmspace_core.sync.store import (
    ORPHANED,
    UNFINISHED,
    SyncUnderWayError,
    auto_state_from_json,
    auto_state_json,
    check_job_fields,
    dataset_not_found,
    job_not_found,
    model_not_found,
)

_azure = azure_call("Table Storage")
_TRANSACTION_LIMIT = 100  # operations in one entity-group transaction
_TEXT_LIMIT = 30_000  # characters of a job's message or error kept; a string property holds 64 KiB of UTF-16
_CONFLICTS = (409, 412)  # someone else wrote the row first (insert) or since we read it (ETag)
Change = Callable[[dict], tuple[dict, tuple[SyncStatus, str] | None] | None]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _text(value: str) -> str:
    return value if len(value) <= _TEXT_LIMIT else value[:_TEXT_LIMIT - 1] + "…"


def _rows(prefix: str) -> str:
    """An OData filter for the rows whose RowKey starts with `prefix` ('~' sorts after every id character)."""
    return f"RowKey ge {quoted(prefix)} and RowKey lt {quoted(prefix + '~')}"


_UNFINISHED_JOBS = f"{_rows('job|')} and ({' or '.join(f'status eq {quoted(status)}' for status in UNFINISHED)})"


def _job_key(job_id: str) -> str:
    return f"job|{job_id}"


def _event_key(job_id: str, sequence: int) -> str:
    return f"event|{job_id}|{sequence:010d}"


def _job(entity: dict) -> SyncJob:
    return SyncJob(
        id=entity["RowKey"].removeprefix("job|"), enterprise_id=entity["PartitionKey"], space_id=entity["space_id"],
        backend=entity["backend"], status=SyncStatus(entity["status"]), dataset_id=entity.get("dataset_id"),
        remote_id=entity.get("remote_id"), model_id=entity.get("model_id"),
        model_version_id=entity.get("model_version_id"), score_before=entity.get("score_before"),
        score_after=entity.get("score_after"), message=entity.get("message", ""), error=entity.get("error") or "",
        created_at=datetime.fromisoformat(entity["created_at"]),
        updated_at=datetime.fromisoformat(entity["updated_at"]), finished_at=_time(entity.get("finished_at")),
        steps_done=entity.get("steps_done"), steps_total=entity.get("steps_total"),
    )


def _model(entity: dict) -> ModelVersion:
    return ModelVersion(
        id=entity["RowKey"].removeprefix("model|"), enterprise_id=entity["PartitionKey"],
        space_id=entity["space_id"], job_id=entity.get("job_id"), dataset_id=entity.get("dataset_id"),
        backend=entity["backend"], kind=entity["kind"], reference=entity["reference"],
        score_before=entity.get("score_before"), score_after=entity.get("score_after"),
        active=bool(entity.get("active")), created_at=datetime.fromisoformat(entity["created_at"]),
        deployment=entity.get("deployment"),
    )


def _conflict(error: HttpResponseError) -> bool:
    return error.status_code in _CONFLICTS


class TableSyncStore:
    """`SyncStore` over one table (created on first use) and the blob container of `AzureBlobStore`."""

    def __init__(self, service: Any, table: str, blobs: AzureBlobStore) -> None:
        self._service, self._name, self._blobs = service, table, blobs
        self._ready = False
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the Table Storage client (its connection pool)."""
        self._service.close()

    def _table(self) -> Any:
        with self._lock:
            if not self._ready:
                call_with_retries(lambda: self._service.create_table_if_not_exists(self._name))
                self._ready = True
        return self._service.get_table_client(self._name)

    def _query(self, enterprise_id: str, condition: str, limit: int | None = None) -> list[dict]:
        query = f"PartitionKey eq {quoted(enterprise_id)} and {condition}"

        def read() -> list[dict]:
            found = []
            for entity in self._table().query_entities(query, results_per_page=min(limit or 1000, 1000)):
                found.append(entity)
                if limit is not None and len(found) >= limit:
                    break
            return found

        return call_with_retries(read)

    def _get(self, enterprise_id: str, row_key: str) -> dict | None:
        try:
            return call_with_retries(lambda: self._table().get_entity(enterprise_id, row_key))
        except ResourceNotFoundError:
            return None

    def _transact(self, operations: Sequence[tuple]) -> None:
        for start in range(0, len(operations), _TRANSACTION_LIMIT):
            batch = list(operations[start:start + _TRANSACTION_LIMIT])
            call_with_retries(lambda b=batch: self._table().submit_transaction(b))

    # -- datasets and lineage ---------------------------------------------------------------------------------

    @staticmethod
    def _dataset_blob(enterprise_id: str, dataset_id: str) -> str:
        return f"{enterprise_id}/sync/datasets/{dataset_id}.json"

    def _body(self, enterprise_id: str, dataset_id: str) -> dict:
        blob = self._blobs.container().get_blob_client(self._dataset_blob(enterprise_id, dataset_id))
        return json.loads(call_with_retries(lambda: blob.download_blob().readall()))

    @_azure
    def save_dataset(self, dataset: Dataset, lineage: Sequence[DeltaItem]) -> None:
        body = {
            "system": dataset.system,
            "examples": [{"question": e.question, "answer": e.answer, "passage": e.passage,
                          "document_id": e.document_id, "source": e.source, "origin": e.origin,
                          "split": e.split.value, "tokens": e.tokens} for e in dataset.examples],
            "lineage": [{"document_id": i.document_id, "source": i.source, "version": i.version,
                         "content_hash": i.content_hash, "change": i.change.value} for i in lineage],
        }
        blob = self._blobs.container().get_blob_client(self._dataset_blob(dataset.enterprise_id, dataset.id))
        call_with_retries(lambda: blob.upload_blob(json.dumps(body), overwrite=True))
        row = {"PartitionKey": dataset.enterprise_id, "RowKey": f"dataset|{dataset.id}", "space_id": dataset.space_id,
               "base_sequence": dataset.base_sequence,
               "through_sequence": dataset.through_sequence, "examples": len(dataset.examples),
               "created_at": dataset.created_at.isoformat()}
        call_with_retries(lambda: self._table().upsert_entity(row))

    @_azure
    def get_dataset(self, enterprise_id: str, dataset_id: str) -> Dataset:
        row = self._get(enterprise_id, f"dataset|{dataset_id}")
        if row is None:
            raise dataset_not_found(enterprise_id, dataset_id)
        body = self._body(enterprise_id, dataset_id)
        examples = tuple(Example(**{**e, "split": Split(e["split"])}) for e in body["examples"])
        return Dataset(id=dataset_id, enterprise_id=enterprise_id, space_id=row["space_id"], system=body["system"],
                       base_sequence=row["base_sequence"], through_sequence=row["through_sequence"],
                       examples=examples, created_at=datetime.fromisoformat(row["created_at"]))

    @_azure
    def lineage(self, enterprise_id: str, dataset_id: str) -> list[DeltaItem]:
        if self._get(enterprise_id, f"dataset|{dataset_id}") is None:
            return []
        items = [DeltaItem(**{**i, "change": ChangeKind(i["change"])})
                 for i in self._body(enterprise_id, dataset_id)["lineage"]]
        return sorted(items, key=lambda item: item.source)

    @_azure
    def synced_through(self, scope: Scope) -> int:
        space = f"space_id eq {quoted(scope.space_id)}"
        succeeded = {job.get("dataset_id") for job in self._query(
            scope.enterprise_id, f"{_rows('job|')} and {space} and status eq {quoted(SyncStatus.SUCCEEDED.value)}")}
        datasets = self._query(scope.enterprise_id, f"{_rows('dataset|')} and {space}")
        return max((d["through_sequence"] for d in datasets if d["RowKey"].removeprefix("dataset|") in succeeded),
                   default=0)

    # -- jobs -------------------------------------------------------------------------------------------------

    @_azure
    def create_job(self, scope: Scope, backend: str, owner: str) -> SyncJob:
        """The space's `syncing|{space}` row names its latest job; a new job is created only in the transaction that
        moves that row to it, guarded by the row's ETag (or inserting it, for the space's first job), and only while
        the job it named has ended. Of several processes starting a sync at once, one transaction commits; the
        others read the row again and find the winner's job under way."""
        job_id, now = newest_first_id(), _now()
        row = {"PartitionKey": scope.enterprise_id, "RowKey": _job_key(job_id), "space_id": scope.space_id,
               "backend": backend, "status": SyncStatus.CREATED.value, "owner": owner, "message": "",
               "cancel_requested": False, "events": 1, "created_at": now, "updated_at": now}
        event = self._event_row(scope.enterprise_id, job_id, 1, SyncStatus.CREATED,
                                f"created on the {backend} backend", now)
        key = f"syncing|{scope.space_id}"
        latest = {"PartitionKey": scope.enterprise_id, "RowKey": key, "job_id": job_id}
        while True:
            current = self._get(scope.enterprise_id, key)
            if current is not None and current["job_id"] == job_id:
                return _job(row)  # a retried transaction whose first answer was lost
            named = [self._get(scope.enterprise_id, _job_key(current["job_id"]))] if current is not None else (
                self._query(scope.enterprise_id, f"{_UNFINISHED_JOBS} and space_id eq {quoted(scope.space_id)}"))
            under_way = next((job for job in named if job is not None and not SyncStatus(job["status"]).finished),
                             None)  # without the row (jobs stored before it existed): any unfinished job of the space
            if under_way is not None:
                raise SyncUnderWayError(_job(under_way))
            take = ("create", latest) if current is None else ("update", latest, {
                "mode": UpdateMode.REPLACE, "etag": current.metadata["etag"],
                "match_condition": MatchConditions.IfNotModified})
            try:
                self._transact([take, ("create", row), ("create", event)])
            except HttpResponseError as error:
                if _conflict(error):
                    continue  # another process moved the row first: see which job it names now
                raise
            return _job(row)

    @_azure
    def update_job(self, enterprise_id: str, job_id: str, status: SyncStatus | None = None, message: str = "",
                   **fields: str | float | None) -> SyncJob:
        check_job_fields(fields)

        def change(row: dict) -> tuple[dict, tuple[SyncStatus, str] | None]:
            current = SyncStatus(row["status"])
            target = None if current.finished else status
            now = _now()
            row.update({name: _text(value) if isinstance(value, str) else value for name, value in fields.items()},
                       updated_at=now)
            if target is not None:
                row["status"] = target.value
                if target.finished:
                    row["finished_at"] = now
            if message:
                row["message"] = _text(message)
            logged = message or (target is not None and target is not current)
            return row, ((target or current), message or target.value) if logged else None

        return self._change(enterprise_id, job_id, change)

    @_azure
    def request_cancel(self, enterprise_id: str, job_id: str) -> SyncJob:
        return self._change(enterprise_id, job_id, lambda row: ({**row, "cancel_requested": True}, None))

    @_azure
    def cancel_requested(self, enterprise_id: str, job_id: str) -> bool:
        row = self._get(enterprise_id, _job_key(job_id))
        return bool(row and row.get("cancel_requested"))

    @_azure
    def get_job(self, enterprise_id: str, job_id: str) -> SyncJob:
        return _job(self._job_row(enterprise_id, job_id))

    @_azure
    def job_by_remote_id(self, enterprise_id: str, remote_id: str) -> SyncJob | None:
        found = self._query(enterprise_id, f"{_rows('job|')} and remote_id eq {quoted(remote_id)}", limit=1)
        return _job(found[0]) if found else None

    @_azure
    def list_jobs(self, enterprise_id: str, space_id: str | None = None, limit: int = 50) -> list[SyncJob]:
        condition = _rows("job|") + (f" and space_id eq {quoted(space_id)}" if space_id is not None else "")
        return [_job(row) for row in self._query(enterprise_id, condition, limit=limit)]

    @_azure
    def events(self, enterprise_id: str, job_id: str, after_sequence: int = 0) -> list[SyncEvent]:
        condition = (f"RowKey gt {quoted(_event_key(job_id, after_sequence))} and "
                     f"RowKey lt {quoted(f'event|{job_id}|~')}")
        return [SyncEvent(job_id, row["sequence"], datetime.fromisoformat(row["at"]), SyncStatus(row["status"]),
                          row.get("message", "")) for row in self._query(enterprise_id, condition)]

    @_azure
    def add_event(self, enterprise_id: str, job_id: str, status: SyncStatus, message: str) -> None:
        self._change(enterprise_id, job_id, lambda row: (row, (status, message)))

    @_azure
    def record_metrics(self, enterprise_id: str, job_id: str, metrics: Sequence[Metric]) -> None:
        self._job_row(enterprise_id, job_id)
        self._transact([("upsert", {
            "PartitionKey": enterprise_id, "RowKey": f"metric|{job_id}|{m.step:010d}", "step": m.step,
            "train_loss": m.train_loss, "validation_loss": m.validation_loss, "accuracy": m.accuracy,
        }) for m in metrics])

    @_azure
    def metrics(self, enterprise_id: str, job_id: str) -> list[Metric]:
        rows = self._query(enterprise_id, _rows(f"metric|{job_id}|"))
        return [Metric(row["step"], row.get("train_loss"), row.get("validation_loss"), row.get("accuracy"))
                for row in rows]

    @_azure
    def claim_orphans(self, enterprise_id: str, owner: str, owner_alive: Callable[[str], bool],
                      claim_remote: bool = True) -> list[SyncJob]:
        orphans = [row for row in self._query(enterprise_id, _UNFINISHED_JOBS)
                   if not owner_alive(row["owner"])]
        claimed = []
        for orphan in orphans:
            remote = bool(orphan.get("remote_id")) and orphan["backend"] != "local"
            if remote and not claim_remote:
                continue
            taken: list[bool] = []  # what the attempt that was written decided

            def take_over(row: dict, dead: str = orphan["owner"], remote: bool = remote, taken: list = taken):
                taken.clear()
                if row["owner"] != dead or SyncStatus(row["status"]).finished:
                    return None  # another process claimed or finished it since we listed it
                taken.append(remote)
                now = _now()
                if remote:
                    return {**row, "owner": owner, "updated_at": now}, None
                return ({**row, "status": SyncStatus.INTERRUPTED.value, "error": ORPHANED, "message": ORPHANED,
                         "updated_at": now, "finished_at": now}, (SyncStatus.INTERRUPTED, ORPHANED))

            job = self._change(enterprise_id, orphan["RowKey"].removeprefix("job|"), take_over)
            if taken == [True]:
                claimed.append(job)
        return claimed

    # -- model versions ---------------------------------------------------------------------------------------

    @_azure
    def add_model(self, model: ModelVersion) -> ModelVersion:
        row = {"PartitionKey": model.enterprise_id, "RowKey": f"model|{model.id}", "space_id": model.space_id,
               "job_id": model.job_id, "dataset_id": model.dataset_id, "backend": model.backend, "kind": model.kind,
               "reference": model.reference, "score_before": model.score_before, "score_after": model.score_after,
               "active": False, "created_at": model.created_at.isoformat(), "added": f"{time.time_ns():020d}",
               "deployment": model.deployment}
        try:
            call_with_retries(lambda: self._table().create_entity(row))
        except ResourceExistsError:
            pass  # a retried create whose first answer was lost
        return self.get_model(model.enterprise_id, model.id)

    @_azure
    def record_evaluation(self, enterprise_id: str, model_id: str, reference: str, score_before: float | None,
                          score_after: float) -> ModelVersion:
        return self._update_model(enterprise_id, model_id, {"reference": reference, "deployment": reference,
                                                            "score_before": score_before, "score_after": score_after})

    @_azure
    def record_undeployed(self, enterprise_id: str, model_id: str, reference: str) -> ModelVersion:
        return self._update_model(enterprise_id, model_id, {"reference": reference})

    def _update_model(self, enterprise_id: str, model_id: str, changes: dict) -> ModelVersion:
        while True:
            row = self._get(enterprise_id, f"model|{model_id}")
            if row is None:
                raise model_not_found(enterprise_id, model_id)
            updated = {**row, **changes}
            try:
                call_with_retries(lambda: self._table().update_entity(
                    updated, mode=UpdateMode.REPLACE, etag=row.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified))
            except ResourceModifiedError:
                continue  # activated or evaluated meanwhile: apply the changes to what is there now
            return _model(updated)

    @_azure
    def activate_model(self, scope: Scope, model_id: str | None) -> None:
        """One transaction for the rows whose flag changes (the old active version and the new one)."""
        key = f"model|{model_id}"
        self._transact([("update", {"PartitionKey": scope.enterprise_id, "RowKey": row["RowKey"],
                                    "active": row["RowKey"] == key})
                        for row in self._model_rows(scope) if bool(row.get("active")) != (row["RowKey"] == key)])

    @_azure
    def get_model(self, enterprise_id: str, model_id: str) -> ModelVersion:
        row = self._get(enterprise_id, f"model|{model_id}")
        if row is None:
            raise model_not_found(enterprise_id, model_id)
        return _model(row)

    @_azure
    def list_models(self, scope: Scope) -> list[ModelVersion]:
        rows = sorted(self._model_rows(scope), key=lambda row: (row["created_at"], row["added"]), reverse=True)
        return [_model(row) for row in rows]

    def active_model(self, scope: Scope) -> ModelVersion | None:
        return next((model for model in self.list_models(scope) if model.active), None)

    def _model_rows(self, scope: Scope) -> list[dict]:
        return self._query(scope.enterprise_id, f"{_rows('model|')} and space_id eq {quoted(scope.space_id)}")

    # -- automatic sync ---------------------------------------------------------------------------------------

    @_azure
    def auto_sync_state(self, scope: Scope) -> AutoSyncState:
        row = self._get(scope.enterprise_id, f"auto|{scope.space_id}")
        return auto_state_from_json(row["state"]) if row else AutoSyncState(scope.space_id)

    @_azure
    def save_auto_sync_state(self, scope: Scope, state: AutoSyncState) -> AutoSyncState | None:
        """Insert (version 0) or replace guarded by the ETag of the row read at `state.version`; a conflict that
        turns out to be this very write (a retried call whose first answer was lost) still counts as saved."""
        key = f"auto|{scope.space_id}"
        saved = replace(state, version=state.version + 1)
        row = {"PartitionKey": scope.enterprise_id, "RowKey": key, "version": saved.version,
               "state": auto_state_json(saved)}
        try:
            if state.version == 0:
                call_with_retries(lambda: self._table().create_entity(row))
                return saved
            current = self._get(scope.enterprise_id, key)
            if current is None or current["version"] != state.version:
                return None
            call_with_retries(lambda: self._table().update_entity(
                row, mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                match_condition=MatchConditions.IfNotModified))
            return saved
        except (ResourceExistsError, ResourceModifiedError):
            stored = self._get(scope.enterprise_id, key)
            return saved if stored is not None and stored["state"] == row["state"] else None

    # -- helpers ----------------------------------------------------------------------------------------------

    def _job_row(self, enterprise_id: str, job_id: str) -> dict:
        row = self._get(enterprise_id, _job_key(job_id))
        if row is None:
            raise job_not_found(enterprise_id, job_id)
        return row

    @staticmethod
    def _event_row(enterprise_id: str, job_id: str, sequence: int, status: SyncStatus, message: str,
                   at: str) -> dict:
        return {"PartitionKey": enterprise_id, "RowKey": _event_key(job_id, sequence), "sequence": sequence,
                "at": at, "status": status.value, "message": _text(message)}

    def _change(self, enterprise_id: str, job_id: str, change: Change) -> SyncJob:
        """Apply `change(row)` to a job row and append the event it returns, in one transaction guarded by the
        row's ETag; on a conflict read the row again and redo. `change` returns None to leave the row alone.

        Each attempt carries the same write id, kept on the row: a transaction that committed but whose answer was
        lost (and so looks like a conflict on its retry) is recognised instead of being applied twice.
        """
        write_id = uuid.uuid4().hex
        while True:
            row = self._job_row(enterprise_id, job_id)
            if row.get("write_id") == write_id:
                return _job(row)
            changed = change(dict(row))
            if changed is None:
                return _job(row)
            updated, event = changed
            updated = {**updated, "write_id": write_id}
            operations: list[tuple] = []
            if event is not None:
                updated["events"] = row.get("events", 0) + 1
                operations.append(("create", self._event_row(enterprise_id, job_id, updated["events"], *event,
                                                             _now())))
            guard = {"mode": UpdateMode.REPLACE, "etag": row.metadata["etag"],
                     "match_condition": MatchConditions.IfNotModified}
            try:
                self._transact([("update", updated, guard), *operations])
            except HttpResponseError as error:
                if _conflict(error):
                    continue
                raise
            return _job(updated)
