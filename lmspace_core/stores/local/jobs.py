"""Jobs and job events in the embedded SQLite database."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from datetime import datetime

from lmspace_core.domain import Job, JobEvent, JobStatus, Progress, Scope
from lmspace_core.errors import NotFoundError
from lmspace_core.stores.local.database import Database, utc_now

_UNFINISHED = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        enterprise_id=row["enterprise_id"],
        space_id=row["space_id"],
        kind=row["kind"],
        title=row["title"],
        status=JobStatus(row["status"]),
        done=row["done"],
        total=row["total"],
        message=row["message"],
        result=json.loads(row["result"]) if row["result"] else None,
        error=row["error"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


class LocalJobStore:
    """`JobStore` over the shared SQLite database."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def create_job(self, scope: Scope, kind: str, title: str, owner: str, *, job_id: str | None = None) -> Job:
        """`job_id` names the job (the Azure job store's offline copy keeps Table Storage's ids); else a new one."""
        job_id = job_id or uuid.uuid4().hex[:16]
        now = utc_now()
        with self._db.write() as connection:
            connection.execute(
                "INSERT INTO jobs (id, enterprise_id, space_id, kind, title, status, owner, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, scope.enterprise_id, scope.space_id, kind, title, JobStatus.QUEUED.value, owner, now, now),
            )
        return self.get_job(scope.enterprise_id, job_id)

    def record_progress(self, enterprise_id: str, job_id: str, progress: Progress) -> None:
        now = utc_now()
        with self._db.write() as connection:
            connection.execute(
                "UPDATE jobs SET status = ?, done = ?, total = ?, message = ?, updated_at = ? "
                "WHERE enterprise_id = ? AND id = ?",
                (JobStatus.RUNNING.value, progress.done, progress.total, progress.message or progress.item, now,
                 enterprise_id, job_id),
            )
            connection.execute(
                "INSERT INTO job_events (job_id, sequence, at, stage, done, total, item, message) "
                "SELECT ?, COALESCE(MAX(sequence), 0) + 1, ?, ?, ?, ?, ?, ? FROM job_events WHERE job_id = ?",
                (job_id, now, progress.stage, progress.done, progress.total, progress.item, progress.message, job_id),
            )

    def finish_job(
        self, enterprise_id: str, job_id: str, status: JobStatus, result: dict | None = None, error: str = ""
    ) -> Job:
        with self._db.write() as connection:
            connection.execute(
                "UPDATE jobs SET status = ?, result = ?, error = ?, updated_at = ? WHERE enterprise_id = ? AND id = ?",
                (status.value, json.dumps(result) if result is not None else None, error, utc_now(), enterprise_id,
                 job_id),
            )
        return self.get_job(enterprise_id, job_id)

    def get_job(self, enterprise_id: str, job_id: str) -> Job:
        row = self._db.fetch_one("SELECT * FROM jobs WHERE enterprise_id = ? AND id = ?", (enterprise_id, job_id))
        if row is None:
            raise NotFoundError(f"No job {job_id} in enterprise '{enterprise_id}'.")
        return _job(row)

    def list_jobs(
        self, enterprise_id: str, space_id: str | None = None, kind: str | None = None, limit: int = 50
    ) -> list[Job]:
        query, params = "SELECT * FROM jobs WHERE enterprise_id = ?", [enterprise_id]
        if space_id is not None:
            query += " AND space_id = ?"
            params.append(space_id)
        if kind is not None:
            query += " AND kind = ?"
            params.append(kind)
        rows = self._db.fetch_all(query + " ORDER BY created_at DESC LIMIT ?", (*params, limit))
        return [_job(row) for row in rows]

    def job_events(self, enterprise_id: str, job_id: str, after_sequence: int = 0) -> list[JobEvent]:
        self.get_job(enterprise_id, job_id)
        rows = self._db.fetch_all(
            "SELECT * FROM job_events WHERE job_id = ? AND sequence > ? ORDER BY sequence", (job_id, after_sequence)
        )
        return [
            JobEvent(row["job_id"], row["sequence"], datetime.fromisoformat(row["at"]), row["stage"], row["done"],
                     row["total"], row["item"], row["message"])
            for row in rows
        ]

    def has_unfinished_jobs(self, owned_here: Callable[[str], bool]) -> bool:
        placeholders = ",".join("?" * len(_UNFINISHED))
        rows = self._db.fetch_all(f"SELECT owner FROM jobs WHERE status IN ({placeholders})", _UNFINISHED)
        return any(owned_here(row["owner"]) for row in rows)

    def delete_job(self, enterprise_id: str, job_id: str) -> None:
        """Remove a job and its events (the Azure job store's offline copy, once Table Storage holds the job)."""
        with self._db.write() as connection:
            connection.execute("DELETE FROM jobs WHERE enterprise_id = ? AND id = ?", (enterprise_id, job_id))

    def interrupt_orphans(self, owner_alive: Callable[[str], bool]) -> int:
        return len(self.interrupt_orphan_jobs(owner_alive))

    def interrupt_orphan_jobs(self, owner_alive: Callable[[str], bool]) -> list[tuple[str, str]]:
        """`interrupt_orphans`, answering which jobs it marked: (enterprise id, job id) of each."""
        with self._db.write() as connection:
            rows = connection.execute(
                f"SELECT enterprise_id, id, owner FROM jobs WHERE status IN ({','.join('?' * len(_UNFINISHED))})",
                _UNFINISHED,
            ).fetchall()
            orphans = [(row["enterprise_id"], row["id"]) for row in rows if not owner_alive(row["owner"])]
            connection.executemany(
                "UPDATE jobs SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                [(JobStatus.INTERRUPTED.value, "The process running this job stopped before it finished.", utc_now(),
                  job_id) for _, job_id in orphans],
            )
        return orphans
