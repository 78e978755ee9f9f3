"""When Azure cannot be reached: writes wait in a local SQLite outbox, reads fall back to what was last seen.

`ResilientKnowledgeStore` and `ResilientBlobStore` wrap the Azure stores. A write that fails because the service is
unreachable (`ServiceUnreachableError`: no connection at all, after the retries) is queued in
`<data_dir>/azure_outbox.db` and acknowledged with a provisional result, so an ingest completes; later writes queue
behind it, so the order is kept. Each write first replays what is queued; `lmspace outbox replay` does it on demand.
Replaying is safe to repeat: the Azure stores' writes are idempotent. Reads of spaces and documents that succeeded
are remembered in the same file and served from it while Azure is unreachable; searches and everything else fail
with the "Cannot reach" message. Errors other than unreachability are never queued: they would fail again.
"""

from __future__ import annotations

import pickle
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lmspace_core.domain import Document, Outcome, Scope, SearchFilter, Space, SpaceStats
from lmspace_core.stores.azure.boundary import ServiceUnreachableError
from lmspace_core.stores.azure.cosmos_store import document_id
from lmspace_core.stores.base import BlobPlacement, DocumentDraft, StoredDocument

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL,
                                   method TEXT NOT NULL, summary TEXT NOT NULL, payload BLOB NOT NULL,
                                   queued_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


@dataclass(frozen=True)
class QueuedWrite:
    seq: int
    target: str  # "knowledge" or "blobs"
    method: str
    summary: str
    queued_at: datetime


@dataclass(frozen=True)
class ReplayReport:
    replayed: int
    remaining: int
    error: str = ""


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

    def first(self) -> tuple[int, str, str, tuple] | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT seq, target, method, payload FROM outbox ORDER BY seq LIMIT 1").fetchone()
        return (row[0], row[1], row[2], pickle.loads(row[3])) if row else None

    def done(self, seq: int) -> None:
        with self._lock:
            self._connection.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def remember(self, key: str, value: Any) -> None:
        with self._lock:
            self._connection.execute("INSERT OR REPLACE INTO seen (key, value) VALUES (?, ?)",
                                     (key, pickle.dumps(value)))

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

    def replay(self) -> ReplayReport:
        """Send queued writes oldest first; stop at the first that fails (it stays queued, with the reason)."""
        replayed = 0
        with self._lock:
            while (entry := self.file.first()) is not None:
                seq, target, method, args = entry
                try:
                    getattr(self._targets[target], method)(*args)
                except Exception as error:  # unreachable again, or refused: either way it stays first in line
                    return ReplayReport(replayed, len(self.file.pending()), str(error))
                self.file.done(seq)
                replayed += 1
        return ReplayReport(replayed, 0)

    def write(self, target: str, method: str, summary: str, args: tuple, queued_result: Callable[[], Any]) -> Any:
        """Run the write now, or queue it (after anything already queued) when Azure cannot be reached."""
        with self._lock:
            if self.file.first() is not None and self.replay().remaining:
                self.file.queue(target, method, summary, args)
                return queued_result()
            try:
                return getattr(self._targets[target], method)(*args)
            except ServiceUnreachableError:
                self.file.queue(target, method, summary, args)
                return queued_result()


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
        created_at=known.created_at if known else now, updated_at=now)
    if known is None:
        return StoredDocument(document, Outcome.ADDED)
    return StoredDocument(document, Outcome.REPLACED, known.content_hash)


class ResilientKnowledgeStore:
    """`KnowledgeStore` that queues writes and serves remembered reads while Azure is unreachable."""

    def __init__(self, inner: Any, outbox: Outbox) -> None:
        self._inner = inner
        self.outbox = outbox
        self._file = outbox.file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # searches, chunks, change log, space edits: Azure must answer

    def _read(self, key: str, read: Callable[[], Any], fallback: Callable[[], Any] | None = None) -> Any:
        try:
            value = read()
        except ServiceUnreachableError:
            found, value = self._file.recall(key)
            if found:
                return value
            if fallback is None:
                raise
            return fallback()
        self._file.remember(key, value)
        return value

    def get_space(self, scope: Scope) -> Space:
        return self._read(f"space:{scope.enterprise_id}:{scope.space_id}", lambda: self._inner.get_space(scope))

    def find_space(self, enterprise_id: str, name: str) -> Space | None:
        return self._read(f"space-name:{enterprise_id}:{name}", lambda: self._inner.find_space(enterprise_id, name))

    def list_spaces(self, enterprise_id: str) -> list[Space]:
        return self._read(f"spaces:{enterprise_id}", lambda: self._inner.list_spaces(enterprise_id))

    def space_stats(self, scope: Scope) -> SpaceStats:
        return self._read(f"stats:{scope.enterprise_id}:{scope.space_id}", lambda: self._inner.space_stats(scope))

    def find_document(self, scope: Scope, source: str) -> Document | None:
        # Unknown while offline: treated as new; the replayed write finds out what it really is.
        return self._read(f"doc:{scope.enterprise_id}:{scope.space_id}:{source}",
                          lambda: self._inner.find_document(scope, source), lambda: None)

    def get_document(self, scope: Scope, document_id: str) -> Document:
        return self._read(f"doc-id:{scope.enterprise_id}:{scope.space_id}:{document_id}",
                          lambda: self._inner.get_document(scope, document_id))

    def list_documents(self, scope: Scope, search_filter: SearchFilter = SearchFilter()) -> list[Document]:
        key = f"docs:{scope.enterprise_id}:{scope.space_id}:{search_filter.doc_types}:{search_filter.tags}"
        return self._read(key, lambda: self._inner.list_documents(scope, search_filter))

    def put_documents(self, scope: Scope, drafts: Sequence[DocumentDraft]) -> list[StoredDocument]:
        def queued() -> list[StoredDocument]:
            results = []
            for draft in drafts:
                found, known = self._file.recall(f"doc:{scope.enterprise_id}:{scope.space_id}:{draft.source}")
                results.append(_provisional(scope, draft, known if found else None))
            return results

        summary = f"{scope.enterprise_id}/{scope.space_id}: write {', '.join(d.source for d in drafts)}"
        results = self.outbox.write("knowledge", "put_documents", summary, (scope, list(drafts)), queued)
        for result in results:
            self._file.remember(f"doc:{scope.enterprise_id}:{scope.space_id}:{result.document.source}",
                                result.document)
        return results

    def delete_document(self, scope: Scope, document_id: str) -> Document:
        document = self.get_document(scope, document_id)
        summary = f"{scope.enterprise_id}/{scope.space_id}: delete {document.source}"
        self.outbox.write("knowledge", "delete_document", summary, (scope, document_id), lambda: document)
        self._file.remember(f"doc:{scope.enterprise_id}:{scope.space_id}:{document.source}", None)
        return document

    def examples(self) -> Any:
        """The spaces' examples (`KeepsExamples`): Cosmos DB must answer, nothing of them is kept offline."""
        return self._inner.examples()

    def close(self) -> None:
        self._inner.close()
        self._file.close()


class ResilientBlobStore:
    """`BlobStore` whose uploads and deletions wait in the outbox while Blob Storage is unreachable."""

    def __init__(self, inner: Any, outbox: Outbox) -> None:
        self._inner = inner
        self._outbox = outbox

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # get, delete_space, container(): Azure must answer

    def put(self, placement: BlobPlacement, data: bytes | Iterable[bytes]) -> None:
        if not isinstance(data, bytes):  # a stream being copied cannot wait in the outbox: it fails instead
            return self._inner.put(placement, data)
        self._outbox.write("blobs", "put", f"{_where(placement)}: upload {placement.source}", (placement, data),
                           lambda: None)

    def delete(self, placement: BlobPlacement) -> None:
        self._outbox.write("blobs", "delete", f"{_where(placement)}: delete {placement.source}", (placement,),
                           lambda: None)


def _where(placement: BlobPlacement) -> str:
    return f"{placement.scope.enterprise_id}/{placement.scope.space_id}"
