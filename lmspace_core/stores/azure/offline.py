"""When Azure cannot be reached: writes wait in a local SQLite outbox, reads fall back to what was last seen.

`ResilientKnowledgeStore` and `ResilientBlobStore` wrap the Azure stores. A write that fails because the service is
unreachable (`ServiceUnreachableError`: no connection at all, after the retries) is queued in
`<data_dir>/azure_outbox.db` and acknowledged with a provisional result, so an ingest, a document or space deletion,
a new space or a settings change completes; later writes queue behind it, so the order is kept. Each write first
replays what is queued; `lmspace outbox replay` does it on demand. Replaying is safe to repeat: the Azure stores'
writes are idempotent (a new space's id is chosen here, before the first attempt).

Reads that succeeded are remembered in the same file and served from it while Azure is unreachable; searches, the
documents of a space and its code files (what research reads) come from the read cache of recently used spaces
(`read_cache.py`), marked with the time it was last current; a file uploaded offline is read from its queued write.
What was never read on this machine fails with an "offline and not cached" message that names it.
Errors other than unreachability are never queued: they would fail again. Nor is a copy being made by `lmspace
migrate` (drafts carrying a version, the copied history): it is written now or fails, never half acknowledged.
"""

from __future__ import annotations

import logging
import pickle
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from lmspace_core.domain import (
    Chunk,
    Document,
    DocumentChange,
    Hit,
    Outcome,
    Scope,
    SearchFilter,
    Space,
    SpaceStats,
    document_id,
)
from lmspace_core.errors import BackendError, LMSpaceError, NotFoundError
from lmspace_core.stores.azure.boundary import RequestRejectedError, ServiceUnreachableError
from lmspace_core.stores.azure.cosmos_store import chunk_id
from lmspace_core.stores.azure.outbox_upgrade import content_addressed, replay_content_addressed
from lmspace_core.stores.azure.read_cache import MAX_FILE_BYTES, SpaceCache, SpaceSnapshot, refresh, worth_keeping
from lmspace_core.stores.base import BlobPlacement, DocumentDraft, SpaceEdit, StoredDocument

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL,
                                   method TEXT NOT NULL, summary TEXT NOT NULL, payload BLOB NOT NULL,
                                   queued_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS set_aside (seq INTEGER PRIMARY KEY, target TEXT NOT NULL, method TEXT NOT NULL,
                                      summary TEXT NOT NULL, payload BLOB NOT NULL, queued_at TEXT NOT NULL,
                                      reason TEXT NOT NULL, set_aside_at TEXT NOT NULL);
"""


@dataclass(frozen=True)
class QueuedWrite:
    seq: int
    target: str  # "knowledge", "blobs" or "jobs"
    method: str
    summary: str
    queued_at: datetime


@dataclass(frozen=True)
class SetAsideWrite:
    """A queued write that can never succeed as it stands, kept (not sent, not dropped) with the reason."""

    seq: int
    summary: str
    queued_at: datetime
    reason: str  # what happened, and what a person should do instead
    set_aside_at: datetime


@dataclass(frozen=True)
class ReplayReport:
    replayed: int
    remaining: int
    error: str = ""
    set_aside: int = 0  # writes of this replay that were set aside (`lmspace outbox status` lists them)


class OfflineFile:
    """The outbox and the remembered reads, in one SQLite file (pickles of LMSpace's own dataclasses)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        # WAL: one fsync per write and readers never block it (the dashboard and the CLI may share the file);
        # synchronous stays FULL so that a queued write, once acknowledged, survives a power cut.
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.executescript(_SCHEMA)
        self._lock = threading.RLock()

    def queue(self, target: str, method: str, summary: str, args: tuple) -> None:
        with self._lock:
            self._connection.execute(
                "INSERT INTO outbox (target, method, summary, payload, queued_at) VALUES (?, ?, ?, ?, ?)",
                (target, method, summary, pickle.dumps(args), datetime.now(UTC).isoformat()))

    def pending(self) -> list[QueuedWrite]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT seq, target, method, summary, queued_at FROM outbox ORDER BY seq").fetchall()
        return [QueuedWrite(seq, target, method, summary, datetime.fromisoformat(at))
                for seq, target, method, summary, at in rows]

    def first(self) -> tuple[int, str, str, bytes] | None:
        """The oldest queued write, its arguments still pickled (they may not load: an entry of another version)."""
        with self._lock:
            return self._connection.execute(
                "SELECT seq, target, method, payload FROM outbox ORDER BY seq LIMIT 1").fetchone()

    def after(self, seq: int) -> list[tuple[int, str, str, tuple]]:
        """The writes queued after `seq`, oldest first, with their arguments (those that do not load left out)."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT seq, target, method, payload FROM outbox WHERE seq > ? ORDER BY seq", (seq,)).fetchall()
        loaded = []
        for later, target, method, payload in rows:
            try:
                loaded.append((later, target, method, pickle.loads(payload)))
            except Exception:  # an entry of another version: its own turn sets it aside
                continue
        return loaded

    def rewrite(self, seq: int, args: tuple) -> None:
        with self._lock:
            self._connection.execute("UPDATE outbox SET payload = ? WHERE seq = ?", (pickle.dumps(args), seq))

    def set_aside(self, seq: int, reason: str) -> None:
        """Move a queued write out of the line, with `reason`, in one transaction."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                self._connection.execute(
                    "INSERT OR REPLACE INTO set_aside SELECT seq, target, method, summary, payload, queued_at, ?, ? "
                    "FROM outbox WHERE seq = ?", (reason, datetime.now(UTC).isoformat(), seq))
                self._connection.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def set_aside_writes(self) -> list[SetAsideWrite]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT seq, summary, queued_at, reason, set_aside_at FROM set_aside ORDER BY seq").fetchall()
        return [SetAsideWrite(seq, summary, datetime.fromisoformat(queued), reason, datetime.fromisoformat(aside))
                for seq, summary, queued, reason, aside in rows]

    def dismiss(self, seq: int) -> bool:
        """Forget a set-aside write once a person has dealt with it; False when there is none with that number."""
        with self._lock:
            return self._connection.execute("DELETE FROM set_aside WHERE seq = ?", (seq,)).rowcount > 0

    def done(self, seq: int) -> None:
        with self._lock:
            self._connection.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def remember(self, key: str, value: Any) -> None:
        with self._lock:
            self._connection.execute("INSERT OR REPLACE INTO seen (key, value) VALUES (?, ?)",
                                     (key, pickle.dumps(value)))

    def forget(self, key: str) -> None:
        with self._lock:
            self._connection.execute("DELETE FROM seen WHERE key = ?", (key,))

    def queued_upload(self, placement: BlobPlacement) -> bytes | None:
        """The content of the newest queued upload of exactly this raw file (same document and content hash)."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT payload FROM outbox WHERE target = 'blobs' AND method = 'put' ORDER BY seq DESC").fetchall()
        for (payload,) in rows:
            try:
                queued, data = pickle.loads(payload)
            except Exception:  # an entry of another version (another shape): not this file
                continue
            if (isinstance(queued, BlobPlacement) and queued.scope == placement.scope
                    and (queued.document_id, queued.content_hash) == (placement.document_id, placement.content_hash)):
                return data
        return None

    def recall(self, key: str) -> tuple[bool, Any]:
        with self._lock:
            row = self._connection.execute("SELECT value FROM seen WHERE key = ?", (key,)).fetchone()
        return (True, pickle.loads(row[0])) if row else (False, None)

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class Outbox:
    """Queues writes for the wrapped stores and replays them, in order, when Azure answers again."""

    def __init__(self, file: OfflineFile, knowledge: Any, blobs: Any) -> None:
        self.file = file
        self._targets = {"knowledge": knowledge, "blobs": blobs}
        self._lock = threading.RLock()

    def serve(self, target: str, store: Any) -> None:
        """Replay the writes queued for `target` into `store` (the job store, built after the outbox, joins so)."""
        self._targets[target] = store

    def replay(self) -> ReplayReport:
        """Send queued writes oldest first.

        A write Azure cannot take now (unreachable, throttling, refused credentials: `BackendError`) stops the
        replay and stays first in line, so the order is kept. A write that can never succeed as it stands (its
        arguments do not fit this version's stores, the space is gone, Azure rejected the request itself) would
        block every later write forever: it is set aside with its reason, listed by `lmspace outbox status`, and the
        replay goes on.
        """
        replayed = set_aside = 0
        with self._lock:
            while (entry := self.file.first()) is not None:
                seq, target, method, payload = entry
                try:
                    self._send(seq, target, method, pickle.loads(payload))
                except NotFoundError as error:
                    if not method.startswith("delete"):
                        self.file.set_aside(seq, f"{error} It was deleted after this write was queued.")
                        set_aside += 1
                        continue
                    # Already gone: the deletion was applied before its answer was lost, or someone else did it.
                except Exception as error:  # sorted below: wait for Azure, or set aside
                    if _worth_waiting(error):
                        return ReplayReport(replayed, len(self.file.pending()), str(error), set_aside)
                    self.file.set_aside(seq, _never_succeeds(error))
                    set_aside += 1
                    continue
                self.file.done(seq)
                replayed += 1
        return ReplayReport(replayed, 0, set_aside=set_aside)

    def _send(self, seq: int, target: str, method: str, args: tuple) -> None:
        if content_addressed(target, method, args):  # queued before raw files were named after documents
            replay_content_addressed(method, args, self.file.after(seq), self.file.rewrite,
                                     self._targets["knowledge"], self._targets["blobs"])
            return
        getattr(self._targets[target], method)(*args)

    def write(self, target: str, method: str, summary: str, args: tuple, queued_result: Callable[[], Any]) -> Any:
        """Run the write now, or queue it (after anything already queued) when Azure cannot be reached."""
        with self._lock:
            if self._still_waiting() is not None:
                self.file.queue(target, method, summary, args)
                return queued_result()
            try:
                return getattr(self._targets[target], method)(*args)
            except ServiceUnreachableError:
                self.file.queue(target, method, summary, args)
                return queued_result()

    def write_now(self, target: str, method: str, args: tuple) -> Any:
        """Run a write that must never wait in the outbox (a copy being made), after what is queued has been replayed;
        it fails, as Azure's answer does, when Azure cannot be reached or earlier writes cannot be sent yet."""
        with self._lock:
            if (waiting := self._still_waiting()) is not None:
                raise BackendError(f"{waiting.error} {waiting.remaining} earlier write(s) still wait in the outbox "
                                   "(`lmspace outbox status`), and this one cannot be queued behind them.")
            return getattr(self._targets[target], method)(*args)

    def _still_waiting(self) -> ReplayReport | None:
        """What replaying the queue left in it, if anything was queued and not everything could be sent."""
        if self.file.first() is None:
            return None
        report = self.replay()
        return report if report.remaining else None


def _worth_waiting(error: Exception) -> bool:
    """Whether sending the write again later may succeed: Azure unreachable, throttling or refusing credentials."""
    return isinstance(error, BackendError) and not isinstance(error, RequestRejectedError)


def _never_succeeds(error: Exception) -> str:
    if isinstance(error, LMSpaceError):
        return str(error)
    return (f"This version of LMSpace cannot send this write ({type(error).__name__}: {error}); it was queued by "
            "another version. Make the change again (ingest, edit or delete) if it is still wanted.")


def _provisional(scope: Scope, draft: DocumentDraft, known: Document | None) -> StoredDocument:
    """What a queued write will do, as far as the remembered document says: the acknowledgement of an ingest."""
    if known is not None and known.content_hash == draft.content_hash:
        return StoredDocument(known, Outcome.UNCHANGED)
    now = datetime.now(UTC)
    document = Document(
        id=known.id if known else document_id(scope.space_id, draft.source), enterprise_id=scope.enterprise_id,
        space_id=scope.space_id, source=draft.source, title=draft.title, doc_type=draft.doc_type,
        tags=tuple(sorted(set(draft.tags))), content_hash=draft.content_hash, size_bytes=draft.size_bytes,
        version=known.version + 1 if known else 1, chunk_count=len(draft.chunks), codebase=draft.codebase,
        created_at=known.created_at if known else now, updated_at=now, raw_year=draft.raw_year)
    if known is None:
        return StoredDocument(document, Outcome.ADDED)
    return StoredDocument(document, Outcome.REPLACED, known.content_hash)


_MISSING = object()  # what an offline fallback returns when it does not know
OUTAGE_SECONDS = 30.0  # after a read finds Blob Storage unreachable, files with a local copy are read from it


_KEPT_SPACES = "a space is kept for offline use once it has been searched or researched here"
_KEPT_FILES = (f"{_KEPT_SPACES}, and its code files once research has read them or they were ingested here; files "
               f"over {MAX_FILE_BYTES >> 20} MiB are not kept")


def _not_cached(error: ServiceUnreachableError, what: str = "this",
                kept: str = _KEPT_SPACES) -> ServiceUnreachableError:
    return ServiceUnreachableError(
        f"{error} Offline and not cached: {what} was never read on this machine while Azure answered, so there is no "
        f"local copy of it ({kept}).")


def _written(scope: Scope, draft: DocumentDraft, document: Document) -> SpaceSnapshot:
    """A document as a write leaves it, with its chunks under the ids Cosmos gives them: for the read cache."""
    chunks = tuple(Chunk(chunk_id(document.id, document.version, ordinal), scope.enterprise_id, scope.space_id,
                         document.id, ordinal, chunk.text, chunk.location)
                   for ordinal, chunk in enumerate(draft.chunks))
    return SpaceSnapshot(0, (document,), chunks, draft.vectors)


class ResilientKnowledgeStore:
    """`KnowledgeStore` that queues writes and serves remembered reads and the read cache while Azure is
    unreachable."""

    def __init__(self, inner: Any, outbox: Outbox, cache: SpaceCache) -> None:
        self._inner = inner
        self.outbox = outbox
        self.cache = cache
        self._file = outbox.file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # chunks, change log, re-embedding: Azure must answer

    def _read(self, key: str, read: Callable[[], Any], cached: Callable[[], Any] = lambda: _MISSING,
              default: Callable[[], Any] = lambda: _MISSING, what: str = "this") -> Any:
        """`read()` from Azure, remembered under `key`. Unreachable: the read cache's answer (`cached`), else the
        remembered one, else `default`'s, else an "offline and not cached" error naming `what` was read."""
        try:
            value = read()
        except ServiceUnreachableError as error:
            if (value := cached()) is not _MISSING:
                return value
            found, value = self._file.recall(key)
            if found:
                return value
            if (value := default()) is not _MISSING:
                return value
            raise _not_cached(error, what) from None
        self._file.remember(key, value)
        return value

    def _cached_documents(self, scope: Scope, pick: Callable[[list[Document]], Any]) -> Callable[[], Any]:
        """An offline answer from the cached documents, each marked with the time the copy last matched Cosmos."""

        def answer() -> Any:
            documents, checked_at = self.cache.documents(scope), self.cache.checked_at(scope)
            if documents is None or checked_at is None:
                return _MISSING
            return pick([replace(document, cached_at=checked_at) for document in documents])

        return answer

    def _space_named(self, scope: Scope) -> str:
        """"space 'name'" as this machine last saw it, for messages (the id when it never saw the space)."""
        found, space = self._file.recall(f"space:{scope.enterprise_id}:{scope.space_id}")
        return f"space '{space.name}'" if found and space is not None else f"space {scope.space_id}"

    # -- spaces -----------------------------------------------------------------------------------------------

    def get_space(self, scope: Scope) -> Space:
        return self._read(f"space:{scope.enterprise_id}:{scope.space_id}", lambda: self._inner.get_space(scope),
                          default=self._listed(scope.enterprise_id, lambda space: space.id == scope.space_id),
                          what=f"space {scope.space_id}")

    def find_space(self, enterprise_id: str, name: str) -> Space | None:
        found = self._read(f"space-name:{enterprise_id}:{name}", lambda: self._inner.find_space(enterprise_id, name),
                           default=self._listed(enterprise_id, lambda space: space.name == name),
                           what=f"space '{name}'")
        if found is not None:
            self._file.remember(f"space:{enterprise_id}:{found.id}", found)  # what an edit of it reads offline
        return found

    def _listed(self, enterprise_id: str, wanted: Callable[[Space], bool]) -> Callable[[], Any]:
        """An offline answer from the remembered list of spaces (`spaces list` ran here while Azure answered)."""

        def answer() -> Any:
            found, spaces = self._file.recall(f"spaces:{enterprise_id}")
            return next((space for space in spaces if wanted(space)), _MISSING) if found else _MISSING

        return answer

    def list_spaces(self, enterprise_id: str) -> list[Space]:
        return self._read(f"spaces:{enterprise_id}", lambda: self._inner.list_spaces(enterprise_id))

    def space_stats(self, scope: Scope) -> SpaceStats:
        def stats(documents: list[Document]) -> SpaceStats:
            return SpaceStats(len(documents), sum(d.chunk_count for d in documents),
                              sum(d.size_bytes for d in documents),
                              max((d.updated_at for d in documents), default=None))

        return self._read(f"stats:{scope.enterprise_id}:{scope.space_id}", lambda: self._inner.space_stats(scope),
                          self._cached_documents(scope, stats))

    def create_space(
        self, enterprise_id: str, name: str, description: str, instructions: str, embedder_id: str, dimension: int
    ) -> Space:
        space_id = uuid.uuid4().hex[:16]  # chosen here, so that a replay creates this very space

        def queued() -> Space:
            now = datetime.now(UTC)
            return Space(id=space_id, enterprise_id=enterprise_id, name=name, description=description,
                         instructions=instructions, embedder_id=embedder_id, created_at=now, updated_at=now)

        space = self.outbox.write("knowledge", "create_space", f"{enterprise_id}: create space {name}",
                                  (enterprise_id, name, description, instructions, embedder_id, dimension, space_id),
                                  queued)
        self._remember_space(space)
        self.cache.fill(space.scope, SpaceSnapshot.empty())  # empty, and searchable offline from the start
        return space

    def update_space(self, scope: Scope, edit: SpaceEdit) -> Space:
        current = self.get_space(scope)
        changes = {key: value for key, value in vars(edit).items() if value is not None}

        def queued() -> Space:
            return replace(current, **changes, updated_at=datetime.now(UTC)) if changes else current

        summary = f"{scope.enterprise_id}/{scope.space_id}: change {', '.join(changes) or 'nothing'} of {current.name}"
        space = self.outbox.write("knowledge", "update_space", summary, (scope, edit), queued)
        if space.name != current.name:
            self._file.remember(f"space-name:{scope.enterprise_id}:{current.name}", None)
        self._remember_space(space)
        return space

    def delete_space(self, scope: Scope) -> None:
        space = self.get_space(scope)
        self.outbox.write("knowledge", "delete_space", f"{scope.enterprise_id}: delete space {space.name}", (scope,),
                          lambda: None)
        self._file.forget(f"space:{scope.enterprise_id}:{scope.space_id}")
        self._file.remember(f"space-name:{scope.enterprise_id}:{space.name}", None)
        self._relist(space.enterprise_id, lambda spaces: [s for s in spaces if s.id != space.id])
        self.cache.drop(scope)

    def _remember_space(self, space: Space) -> None:
        self._file.remember(f"space:{space.enterprise_id}:{space.id}", space)
        self._file.remember(f"space-name:{space.enterprise_id}:{space.name}", space)
        self._relist(space.enterprise_id, lambda spaces: sorted([*(s for s in spaces if s.id != space.id), space],
                                                                key=lambda s: s.name))

    def _relist(self, enterprise_id: str, change: Callable[[list[Space]], list[Space]]) -> None:
        """Keep the remembered list of spaces in step with a space edit (offline, it is what `spaces list` shows)."""
        found, spaces = self._file.recall(f"spaces:{enterprise_id}")
        if found:
            self._file.remember(f"spaces:{enterprise_id}", change(spaces))

    # -- documents --------------------------------------------------------------------------------------------

    def find_document(self, scope: Scope, source: str) -> Document | None:
        return self._read(f"doc:{scope.enterprise_id}:{scope.space_id}:{source}",
                          lambda: self._inner.find_document(scope, source), lambda: self._known(scope, source))

    def _known(self, scope: Scope, source: str) -> Document | None:
        """The document at `source` as this machine last saw it, without asking Azure (it is unreachable).

        Unknown: None, treated as new; the replayed write finds out what it really is.
        """
        documents = self.cache.documents(scope)
        if documents is not None:
            return next((document for document in documents if document.source == source), None)
        found, known = self._file.recall(f"doc:{scope.enterprise_id}:{scope.space_id}:{source}")
        return known if found else None

    def get_document(self, scope: Scope, document_id: str) -> Document:
        return self._read(f"doc-id:{scope.enterprise_id}:{scope.space_id}:{document_id}",
                          lambda: self._inner.get_document(scope, document_id),
                          self._cached_documents(scope, lambda documents: next(
                              (d for d in documents if d.id == document_id), _MISSING)))

    def list_documents(self, scope: Scope, search_filter: SearchFilter = SearchFilter()) -> list[Document]:
        key = f"docs:{scope.enterprise_id}:{scope.space_id}:{search_filter.doc_types}:{search_filter.tags}"
        return self._read(key, lambda: self._inner.list_documents(scope, search_filter),
                          self._cached_documents(scope, lambda documents: [
                              d for d in documents if search_filter.admits(d)]),
                          what=f"the list of documents of {self._space_named(scope)}")

    def put_documents(self, scope: Scope, drafts: Sequence[DocumentDraft]) -> list[StoredDocument]:
        """Written now, or queued while Azure is unreachable; a copy's drafts (with a `version`) are never queued."""
        def queued() -> list[StoredDocument]:
            return [_provisional(scope, draft, self._known(scope, draft.source)) for draft in drafts]

        summary = f"{scope.enterprise_id}/{scope.space_id}: write {', '.join(d.source for d in drafts)}"
        if any(draft.version is not None for draft in drafts):
            results = self.outbox.write_now("knowledge", "put_documents", (scope, list(drafts)))
        else:
            results = self.outbox.write("knowledge", "put_documents", summary, (scope, list(drafts)), queued)
        for draft, result in zip(drafts, results, strict=True):
            self._file.remember(f"doc:{scope.enterprise_id}:{scope.space_id}:{result.document.source}",
                                result.document)
            if result.outcome is not Outcome.UNCHANGED:
                self.cache.apply(scope, _written(scope, draft, result.document))
        return results

    def write_history(self, scope: Scope, history: Sequence[DocumentChange]) -> None:
        """`KeepsHistory`, never queued: `lmspace migrate` to Azure must fail while Azure is unreachable (and remove
        its copy) rather than leave half a copy acknowledged and waiting in the outbox."""
        self.outbox.write_now("knowledge", "write_history", (scope, list(history)))

    def delete_document(self, scope: Scope, document_id: str) -> Document:
        document = self.get_document(scope, document_id)
        summary = f"{scope.enterprise_id}/{scope.space_id}: delete {document.source}"
        self.outbox.write("knowledge", "delete_document", summary, (scope, document_id), lambda: document)
        self._file.remember(f"doc:{scope.enterprise_id}:{scope.space_id}:{document.source}", None)
        self._file.forget(f"doc-id:{scope.enterprise_id}:{scope.space_id}:{document_id}")
        self.cache.apply(scope, SpaceSnapshot.empty(), [document_id])
        return document

    def examples(self) -> Any:
        """The spaces' examples (`KeepsExamples`): Cosmos DB must answer, nothing of them is kept offline."""
        return self._inner.examples()

    # -- search -----------------------------------------------------------------------------------------------

    def search(
        self, scope: Scope, query: np.ndarray, k: int, search_filter: SearchFilter = SearchFilter()
    ) -> list[Hit]:
        """Cosmos' vector search; unreachable, the same exact search over the read cache, hits marked `cached_at`."""
        try:
            hits = self._inner.search(scope, query, k, search_filter)
        except ServiceUnreachableError as error:
            cached = self.cache.search(scope, query, k, search_filter)
            if cached is None:
                raise _not_cached(error, self._space_named(scope)) from None
            return cached
        self.keep_offline(scope, query.shape[0])
        return hits

    def keep_offline(self, scope: Scope, dimension: int) -> None:
        """The space is in use (searched, researched): bring its cached copy up to date with the change log, or
        make one if it fits (`KeepsOfflineCopies`). Failing that, the copy stays as it was: the read in progress
        goes on, and the copy catches up at the next use."""
        try:
            refresh(self.cache, self._inner, scope, dimension)
        except ServiceUnreachableError as error:  # offline: the copy answers as it is, and says of when
            log.info("The offline copy of space %s was not refreshed: %s", scope.space_id, error)
        except LMSpaceError as error:
            log.warning("The offline copy of space %s was not refreshed: %s", scope.space_id, error)

    def close(self) -> None:
        self._inner.close()
        self._file.close()
        self.cache.close()


class ResilientBlobStore:
    """`BlobStore` whose uploads and deletions wait in the outbox while Blob Storage is unreachable, and whose reads
    of code files (what research reads) are served from the read cache, or a queued upload, meanwhile."""

    def __init__(self, inner: Any, outbox: Outbox, cache: SpaceCache) -> None:
        self._inner = inner
        self._outbox = outbox
        self._cache = cache
        self._unreachable_at = -OUTAGE_SECONDS  # monotonic time of the last read that found Azure unreachable

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # stream, container(): Azure must answer

    def get(self, placement: BlobPlacement) -> bytes:
        """The raw file from Blob Storage, kept in the read cache if research reads it. Unreachable: the kept copy
        of this very content, else its queued upload, else an "offline and not cached" error naming the file.

        Within `OUTAGE_SECONDS` of a read that found Azure unreachable, a file with a local copy is served from it
        without asking again: research reads a codebase file by file, and each attempt at an unreachable endpoint
        costs its retries. The copy is the content the caller names by hash, so it is what Azure would return.
        """
        if time.monotonic() - self._unreachable_at < OUTAGE_SECONDS:
            found = self._local(placement)
            if found is not None:
                return found
        try:
            data = self._inner.get(placement)
        except ServiceUnreachableError as error:
            self._unreachable_at = time.monotonic()
            if (found := self._local(placement)) is None:
                raise _not_cached(error, f"the file '{placement.source}'", _KEPT_FILES) from None
            return found
        self._keep(placement, data)
        return data

    def _local(self, placement: BlobPlacement) -> bytes | None:
        found = self._cache.file(placement.scope, placement.document_id, placement.content_hash)
        return found if found is not None else self._outbox.file.queued_upload(placement)

    def put(self, placement: BlobPlacement, data: bytes | Iterable[bytes]) -> None:
        if not isinstance(data, bytes):  # a stream being copied cannot wait in the outbox: it fails instead
            return self._inner.put(placement, data)
        self._outbox.write("blobs", "put", f"{_where(placement)}: upload {placement.source}", (placement, data),
                           lambda: None)
        self._keep(placement, data)  # written here, queued or not: readable offline like a file read here

    def _keep(self, placement: BlobPlacement, data: bytes) -> None:
        if worth_keeping(placement.source, len(data)):
            self._cache.keep_file(placement.scope, placement.document_id, placement.content_hash, data)

    def delete(self, placement: BlobPlacement) -> None:
        self._outbox.write("blobs", "delete", f"{_where(placement)}: delete {placement.source}", (placement,),
                           lambda: None)

    def delete_space(self, scope: Scope) -> None:
        self._outbox.write("blobs", "delete_space", f"{scope.enterprise_id}/{scope.space_id}: delete its files",
                           (scope,), lambda: None)


def _where(placement: BlobPlacement) -> str:
    return f"{placement.scope.enterprise_id}/{placement.scope.space_id}"
