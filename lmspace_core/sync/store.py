"""Sync state in the embedded SQLite database: datasets with lineage, sync jobs with events and metrics, models.

It shares the `Database` (and so the migrations and the write lock) with the knowledge and job stores; the tables
are created by migration 3.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from lmspace_core.domain import ChangeKind, Scope
from lmspace_core.errors import NotFoundError
from lmspace_core.stores.local.database import Database, utc_now
from lmspace_core.sync.model import (
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

_UNFINISHED = tuple(status.value for status in SyncStatus if not status.finished)
_JOB_FIELDS = frozenset({"dataset_id", "remote_id", "model_id", "model_version_id", "score_before", "score_after",
                         "error"})


def new_id() -> str:
    return uuid.uuid4().hex[:16]


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _job(row: sqlite3.Row) -> SyncJob:
    return SyncJob(
        id=row["id"], enterprise_id=row["enterprise_id"], space_id=row["space_id"], backend=row["backend"],
        status=SyncStatus(row["status"]), dataset_id=row["dataset_id"], remote_id=row["remote_id"],
        model_id=row["model_id"], model_version_id=row["model_version_id"], score_before=row["score_before"],
        score_after=row["score_after"], message=row["message"], error=row["error"],
        created_at=datetime.fromisoformat(row["created_at"]), updated_at=datetime.fromisoformat(row["updated_at"]),
        finished_at=_time(row["finished_at"]),
    )


def _model(row: sqlite3.Row) -> ModelVersion:
    return ModelVersion(
        id=row["id"], enterprise_id=row["enterprise_id"], space_id=row["space_id"], job_id=row["job_id"],
        dataset_id=row["dataset_id"], backend=row["backend"], kind=row["kind"], reference=row["reference"],
        score_before=row["score_before"], score_after=row["score_after"], active=bool(row["active"]),
        created_at=datetime.fromisoformat(row["created_at"]), deployment=row["deployment"],
    )


class SyncStore:
    """Reads and writes every sync table; each method is one transaction."""

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
            raise NotFoundError(f"No sync dataset {dataset_id} in enterprise '{enterprise_id}'.")
        examples = tuple(
            Example(question=e["question"], answer=e["answer"], passage=e["passage"], document_id=e["document_id"],
                    source=e["source"], origin=e["origin"], split=Split(e["split"]), tokens=e["tokens"])
            for e in stored
        )
        return Dataset(id=row["id"], enterprise_id=row["enterprise_id"], space_id=row["space_id"],
                       system=row["system"], base_sequence=row["base_sequence"],
                       through_sequence=row["through_sequence"], examples=examples,
                       created_at=datetime.fromisoformat(row["created_at"]))

    def lineage(self, dataset_id: str) -> list[DeltaItem]:
        """Which documents, at which versions, went into a dataset."""
        rows = self._db.fetch_all(
            "SELECT * FROM sync_lineage WHERE dataset_id = ? ORDER BY source", (dataset_id,)
        )
        return [DeltaItem(r["document_id"], r["source"], r["version"], r["content_hash"], ChangeKind(r["change"]))
                for r in rows]

    def synced_through(self, scope: Scope) -> int:
        """The change-log position the space's last successful sync included (0 when it never synced)."""
        row = self._db.fetch_one(
            "SELECT MAX(d.through_sequence) FROM sync_jobs j JOIN sync_datasets d ON d.id = j.dataset_id "
            "WHERE j.enterprise_id = ? AND j.space_id = ? AND j.status = ?",
            (scope.enterprise_id, scope.space_id, SyncStatus.SUCCEEDED.value),
        )
        return row[0] or 0

    # -- jobs -------------------------------------------------------------------------------------------------

    def create_job(self, scope: Scope, backend: str, owner: str) -> SyncJob:
        job_id, now = new_id(), utc_now()
        with self._db.write() as connection:
            connection.execute(
                "INSERT INTO sync_jobs (id, enterprise_id, space_id, backend, status, owner, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, scope.enterprise_id, scope.space_id, backend, SyncStatus.CREATED.value, owner, now, now),
            )
            self._event(connection, job_id, SyncStatus.CREATED, f"created on the {backend} backend", now)
        return self.get_job(scope.enterprise_id, job_id)

    def update_job(self, enterprise_id: str, job_id: str, status: SyncStatus | None = None, message: str = "",
                   **fields: str | float | None) -> SyncJob:
        """Change a job's status and/or fields (`remote_id`, `model_id`, `error`, scores...) and log `message`.

        A finished job keeps its final status: a late poll cannot turn a cancelled job back into a running one.
        """
        unknown = set(fields) - _JOB_FIELDS
        if unknown:
            raise ValueError(f"unknown sync job fields: {sorted(unknown)}")
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
        """Flag a job for cancelling; the process running it sees the flag at its next step or poll."""
        with self._db.write() as connection:
            self._job_row(connection, enterprise_id, job_id)
            connection.execute("UPDATE sync_jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
        return self.get_job(enterprise_id, job_id)

    def cancel_requested(self, job_id: str) -> bool:
        row = self._db.fetch_one(
            "SELECT cancel_requested FROM sync_jobs WHERE id = ?", (job_id,)
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

    def events(self, job_id: str, after_sequence: int = 0) -> list[SyncEvent]:
        rows = self._db.fetch_all(
            "SELECT * FROM sync_events WHERE job_id = ? AND sequence > ? ORDER BY sequence", (job_id, after_sequence)
        )
        return [SyncEvent(r["job_id"], r["sequence"], datetime.fromisoformat(r["at"]), SyncStatus(r["status"]),
                          r["message"]) for r in rows]

    def add_event(self, job_id: str, status: SyncStatus, message: str) -> None:
        with self._db.write() as connection:
            self._event(connection, job_id, status, message, utc_now())

    def record_metrics(self, job_id: str, metrics: Sequence[Metric]) -> None:
        """Store metrics per step; a step reported again (a re-poll after a restart) replaces the earlier row."""
        with self._db.write() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO sync_metrics (job_id, step, train_loss, validation_loss, accuracy) "
                "VALUES (?, ?, ?, ?, ?)",
                [(job_id, m.step, m.train_loss, m.validation_loss, m.accuracy) for m in metrics],
            )

    def metrics(self, job_id: str) -> list[Metric]:
        rows = self._db.fetch_all(
            "SELECT * FROM sync_metrics WHERE job_id = ? ORDER BY step", (job_id,)
        )
        return [Metric(r["step"], r["train_loss"], r["validation_loss"], r["accuracy"]) for r in rows]

    def claim_orphans(
        self, owner: str, owner_alive: Callable[[str], bool], claim_remote: bool = True
    ) -> list[SyncJob]:
        """Take over unfinished jobs whose process died: a job with a remote id is claimed by `owner` to be polled
        again (returned; left alone when not `claim_remote`); one without (a local job, or one that died before its
        upload) is marked interrupted."""
        now = utc_now()
        with self._db.write() as connection:
            rows = connection.execute(
                f"SELECT * FROM sync_jobs WHERE status IN ({','.join('?' * len(_UNFINISHED))})", _UNFINISHED
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
                message = "The process running this job stopped before it finished."
                connection.execute(
                    "UPDATE sync_jobs SET status = ?, error = ?, message = ?, updated_at = ?, finished_at = ? "
                    "WHERE id = ?",
                    (SyncStatus.INTERRUPTED.value, message, message, now, now, row["id"]),
                )
                self._event(connection, row["id"], SyncStatus.INTERRUPTED, message, now)
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

    def activate_model(self, scope: Scope, model_id: str | None) -> None:
        """Make one model version the space's active one (None: back to the base model, no version active)."""
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
            raise NotFoundError(
                f"No model version {model_id} in enterprise '{enterprise_id}'; list them with `lmspace sync models`."
            )
        return _model(row)

    def list_models(self, scope: Scope) -> list[ModelVersion]:
        """A space's model versions, newest first."""
        rows = self._db.fetch_all(
            "SELECT * FROM sync_models WHERE enterprise_id = ? AND space_id = ? ORDER BY created_at DESC, rowid DESC",
            (scope.enterprise_id, scope.space_id),
        )
        return [_model(row) for row in rows]

    def active_model(self, scope: Scope) -> ModelVersion | None:
        return next((model for model in self.list_models(scope) if model.active), None)

    # -- helpers ----------------------------------------------------------------------------------------------

    @staticmethod
    def _job_row(connection: sqlite3.Connection, enterprise_id: str, job_id: str) -> sqlite3.Row:
        row = connection.execute(
            "SELECT * FROM sync_jobs WHERE enterprise_id = ? AND id = ?", (enterprise_id, job_id)
        ).fetchone()
        if row is None:
            raise NotFoundError(
                f"No sync job {job_id} in enterprise '{enterprise_id}'; list them with `lmspace sync status SPACE`."
            )
        return row

    @staticmethod
    def _event(connection: sqlite3.Connection, job_id: str, status: SyncStatus, message: str, at: str) -> None:
        connection.execute(
            "INSERT INTO sync_events (job_id, sequence, at, status, message) "
            "SELECT ?, COALESCE(MAX(sequence), 0) + 1, ?, ?, ? FROM sync_events WHERE job_id = ?",
            (job_id, at, status.value, message, job_id),
        )
