"""`lmspace doctor`: check the embedded store and repair what a killed process left behind.

It checks SQLite's integrity, every space's vector file against the rows the database committed, and that every
document's raw file is there; it removes what nothing refers to any more: blobs of deleted documents (a kill between
the commit and the blob's removal), temporary files of unfinished blob writes, blob folders of deleted spaces, and
the staging folders of upload jobs whose process died. What it cannot repair (a damaged database or vector file, a
lost raw file) it reports with the command that repairs it.

Files younger than `grace_seconds` are left alone: an ingest in another process writes a blob a moment before it
commits the document that refers to it, and stages uploads a moment before it records their job.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from lmspace_core.config import Settings
from lmspace_core.errors import NotAvailableYetError
from lmspace_core.jobs import _owner_alive
from lmspace_core.stores.local.blobs import LocalBlobStore
from lmspace_core.stores.local.database import Database
from lmspace_core.stores.local.jobs import LocalJobStore
from lmspace_core.stores.local.sqlite_store import LocalKnowledgeStore

GRACE_SECONDS = 15 * 60


@dataclass(frozen=True)
class Check:
    """One thing the doctor looked at: what it found sound, what it repaired, and what still needs a person."""

    name: str
    summary: str
    fixed: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class DoctorReport:
    data_dir: Path
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def fixed(self) -> tuple[str, ...]:
        return tuple(fix for check in self.checks for fix in check.fixed)


def examine(settings: Settings, grace_seconds: float = GRACE_SECONDS) -> DoctorReport:
    """Check the data directory of `settings` and repair its leftovers; raises when the database cannot be read."""
    if settings.store.backend != "embedded":
        raise NotAvailableYetError("`lmspace doctor` checks the embedded store; store.backend is not embedded.")
    data_dir = settings.data_dir
    database = Database(data_dir / "lmspace.db")
    try:
        store = LocalKnowledgeStore(database, data_dir)
        job_store = LocalJobStore(database)
        stale = time.time() - grace_seconds
        checks = (
            _database(database),
            _vectors(store),
            _blobs(store, LocalBlobStore(data_dir / "blobs"), stale),
            _jobs(job_store),
            _uploads(job_store, data_dir / "uploads", stale),
        )
    finally:
        database.close()
    return DoctorReport(data_dir, checks)


def _database(database: Database) -> Check:
    problems = database.integrity_problems()
    if not problems:
        return Check("database", f"{database.path}: integrity check passed")
    return Check(
        "database", f"{database.path}: integrity check failed",
        problems=(*problems[:20], f"Copy {database.path} aside and salvage it: sqlite3 {database.path} .recover"),
    )


def _vectors(store: LocalKnowledgeStore) -> Check:
    counts = store.vector_counts()
    summary = f"{len(counts)} spaces, {sum(count.committed for count in counts)} vectors"
    return Check("vectors", summary, fixed=store.repaired_on_open,
                 problems=tuple(count.problem for count in counts if count.problem))


def _blobs(store: LocalKnowledgeStore, blobs: LocalBlobStore, stale: float) -> Check:
    """Remove blobs nothing refers to; report documents whose raw file is gone.

    The folders are listed before the database is read: a space's row is committed before its first blob is written,
    so a folder listed first whose space is not in the database belongs to a deleted space.
    """
    folders = list(blobs.space_folders())
    referenced = store.documents_by_hash()
    fixed, problems, present = [], [], 0
    for scope, folder in folders:
        if scope not in referenced:
            shutil.rmtree(folder, ignore_errors=True)
            fixed.append(f"removed {folder}, the blob folder of a deleted space")
    for scope, sources in referenced.items():
        found = set()
        for blob in blobs.files(scope):
            if blob.content_hash in sources:
                found.add(blob.content_hash)
            elif _older(blob.path, stale):
                blob.path.unlink(missing_ok=True)
                what = "a blob no document refers to" if blob.content_hash else "a temporary file of an unfinished write"
                fixed.append(f"removed {blob.path}, {what}")
        present += len(found)
        lost = sorted(sources[content_hash] for content_hash in sources.keys() - found)
        if lost:
            problems.append(
                f"space {scope.space_id} (enterprise '{scope.enterprise_id}') lost the raw file of {', '.join(lost)}; "
                "ingest those files again to restore them"
            )
    return Check("blobs", f"{present} raw files referenced by documents", tuple(fixed), tuple(problems))


def _jobs(job_store: LocalJobStore) -> Check:
    interrupted = job_store.interrupt_orphans(_owner_alive)
    fixed = (f"marked {interrupted} job(s) interrupted: their process stopped",) if interrupted else ()
    return Check("jobs", "no job left running by a stopped process", fixed)


def _uploads(job_store: LocalJobStore, uploads: Path, stale: float) -> Check:
    """Remove the staging folders of upload jobs that can no longer finish.

    A folder is not tied to its job by name, so folders are removed only while no job is queued or running in any
    process (`_jobs` has marked those of dead processes interrupted by then).
    """
    folders = sorted(path for path in uploads.glob("*") if path.is_dir()) if uploads.is_dir() else []
    if job_store.has_unfinished_jobs():
        return Check("uploads", f"{len(folders)} staging folders kept while jobs run")
    fixed = []
    for folder in folders:
        if _older(folder, stale):
            shutil.rmtree(folder, ignore_errors=True)
            fixed.append(f"removed {folder}, the staging folder of a job that stopped")
    return Check("uploads", f"{len(folders) - len(fixed)} staging folders in use", tuple(fixed))


def _older(path: Path, stale: float) -> bool:
    try:
        return path.stat().st_mtime < stale
    except FileNotFoundError:
        return False
