"""Where sync state lives: the `SyncStore` protocol, and its implementation in the embedded SQLite database.

Sync state is the datasets with their lineage, sync jobs with events and metrics, and a space's model versions.
`workspace.build_sync_store` picks the implementation for `store.backend` (this one for `embedded`,
`sync.table_store.TableSyncStore` for `azure`). Every call names the enterprise, so an implementation can keep each
tenant in its own partition. The SQLite one shares the `Database` (and so the migrations and the write lock) with
the knowledge and job stores; its tables are created by migration 3.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import datetime
from typing import Protocol

from lmspace_core.domain import ChangeKind, Scope
from lmspace_core.errors import AlreadyExistsError, NotFoundError
from lmspace_core.stores.local.database import Database, utc_now
from lmspace_core.sync.model import (
    AutoSyncHold,
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

UNFINISHED = tuple(status.value for status in SyncStatus if not status.finished)
_JOB_FIELDS = frozenset({"dataset_id", "remote_id", "model_id", "model_version_id", "score_before", "score_after",
                         "error", "steps_done", "steps_total"})
ORPHANED = "The process running this job stopped before it finished."


def new_id() -> str:
    return uuid.uuid4().hex[:16]


def check_job_fields(fields: dict) -> None:
    """Refuse job fields `update_job` does not know (a typo would otherwise be lost silently)."""
    unknown = set(fields) - _JOB_FIELDS
    if unknown:
        raise ValueError(f"unknown sync job fields: {sorted(unknown)}")


def job_not_found(enterprise_id: str, job_id: str) -> NotFoundError:
    return NotFoundError(
        f"No sync job {job_id} in enterprise '{enterprise_id}'; list them with `lmspace sync status SPACE`."
    )


def dataset_not_found(enterprise_id: str, dataset_id: str) -> NotFoundError:
    return NotFoundError(f"No sync dataset {dataset_id} in enterprise '{enterprise_id}'.")


def model_not_found(enterprise_id: str, model_id: str) -> NotFoundError:
    return NotFoundError(
        f"No model version {model_id} in enterprise '{enterprise_id}'; list them with `lmspace sync models`."
    )


class SyncUnderWayError(AlreadyExistsError):
    """A space already has a sync job that has not ended (created, validating, queued or running). A second one
    would train on the same delta again and race the first to switch the space's model, so `create_job` refuses it;
    a job whose process died (`interrupted`) does not count."""

    def __init__(self, job: SyncJob, space_name: str | None = None) -> None:
        name = space_name or job.space_id
        started = job.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        super().__init__(
            f"Space '{name}' already has sync job {job.id} under way ({job.status.value} on the {job.backend} "
            f"backend, started {started}); a space runs one sync at a time. Follow it with `lmspace sync status "
            f"{name} --job {job.id}` (events: `lmspace sync events {name} --job {job.id}`), or stop it with "
            f"`lmspace sync cancel {name} --job {job.id}` and start again once it has ended."
        )
        self.job = job


def auto_state_json(state: AutoSyncState) -> str:
    """How both stores keep a space's automatic sync state: one JSON text beside its version."""
    return json.dumps(asdict(state), default=datetime.isoformat, sort_keys=True)


def auto_state_from_json(text: str) -> AutoSyncState:
    fields = json.loads(text)
    hold = fields["hold"]
    if hold is not None:
        hold = AutoSyncHold(**{**hold, "failed_at": datetime.fromisoformat(hold["failed_at"]),
                               "retry_at": datetime.fromisoformat(hold["retry_at"])})
    return AutoSyncState(**{**fields, "requested_at": _time(fields["requested_at"]), "hold": hold})


class SyncStore(Protocol):
    """Sync state of every space of an enterprise. Writes are atomic per call: a job's status and the event that
    records the change are stored together or not at all."""

    def close(self) -> None:
        """Release the store's connections."""

    def save_dataset(self, dataset: Dataset, lineage: Sequence[DeltaItem]) -> None:
        """Store a dataset, its examples and which document versions went into it (its lineage)."""

    def get_dataset(self, enterprise_id: str, dataset_id: str) -> Dataset:
        """The dataset with its examples in order; `NotFoundError` when the enterprise has none of that id."""

    def lineage(self, enterprise_id: str, dataset_id: str) -> list[DeltaItem]:
        """Which documents, at which versions, went into a dataset (by source; empty for an unknown dataset)."""

    def synced_through(self, scope: Scope) -> int:
        """The change-log position the space's last successful sync included (0 when it never synced)."""

    def create_job(self, scope: Scope, backend: str, owner: str) -> SyncJob:
        """A new job in status `created` (its first event), run by the process `owner` (`jobs.this_process_owner`).

        Raises `SyncUnderWayError` when the space has an unfinished job: of several processes starting a sync of one
        space at once, exactly one gets a job."""

    def update_job(self, enterprise_id: str, job_id: str, status: SyncStatus | None = None, message: str = "",
                   **fields: str | float | None) -> SyncJob:
        """Change a job's status and/or fields (`remote_id`, `model_id`, `error`, scores, `steps_done` and
        `steps_total`...) and log `message` (none is logged when only fields change, e.g. the progress per step).

        A finished job keeps its final status: a late poll cannot turn a cancelled job back into a running one.
        """

    def request_cancel(self, enterprise_id: str, job_id: str) -> SyncJob:
        """Flag a job for cancelling; the process running it sees the flag at its next step or poll."""

    def cancel_requested(self, enterprise_id: str, job_id: str) -> bool: ...

    def get_job(self, enterprise_id: str, job_id: str) -> SyncJob:
        """The job; `NotFoundError` when the enterprise has none of that id."""

    def job_by_remote_id(self, enterprise_id: str, remote_id: str) -> SyncJob | None:
        """The newest job of the enterprise that a backend knows by `remote_id`."""

    def list_jobs(self, enterprise_id: str, space_id: str | None = None, limit: int = 50) -> list[SyncJob]:
        """Jobs newest first: of one space, or of every space of the enterprise when `space_id` is None."""

    def events(self, enterprise_id: str, job_id: str, after_sequence: int = 0) -> list[SyncEvent]:
        """A job's events after `after_sequence` (1 is its first), in order."""

    def add_event(self, enterprise_id: str, job_id: str, status: SyncStatus, message: str) -> None: ...

    def record_metrics(self, enterprise_id: str, job_id: str, metrics: Sequence[Metric]) -> None:
        """Store metrics per step; a step reported again (a re-poll after a restart) replaces the earlier one."""

    def metrics(self, enterprise_id: str, job_id: str) -> list[Metric]:
        """A job's metrics by step."""

    def claim_orphans(self, enterprise_id: str, owner: str, owner_alive: Callable[[str], bool],
                      claim_remote: bool = True) -> list[SyncJob]:
        """Take over the enterprise's unfinished jobs whose process died: a job with a remote id is claimed by
        `owner` to be polled again (returned; left alone when not `claim_remote`); one without (a local job, or one
        that died before its upload) is marked interrupted."""

    def add_model(self, model: ModelVersion) -> ModelVersion:
        """Record a model version (inactive)."""

    def record_evaluation(self, enterprise_id: str, model_id: str, reference: str, score_before: float | None,
                          score_after: float) -> ModelVersion:
        """Record how a model version scored, and the deployment that answered (now its reference)."""

    def record_undeployed(self, enterprise_id: str, model_id: str, reference: str) -> ModelVersion:
        """A version's deployment was deleted: its reference is the fine-tuned model `reference` again, and its
        `deployment` the name it would be served by, so it awaits a deployment before it can be activated."""

    def activate_model(self, scope: Scope, model_id: str | None) -> None:
        """Make one model version the space's active one (None: back to the base model, no version active)."""

    def get_model(self, enterprise_id: str, model_id: str) -> ModelVersion:
        """The model version; `NotFoundError` when the enterprise has none of that id."""

    def list_models(self, scope: Scope) -> list[ModelVersion]:
        """A space's model versions, newest first."""

    def active_model(self, scope: Scope) -> ModelVersion | None: ...

    def auto_sync_state(self, scope: Scope) -> AutoSyncState:
        """The space's automatic sync state (version 0, nothing queued, no hold, when none was ever saved)."""

    def save_auto_sync_state(self, scope: Scope, state: AutoSyncState) -> AutoSyncState | None:
        """Save `state` as the next version, only if the stored one is still `state.version` (0: none stored);
        return what was saved, or None when another process wrote first (read again to see what it did)."""


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _job(row: sqlite3.Row) -> SyncJob:
    return SyncJob(
        id=row["id"], enterprise_id=row["enterprise_id"], space_id=row["space_id"], backend=row["backend"],
        status=SyncStatus(row["status"]), dataset_id=row["dataset_id"], remote_id=row["remote_id"],
        model_id=row["model_id"], model_version_id=row["model_version_id"], score_before=row["score_before"],
        score_after=row["score_after"], message=row["message"], error=row["error"],
        created_at=datetime.fromisoformat(row["created_at"]), updated_at=datetime.fromisoformat(row["updated_at"]),
        finished_at=_time(row["finished_at"]), steps_done=row["steps_done"], steps_total=row["steps_total"],
    )


def _model(row: sqlite3.Row) -> ModelVersion:
    return ModelVersion(
        id=row["id"], enterprise_id=row["enterprise_id"], space_id=row["space_id"], job_id=row["job_id"],
        dataset_id=row["dataset_id"], backend=row["backend"], kind=row["kind"], reference=row["reference"],
        score_before=row["score_before"], score_after=row["score_after"], active=bool(row["active"]),
        created_at=datetime.fromisoformat(row["created_at"]), deployment=row["deployment"],
    )


class SqliteSyncStore:
    """`SyncStore` in the embedded database: each method is one transaction."""

    def __init__(self, database: Database) -> None:
        self._db = database

    # -- datasets and lineage ---------------------------------------------------------------------------------

    def close(self) -> None:
        self._db.close()

    def save_dataset(self, dataset: Dataset, lineage: Sequence[DeltaItem]) -> None:
        """Store a dataset, its examples and which document versions went into it, in one transaction."""
        with self._db.write() as connection:
            connection.execute(
                "INSERT INTO sync_datasets (id, enterprise_id, space_id, system, base_sequence, through_sequence, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (dataset.id, dataset.enterprise_id, dataset.space_id, dataset.system, dataset.base_sequence,
                 dataset.through_sequence, dataset.created_at.isoformat()),
            )
            connection.executemany(
                "INSERT INTO sync_examples (dataset_id, ordinal, split, question, answer, passage, document_id, "
                "source, origin, tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(dataset.id, ordinal, e.split.value, e.question, e.answer, e.passage, e.document_id, e.source,
                  e.origin, e.tokens) for ordinal, e in enumerate(dataset.examples)],
            )
            connection.executemany(
                "INSERT INTO sync_lineage (dataset_id, document_id, source, version, content_hash, change) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(dataset.id, i.document_id, i.source, i.version, i.content_hash, i.change.value) for i in lineage],
            )

    def get_dataset(self, enterprise_id: str, dataset_id: str) -> Dataset:
        with self._db.read() as connection:
            row = connection.execute(
                "SELECT * FROM sync_datasets WHERE enterprise_id = ? AND id = ?", (enterprise_id, dataset_id)
            ).fetchone()
            stored = connection.execute(
                "SELECT * FROM sync_examples WHERE dataset_id = ? ORDER BY ordinal", (dataset_id,)
            ).fetchall()
        if row is None:
            raise dataset_not_found(enterprise_id, dataset_id)
        examples = tuple(
            Example(question=e["question"], answer=e["answer"], passage=e["passage"], document_id=e["document_id"],
                    source=e["source"], origin=e["origin"], split=Split(e["split"]), tokens=e["tokens"])
            for e in stored
        )
        return Dataset(id=row["id"], enterprise_id=row["enterprise_id"], space_id=row["space_id"],
                       system=row["system"], base_sequence=row["base_sequence"],
                       through_sequence=row["through_sequence"], examples=examples,
                       created_at=datetime.fromisoformat(row["created_at"]))

    def lineage(self, enterprise_id: str, dataset_id: str) -> list[DeltaItem]:
        rows = self._db.fetch_all(
            "SELECT l.* FROM sync_lineage l JOIN sync_datasets d ON d.id = l.dataset_id "
            "WHERE d.enterprise_id = ? AND l.dataset_id = ? ORDER BY l.source", (enterprise_id, dataset_id)
        )
        return [DeltaItem(r["document_id"], r["source"], r["version"], r["content_hash"], ChangeKind(r["change"]))
                for r in rows]

    def synced_through(self, scope: Scope) -> int:
        row = self._db.fetch_one(
            "SELECT MAX(d.through_sequence) FROM sync_jobs j JOIN sync_datasets d ON d.id = j.dataset_id "
            "WHERE j.enterprise_id = ? AND j.space_id = ? AND j.status = ?",
            (scope.enterprise_id, scope.space_id, SyncStatus.SUCCEEDED.value),
        )
        return row[0] or 0

    # -- jobs -------------------------------------------------------------------------------------------------

    def create_job(self, scope: Scope, backend: str, owner: str) -> SyncJob:
        """The check for an unfinished job and the insert share one write transaction, which holds SQLite's write
        lock (`BEGIN IMMEDIATE`), so no other process can create a job of the space in between."""
        job_id, now = new_id(), utc_now()
        with self._db.write() as connection:
            under_way = connection.execute(
                f"SELECT * FROM sync_jobs WHERE enterprise_id = ? AND space_id = ? "
                f"AND status IN ({','.join('?' * len(UNFINISHED))}) ORDER BY created_at LIMIT 1",
                (scope.enterprise_id, scope.space_id, *UNFINISHED),
            ).fetchone()
            if under_way is not None:
                raise SyncUnderWayError(_job(under_way))
            connection.execute(
                "INSERT INTO sync_jobs (id, enterprise_id, space_id, backend, status, owner, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, scope.enterprise_id, scope.space_id, backend, SyncStatus.CREATED.value, owner, now, now),
            )
            self._event(connection, job_id, SyncStatus.CREATED, f"created on the {backend} backend", now)
        return self.get_job(scope.enterprise_id, job_id)

    def update_job(self, enterprise_id: str, job_id: str, status: SyncStatus | None = None, message: str = "",
                   **fields: str | float | None) -> SyncJob:
        check_job_fields(fields)
        now = utc_now()
        with self._db.write() as connection:
            row = self._job_row(connection, enterprise_id, job_id)
            current = SyncStatus(row["status"])
            if current.finished:
                status = None
            assignments = {**fields, "updated_at": now}
            if status is not None:
                assignments["status"] = status.value
                if status.finished:
                    assignments["finished_at"] = now
            if message:
                assignments["message"] = message
            connection.execute(
                f"UPDATE sync_jobs SET {', '.join(f'{name} = ?' for name in assignments)} WHERE id = ?",
                (*assignments.values(), job_id),
            )
            if message or (status is not None and status is not current):
                self._event(connection, job_id, status or current, message or status.value, now)
        return self.get_job(enterprise_id, job_id)

    def request_cancel(self, enterprise_id: str, job_id: str) -> SyncJob:
        with self._db.write() as connection:
            self._job_row(connection, enterprise_id, job_id)
            connection.execute("UPDATE sync_jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
        return self.get_job(enterprise_id, job_id)

    def cancel_requested(self, enterprise_id: str, job_id: str) -> bool:
        row = self._db.fetch_one(
            "SELECT cancel_requested FROM sync_jobs WHERE enterprise_id = ? AND id = ?", (enterprise_id, job_id)
        )
        return bool(row and row[0])

    def get_job(self, enterprise_id: str, job_id: str) -> SyncJob:
        with self._db.read() as connection:
            return _job(self._job_row(connection, enterprise_id, job_id))

    def job_by_remote_id(self, enterprise_id: str, remote_id: str) -> SyncJob | None:
        row = self._db.fetch_one(
            "SELECT * FROM sync_jobs WHERE enterprise_id = ? AND remote_id = ? ORDER BY created_at DESC LIMIT 1",
            (enterprise_id, remote_id),
        )
        return _job(row) if row else None

    def list_jobs(self, enterprise_id: str, space_id: str | None = None, limit: int = 50) -> list[SyncJob]:
        query, params = "SELECT * FROM sync_jobs WHERE enterprise_id = ?", [enterprise_id]
        if space_id is not None:
            query += " AND space_id = ?"
            params.append(space_id)
        rows = self._db.fetch_all(query + " ORDER BY created_at DESC LIMIT ?", (*params, limit))
        return [_job(row) for row in rows]

    def events(self, enterprise_id: str, job_id: str, after_sequence: int = 0) -> list[SyncEvent]:
        rows = self._db.fetch_all(
            "SELECT e.* FROM sync_events e JOIN sync_jobs j ON j.id = e.job_id "
            "WHERE j.enterprise_id = ? AND e.job_id = ? AND e.sequence > ? ORDER BY e.sequence",
            (enterprise_id, job_id, after_sequence),
        )
        return [SyncEvent(r["job_id"], r["sequence"], datetime.fromisoformat(r["at"]), SyncStatus(r["status"]),
                          r["message"]) for r in rows]

    def add_event(self, enterprise_id: str, job_id: str, status: SyncStatus, message: str) -> None:
        with self._db.write() as connection:
            self._job_row(connection, enterprise_id, job_id)
            self._event(connection, job_id, status, message, utc_now())

    def record_metrics(self, enterprise_id: str, job_id: str, metrics: Sequence[Metric]) -> None:
        with self._db.write() as connection:
            self._job_row(connection, enterprise_id, job_id)
            connection.executemany(
                "INSERT OR REPLACE INTO sync_metrics (job_id, step, train_loss, validation_loss, accuracy) "
                "VALUES (?, ?, ?, ?, ?)",
                [(job_id, m.step, m.train_loss, m.validation_loss, m.accuracy) for m in metrics],
            )

    def metrics(self, enterprise_id: str, job_id: str) -> list[Metric]:
        rows = self._db.fetch_all(
            "SELECT m.* FROM sync_metrics m JOIN sync_jobs j ON j.id = m.job_id "
            "WHERE j.enterprise_id = ? AND m.job_id = ? ORDER BY m.step", (enterprise_id, job_id)
        )
        return [Metric(r["step"], r["train_loss"], r["validation_loss"], r["accuracy"]) for r in rows]

    def claim_orphans(
        self, enterprise_id: str, owner: str, owner_alive: Callable[[str], bool], claim_remote: bool = True
    ) -> list[SyncJob]:
        now = utc_now()
        with self._db.write() as connection:
            rows = connection.execute(
                f"SELECT * FROM sync_jobs WHERE enterprise_id = ? AND status IN ({','.join('?' * len(UNFINISHED))})",
                (enterprise_id, *UNFINISHED),
            ).fetchall()
            claimed = []
            for row in rows:
                if owner_alive(row["owner"]):
                    continue
                if row["remote_id"] and row["backend"] != "local":
                    if not claim_remote:
                        continue
                    connection.execute("UPDATE sync_jobs SET owner = ?, updated_at = ? WHERE id = ?",
                                       (owner, now, row["id"]))
                    claimed.append(row["id"])
                    continue
                connection.execute(
                    "UPDATE sync_jobs SET status = ?, error = ?, message = ?, updated_at = ?, finished_at = ? "
                    "WHERE id = ?",
                    (SyncStatus.INTERRUPTED.value, ORPHANED, ORPHANED, now, now, row["id"]),
                )
                self._event(connection, row["id"], SyncStatus.INTERRUPTED, ORPHANED, now)
        return [self.get_job(row["enterprise_id"], row["id"]) for row in rows if row["id"] in claimed]

    # -- model versions ---------------------------------------------------------------------------------------

    def add_model(self, model: ModelVersion) -> ModelVersion:
        with self._db.write() as connection:
            connection.execute(
                "INSERT INTO sync_models (id, enterprise_id, space_id, job_id, dataset_id, backend, kind, reference, "
                "score_before, score_after, active, created_at, deployment) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                (model.id, model.enterprise_id, model.space_id, model.job_id, model.dataset_id, model.backend,
                 model.kind, model.reference, model.score_before, model.score_after, model.created_at.isoformat(),
                 model.deployment),
            )
        return self.get_model(model.enterprise_id, model.id)

    def record_evaluation(self, enterprise_id: str, model_id: str, reference: str, score_before: float | None,
                          score_after: float) -> ModelVersion:
        """Record how a model version scored, and the deployment that answered (now its reference)."""
        with self._db.write() as connection:
            connection.execute(
                "UPDATE sync_models SET reference = ?, deployment = ?, score_before = ?, score_after = ? "
                "WHERE enterprise_id = ? AND id = ?", (reference, reference, score_before, score_after, enterprise_id,
                                                        model_id),
            )
        return self.get_model(enterprise_id, model_id)

    def record_undeployed(self, enterprise_id: str, model_id: str, reference: str) -> ModelVersion:
        with self._db.write() as connection:
            connection.execute("UPDATE sync_models SET reference = ? WHERE enterprise_id = ? AND id = ?",
                               (reference, enterprise_id, model_id))
        return self.get_model(enterprise_id, model_id)

    def activate_model(self, scope: Scope, model_id: str | None) -> None:
        with self._db.write() as connection:
            connection.execute("UPDATE sync_models SET active = 0 WHERE enterprise_id = ? AND space_id = ?",
                               (scope.enterprise_id, scope.space_id))
            if model_id is not None:
                connection.execute(
                    "UPDATE sync_models SET active = 1 WHERE enterprise_id = ? AND space_id = ? AND id = ?",
                    (scope.enterprise_id, scope.space_id, model_id),
                )

    def get_model(self, enterprise_id: str, model_id: str) -> ModelVersion:
        row = self._db.fetch_one(
            "SELECT * FROM sync_models WHERE enterprise_id = ? AND id = ?", (enterprise_id, model_id)
        )
        if row is None:
            raise model_not_found(enterprise_id, model_id)
        return _model(row)

    def list_models(self, scope: Scope) -> list[ModelVersion]:
        rows = self._db.fetch_all(
            "SELECT * FROM sync_models WHERE enterprise_id = ? AND space_id = ? ORDER BY created_at DESC, rowid DESC",
            (scope.enterprise_id, scope.space_id),
        )
        return [_model(row) for row in rows]

    def active_model(self, scope: Scope) -> ModelVersion | None:
        return next((model for model in self.list_models(scope) if model.active), None)

    # -- automatic sync ---------------------------------------------------------------------------------------

    def auto_sync_state(self, scope: Scope) -> AutoSyncState:
        row = self._db.fetch_one("SELECT state FROM sync_auto WHERE enterprise_id = ? AND space_id = ?",
                                 (scope.enterprise_id, scope.space_id))
        return auto_state_from_json(row["state"]) if row else AutoSyncState(scope.space_id)

    def save_auto_sync_state(self, scope: Scope, state: AutoSyncState) -> AutoSyncState | None:
        saved = replace(state, version=state.version + 1)
        with self._db.write() as connection:
            if state.version == 0:
                written = connection.execute(
                    "INSERT OR IGNORE INTO sync_auto (enterprise_id, space_id, version, state) VALUES (?, ?, ?, ?)",
                    (scope.enterprise_id, scope.space_id, saved.version, auto_state_json(saved)))
            else:
                written = connection.execute(
                    "UPDATE sync_auto SET version = ?, state = ? WHERE enterprise_id = ? AND space_id = ? "
                    "AND version = ?",
                    (saved.version, auto_state_json(saved), scope.enterprise_id, scope.space_id, state.version))
        return saved if written.rowcount == 1 else None

    # -- helpers ----------------------------------------------------------------------------------------------

    @staticmethod
    def _job_row(connection: sqlite3.Connection, enterprise_id: str, job_id: str) -> sqlite3.Row:
        row = connection.execute(
            "SELECT * FROM sync_jobs WHERE enterprise_id = ? AND id = ?", (enterprise_id, job_id)
        ).fetchone()
        if row is None:
            raise job_not_found(enterprise_id, job_id)
        return row

    @staticmethod
    def _event(connection: sqlite3.Connection, job_id: str, status: SyncStatus, message: str, at: str) -> None:
        connection.execute(
            "INSERT INTO sync_events (job_id, sequence, at, status, message) "
            "SELECT ?, COALESCE(MAX(sequence), 0) + 1, ?, ?, ? FROM sync_events WHERE job_id = ?",
            (job_id, at, status.value, message, job_id),
        )
