"""`lmspace doctor`: check the stores and repair what a killed process left behind.

On the embedded store it checks SQLite's integrity, every space's vector file against the rows the database
committed, and that every document's raw file is there; it removes what nothing refers to any more: raw files of
deleted documents (a kill between the commit and the file's removal), temporary files of unfinished writes, raw files
of deleted spaces, and the staging folders of upload jobs whose process died. On Azure it runs the checks that apply
there: raw files in Blob Storage against the documents in Cosmos DB, jobs left running by a stopped process, and
this machine's upload staging folders (the job table is shared, the folders are local). Raw
files in the old content-addressed layout are moved to their documents' names. What it cannot repair (a damaged
database or vector file, a lost raw file) it reports with the command that repairs it.

Files younger than `grace_seconds` are left alone: an ingest in another process writes a raw file a moment before it
commits the document that refers to it, and stages uploads a moment before it records their job.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from lmspace_core.config import Settings
from lmspace_core.jobs import owner_is_alive, owner_is_on_this_host
from lmspace_core.stores.base import BlobPlacement, BlobStore, JobStore, KnowledgeStore, StoredBlob
from lmspace_core.stores.local.blobs import LocalBlobStore
from lmspace_core.stores.local.database import Database
from lmspace_core.stores.local.jobs import LocalJobStore
from lmspace_core.stores.local.sqlite_store import LocalKnowledgeStore
from lmspace_core.workspace import build_stores

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
    """Check the stores of `settings` and repair their leftovers; raises when they cannot be read at all.

    The embedded store gets every check; another backend (Azure) gets those that apply to it: raw files against
    documents, and jobs left running by a stopped process.
    """
    stale = time.time() - grace_seconds
    if settings.store.backend != "embedded":
        store, blobs, job_store = build_stores(settings)
        try:
            return DoctorReport(settings.data_dir, (_blobs(store, blobs, stale), _jobs(job_store),
                                                    _uploads(job_store, settings.data_dir / "uploads", stale)))
        finally:
            store.close()
            if hasattr(job_store, "close"):  # a job store with a file of its own (Azure's jobs kept offline)
                job_store.close()
    data_dir = settings.data_dir
    database = Database(data_dir / "lmspace.db")
    try:
        store = LocalKnowledgeStore(database, data_dir)
        job_store = LocalJobStore(database)
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


def _blobs(store: KnowledgeStore, blobs: BlobStore, stale: float) -> Check:
    """Remove raw files nothing refers to, move those of the old content-addressed layout to their documents' names,
    and report documents whose raw file is gone.

    The files are listed before the documents are read: a document is committed after its raw file is written, so a
    file listed first whose document is not there belongs to a deleted document (or is younger than `stale`).
    """
    held = list(blobs.inventory())
    documents = {space.scope: {document.id: document for document in store.list_documents(space.scope)}
                 for enterprise in store.list_enterprises() for space in store.list_spaces(enterprise)}
    fixed, present = [], set()
    for blob in held:
        space = documents.get(blob.scope)
        owners = [] if space is None else [document for document in space.values()
                                           if document.content_hash == blob.content_hash
                                           and blob.document_id in (None, document.id)]
        if blob.content_hash is not None and blob.document_id is None and owners:
            for document in owners:  # a read falls back to the old name, so this copies it to the new one
                placement = BlobPlacement.of(document)
                blobs.put(placement, blobs.stream(placement))
                present.add(document.id)
            blobs.remove(blob)
            fixed.append(f"moved {blob.name} to the raw-file name of {', '.join(d.source for d in owners)}")
        elif owners:
            present.add(owners[0].id)
        elif blob.modified < stale:
            blobs.remove(blob)
            fixed.append(f"removed {blob.name}, {_leftover(blob, space is None)}")
    problems = []
    for scope, space in documents.items():
        lost = sorted(document.source for document in space.values() if document.id not in present)
        if lost:
            problems.append(
                f"space {scope.space_id} (enterprise '{scope.enterprise_id}') lost the raw file of {', '.join(lost)}; "
                "ingest those files again to restore them"
            )
    return Check("blobs", f"{len(present)} raw files referenced by documents", tuple(fixed), tuple(problems))


def _leftover(blob: StoredBlob, space_deleted: bool) -> str:
    if blob.content_hash is None:
        return "a temporary file of an unfinished write"
    return "a raw file of a deleted space" if space_deleted else "a blob no document refers to"


def _jobs(job_store: JobStore) -> Check:
    interrupted = job_store.interrupt_orphans(owner_is_alive)
    fixed = (f"marked {interrupted} job(s) interrupted: their process stopped",) if interrupted else ()
    return Check("jobs", "no job left running by a stopped process", fixed)


def _uploads(job_store: JobStore, uploads: Path, stale: float) -> Check:
    """Remove the staging folders of upload jobs that can no longer finish.

    A folder is not tied to its job by name, so folders are removed only while no job is queued or running in any
    process of this machine (`_jobs` has marked those of dead processes interrupted by then). Jobs of other machines
    sharing an Azure job table never use this machine's folders, so they do not keep them.
    """
    folders = sorted(path for path in uploads.glob("*") if path.is_dir()) if uploads.is_dir() else []
    if job_store.has_unfinished_jobs(owner_is_on_this_host):
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
