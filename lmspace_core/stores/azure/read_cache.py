"""The offline read cache: what search and research need of recently used spaces, on disk, for when Azure is
unreachable.

Per space it keeps the documents, their chunks and vectors, the change-log sequence they are complete up to, and
when they were last checked against Cosmos (the time an offline answer names). A space enters on its first
successful search or research; after each later one the change log since that sequence says which documents to
fetch again or drop. Writes made through this process (queued ones too) update it at once, so an ingest made
offline can be asked about offline.

It also keeps the raw files research reads (code files up to `MAX_FILE_BYTES`) of the spaces it holds: each one
read from or written to Blob Storage through this process, one version per document, keyed by the content hash the
document names, so a file replaced or deleted since is never served in its place. Its size counts in its space's.

It is bounded by `max_bytes`: the most recently used spaces that fit stay, a space that cannot fit alone is not
kept, and a file that would make its own space too large for the bound is not kept. Its own file: deleting it loses
nothing that is not on Azure or in the outbox.
"""

from __future__ import annotations

import pickle
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from lmspace_core.domain import ChangeKind, Chunk, Document, Hit, Scope, SearchFilter
from lmspace_core.errors import IngestError
from lmspace_core.ingest.sources import doc_type_for
from lmspace_core.stores.local.ranking import top_k

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spaces (enterprise_id TEXT NOT NULL, space_id TEXT NOT NULL, sequence INTEGER NOT NULL,
                                   checked_at TEXT NOT NULL, used_at REAL NOT NULL,
                                   PRIMARY KEY (enterprise_id, space_id));
CREATE TABLE IF NOT EXISTS documents (enterprise_id TEXT NOT NULL, space_id TEXT NOT NULL, id TEXT NOT NULL,
                                      document BLOB NOT NULL, size INTEGER NOT NULL,
                                      PRIMARY KEY (enterprise_id, space_id, id));
CREATE TABLE IF NOT EXISTS chunks (enterprise_id TEXT NOT NULL, space_id TEXT NOT NULL, document_id TEXT NOT NULL,
                                   ordinal INTEGER NOT NULL, chunk BLOB NOT NULL, vector BLOB NOT NULL,
                                   size INTEGER NOT NULL, PRIMARY KEY (enterprise_id, space_id, document_id, ordinal));
CREATE TABLE IF NOT EXISTS files (enterprise_id TEXT NOT NULL, space_id TEXT NOT NULL, document_id TEXT NOT NULL,
                                  content_hash TEXT NOT NULL, data BLOB NOT NULL, size INTEGER NOT NULL,
                                  PRIMARY KEY (enterprise_id, space_id, document_id));
CREATE INDEX IF NOT EXISTS chunk_sizes ON chunks (enterprise_id, space_id, size);
CREATE INDEX IF NOT EXISTS document_sizes ON documents (enterprise_id, space_id, size);
CREATE INDEX IF NOT EXISTS file_sizes ON files (enterprise_id, space_id, size);
"""
# What a space takes (documents, chunks with vectors, files), recorded on its row: summing it for every space at each
# kept file cost 373 ms with 60,000 chunks cached (22 ms with the size indexes alone). NULL in a cache file made
# before it was recorded: counted at first need.
_SPACE_BYTES = "ALTER TABLE spaces ADD COLUMN bytes INTEGER"
_TABLES = ("spaces", "documents", "chunks", "files")
# What a chunk costs in the cache beyond its vector and text (pickled ids and location), to size a space up front.
_CHUNK_OVERHEAD = 400
# The largest raw file kept: source files are far smaller; a bigger "code" file is generated or minified, and one of
# them would cost the budget of thousands of ordinary ones.
MAX_FILE_BYTES = 1 << 20


def worth_keeping(source: str, size: int) -> bool:
    """Whether a raw file belongs in the cache: a code file (research reads a space's code files whole, while every
    other document is read offline through its cached chunks) of at most `MAX_FILE_BYTES`."""
    try:
        return size <= MAX_FILE_BYTES and doc_type_for(source) == "code"
    except IngestError:  # a type only a plugin loads: not code research reads
        return False


@dataclass(frozen=True)
class SpaceSnapshot:
    """Documents of a space with their chunks and one vector per chunk (rows in chunk order), as Cosmos has them."""

    sequence: int
    documents: tuple[Document, ...]
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray

    @staticmethod
    def empty() -> SpaceSnapshot:
        return SpaceSnapshot(0, (), (), np.empty((0, 0), dtype=np.float32))


class SpaceCache:
    """The cached spaces in one SQLite file; every method is one transaction, safe from several threads."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._connection.execute("PRAGMA journal_mode=WAL")
        # No fsync per commit: a power cut may lose the last changes to a copy that can always be fetched again,
        # and every search records its use (bench_offline.py, 1,000 chunks: 24 ms a cached search with fsyncs, 18
        # without).
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.executescript(_SCHEMA)
        columns = {row[1] for row in self._connection.execute("PRAGMA table_info(spaces)")}
        if "bytes" not in columns:
            try:
                self._connection.execute(_SPACE_BYTES)
            except sqlite3.OperationalError:  # another process added it first
                pass
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    # -- what is cached ---------------------------------------------------------------------------------------

    def sequence(self, scope: Scope) -> int | None:
        """The change-log sequence the cached copy is complete up to; None when the space is not cached."""
        with self._lock:
            row = self._connection.execute("SELECT sequence FROM spaces WHERE enterprise_id = ? AND space_id = ?",
                                           (scope.enterprise_id, scope.space_id)).fetchone()
        return row[0] if row else None

    def documents(self, scope: Scope) -> list[Document] | None:
        """The cached documents of a space by source (as `list_documents` orders them); None when not cached."""
        if self.sequence(scope) is None:
            return None
        with self._lock:
            rows = self._connection.execute("SELECT document FROM documents WHERE enterprise_id = ? AND space_id = ?",
                                            (scope.enterprise_id, scope.space_id)).fetchall()
        return sorted((pickle.loads(row[0]) for row in rows), key=lambda document: document.source)

    def checked_at(self, scope: Scope) -> datetime | None:
        """When the cached copy of a space last matched Cosmos (what an offline answer names); None: not cached."""
        with self._lock:
            row = self._connection.execute("SELECT checked_at FROM spaces WHERE enterprise_id = ? AND space_id = ?",
                                           (scope.enterprise_id, scope.space_id)).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def fits(self, chunks: int, text_bytes: int, dimension: int) -> bool:
        """Whether a space of this size could be cached at all (checked before downloading it)."""
        return chunks * (dimension * 4 + _CHUNK_OVERHEAD) + text_bytes <= self.max_bytes

    # -- filling and keeping it current -----------------------------------------------------------------------

    def fill(self, scope: Scope, snapshot: SpaceSnapshot) -> None:
        """Cache a whole space (replacing what was cached of it), checked against Cosmos now."""
        with self._transaction() as connection:
            self._forget(connection, scope)
            connection.execute("INSERT INTO spaces (enterprise_id, space_id, sequence, checked_at, used_at) VALUES "
                               "(?, ?, ?, ?, ?)",
                               (scope.enterprise_id, scope.space_id, snapshot.sequence, _now(), time.time()))
            self._insert(connection, scope, snapshot)
            self._recount(connection, scope)
        self._evict()

    def apply(self, scope: Scope, snapshot: SpaceSnapshot, removed: Sequence[str] = (),
              sequence: int | None = None) -> None:
        """Replace the snapshot's documents and drop `removed` ones in a cached space (no-op if it is not cached).

        With `sequence` (a refresh from the change log) the copy is complete up to it and checked now; without it
        (a write of this process), neither changes: the copy holds one more write, not Cosmos' latest state.
        """
        with self._transaction() as connection:
            if not self._cached(connection, scope):
                return
            self._remove(connection, scope, [*removed, *(document.id for document in snapshot.documents)])
            self._insert(connection, scope, snapshot)
            self._drop_files(connection, scope, removed, snapshot.documents)
            self._recount(connection, scope)
            if sequence is not None:
                connection.execute("UPDATE spaces SET sequence = ?, checked_at = ? WHERE enterprise_id = ? AND "
                                   "space_id = ?", (sequence, _now(), scope.enterprise_id, scope.space_id))
        self._evict()

    def checked(self, scope: Scope) -> None:
        """Cosmos has no change after the cached sequence: the copy is current as of now."""
        with self._transaction() as connection:
            connection.execute("UPDATE spaces SET checked_at = ?, used_at = ? WHERE enterprise_id = ? AND "
                               "space_id = ?", (_now(), time.time(), scope.enterprise_id, scope.space_id))

    def drop(self, scope: Scope) -> None:
        """Forget a space (it was deleted)."""
        with self._transaction() as connection:
            self._forget(connection, scope)

    # -- raw files ------------------------------------------------------------------------------------------

    def keep_file(self, scope: Scope, document_id: str, content_hash: str, data: bytes) -> bool:
        """Keep a document's raw file (replacing another version of it) if its space is cached and still fits the
        bound with it; whether it was kept."""
        with self._transaction() as connection:
            if not self._cached(connection, scope):
                return False
            others = self._size(connection, scope) - (connection.execute(
                "SELECT COALESCE(SUM(size), 0) FROM files WHERE enterprise_id = ? AND space_id = ? AND document_id = ?",
                (scope.enterprise_id, scope.space_id, document_id)).fetchone()[0])
            if others + len(data) > self.max_bytes:
                return False
            connection.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
                               (scope.enterprise_id, scope.space_id, document_id, content_hash, data, len(data)))
            # First in line to stay: the eviction never drops what it just kept.
            connection.execute("UPDATE spaces SET bytes = ?, used_at = ? WHERE enterprise_id = ? AND space_id = ?",
                               (others + len(data), time.time(), scope.enterprise_id, scope.space_id))
        self._evict()
        return True

    def file(self, scope: Scope, document_id: str, content_hash: str) -> bytes | None:
        """A kept raw file with exactly this content (a read of it is a use of its space); None when not kept."""
        with self._transaction() as connection:
            row = connection.execute(
                "SELECT data FROM files WHERE enterprise_id = ? AND space_id = ? AND document_id = ? AND "
                "content_hash = ?", (scope.enterprise_id, scope.space_id, document_id, content_hash)).fetchone()
            if row is not None:
                self._used(connection, scope)
        return row[0] if row else None

    # -- search -----------------------------------------------------------------------------------------------

    def search(self, scope: Scope, query: np.ndarray, k: int,
               search_filter: SearchFilter = SearchFilter()) -> list[Hit] | None:
        """Exact cosine top-k over the cached vectors, filter applied before ranking; None when not cached.

        Hits carry `cached_at`, the last time the copy was checked against Cosmos: they may miss later changes.
        """
        with self._transaction() as connection:
            space = connection.execute(
                "SELECT checked_at FROM spaces WHERE enterprise_id = ? AND space_id = ?",
                (scope.enterprise_id, scope.space_id)).fetchone()
            if space is None:
                return None
            self._used(connection, scope)
            documents = {row[0]: pickle.loads(row[1]) for row in connection.execute(
                "SELECT id, document FROM documents WHERE enterprise_id = ? AND space_id = ?",
                (scope.enterprise_id, scope.space_id))}
            rows = connection.execute(
                "SELECT rowid, document_id, vector FROM chunks WHERE enterprise_id = ? AND space_id = ? "
                "ORDER BY document_id, ordinal", (scope.enterprise_id, scope.space_id)).fetchall()
            if not rows:
                return []
            vectors = np.frombuffer(b"".join(row[2] for row in rows), dtype=np.float32)
            matrix = _unit_rows(vectors.reshape(len(rows), -1))
            allowed = None
            if not search_filter.is_empty:
                allowed = np.fromiter((search_filter.admits(documents[row[1]]) for row in rows), dtype=bool,
                                      count=len(rows))
            ranked = top_k(matrix, _unit_rows(np.asarray(query, dtype=np.float32).reshape(1, -1))[0], k, allowed)
            found = [rows[row][0] for row, _ in ranked]  # only the hits' chunks are read and unpickled
            chunks = dict(connection.execute(
                f"SELECT rowid, chunk FROM chunks WHERE rowid IN ({','.join('?' * len(found))})", found).fetchall())
        checked_at = datetime.fromisoformat(space[0])
        return [Hit(pickle.loads(chunks[rows[row][0]]), documents[rows[row][1]], score, cached_at=checked_at)
                for row, score in ranked]

    # -- rows -------------------------------------------------------------------------------------------------

    @staticmethod
    def _cached(connection: sqlite3.Connection, scope: Scope) -> bool:
        return connection.execute("SELECT 1 FROM spaces WHERE enterprise_id = ? AND space_id = ?",
                                  (scope.enterprise_id, scope.space_id)).fetchone() is not None

    @staticmethod
    def _used(connection: sqlite3.Connection, scope: Scope) -> None:
        connection.execute("UPDATE spaces SET used_at = ? WHERE enterprise_id = ? AND space_id = ?",
                           (time.time(), scope.enterprise_id, scope.space_id))

    @staticmethod
    def _forget(connection: sqlite3.Connection, scope: Scope) -> None:
        for table in _TABLES:
            connection.execute(f"DELETE FROM {table} WHERE enterprise_id = ? AND space_id = ?",
                               (scope.enterprise_id, scope.space_id))

    @staticmethod
    def _remove(connection: sqlite3.Connection, scope: Scope, document_ids: Sequence[str]) -> None:
        keys = [(scope.enterprise_id, scope.space_id, document_id) for document_id in document_ids]
        connection.executemany("DELETE FROM documents WHERE enterprise_id = ? AND space_id = ? AND id = ?", keys)
        connection.executemany("DELETE FROM chunks WHERE enterprise_id = ? AND space_id = ? AND document_id = ?",
                               keys)

    @staticmethod
    def _drop_files(connection: sqlite3.Connection, scope: Scope, removed: Sequence[str],
                    documents: Sequence[Document]) -> None:
        """Forget the files of removed documents and those of replaced ones that hold another content than the
        document now names (the new content, written just before its document, stays)."""
        connection.executemany(
            "DELETE FROM files WHERE enterprise_id = ? AND space_id = ? AND document_id = ?",
            [(scope.enterprise_id, scope.space_id, document_id) for document_id in removed])
        connection.executemany(
            "DELETE FROM files WHERE enterprise_id = ? AND space_id = ? AND document_id = ? AND content_hash != ?",
            [(scope.enterprise_id, scope.space_id, document.id, document.content_hash) for document in documents])

    @classmethod
    def _size(cls, connection: sqlite3.Connection, scope: Scope) -> int:
        """What a cached space takes: its documents, chunks with their vectors, and raw files (as recorded)."""
        row = connection.execute("SELECT bytes FROM spaces WHERE enterprise_id = ? AND space_id = ?",
                                 (scope.enterprise_id, scope.space_id)).fetchone()
        return row[0] if row[0] is not None else cls._recount(connection, scope)

    @staticmethod
    def _recount(connection: sqlite3.Connection, scope: Scope) -> int:
        """Count and record what a space takes, after its documents changed (from the size indexes alone)."""
        size = sum(connection.execute(f"SELECT COALESCE(SUM(size), 0) FROM {table} WHERE enterprise_id = ? AND "
                                      "space_id = ?", (scope.enterprise_id, scope.space_id)).fetchone()[0]
                   for table in _TABLES[1:])
        connection.execute("UPDATE spaces SET bytes = ? WHERE enterprise_id = ? AND space_id = ?",
                           (size, scope.enterprise_id, scope.space_id))
        return size

    @staticmethod
    def _insert(connection: sqlite3.Connection, scope: Scope, snapshot: SpaceSnapshot) -> None:
        documents = [pickle.dumps(document) for document in snapshot.documents]
        connection.executemany(
            "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?)",
            [(scope.enterprise_id, scope.space_id, document.id, blob, len(blob))
             for document, blob in zip(snapshot.documents, documents, strict=True)])
        rows = []
        for chunk, vector in zip(snapshot.chunks, np.asarray(snapshot.vectors, dtype=np.float32), strict=True):
            blob, raw = pickle.dumps(chunk), vector.tobytes()
            rows.append((scope.enterprise_id, scope.space_id, chunk.document_id, chunk.ordinal, blob, raw,
                         len(blob) + len(raw)))
        connection.executemany("INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def _evict(self) -> None:
        """Keep the most recently used spaces whose sizes add up to at most `max_bytes`; forget the others."""
        with self._transaction() as connection:
            spaces = [Scope(*row) for row in connection.execute(
                "SELECT enterprise_id, space_id FROM spaces ORDER BY used_at DESC").fetchall()]
            total = 0
            for scope in spaces:
                size = self._size(connection, scope)
                total += size
                if total > self.max_bytes:
                    self._forget(connection, scope)
                    total -= size


def refresh(cache: SpaceCache, store: Any, scope: Scope, dimension: int) -> None:
    """Bring a space's cached copy up to date after a successful search or research of it (the space is in use).

    `store` is the Cosmos store (`snapshot`, `changes`, `space_stats`). Not cached yet: the whole space is
    fetched, if it fits. Cached: the change log after its sequence names the documents to fetch again or drop;
    a document already cached at the logged version and hash (written through this process) is not fetched.
    """
    sequence = cache.sequence(scope)
    if sequence is None:
        stats = store.space_stats(scope)
        if cache.fits(stats.chunks, stats.bytes, dimension):
            cache.fill(scope, store.snapshot(scope))
        return
    changes = store.changes(scope, sequence)
    if not changes:
        cache.checked(scope)
        return
    latest = {change.document_id: change for change in changes}
    cached = {document.id: (document.version, document.content_hash) for document in cache.documents(scope) or ()}
    removed = [doc_id for doc_id, change in latest.items() if change.kind is ChangeKind.DELETED]
    stale = [doc_id for doc_id, change in latest.items()
             if change.kind is not ChangeKind.DELETED and cached.get(doc_id) != (change.version, change.content_hash)]
    fetched = store.snapshot(scope, stale) if stale else SpaceSnapshot.empty()
    gone = set(stale) - {document.id for document in fetched.documents}  # deleted after the changes were read
    cache.apply(scope, fetched, [*removed, *gone], changes[-1].sequence)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, so that the inner product `top_k` ranks by is the cosine Cosmos ranks by."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.ascontiguousarray(matrix / np.where(norms == 0, 1, norms), dtype=np.float32)


def _now() -> str:
    return datetime.now(UTC).isoformat()
