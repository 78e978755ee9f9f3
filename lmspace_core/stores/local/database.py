"""The embedded SQLite database: one write connection, a few read connections, WAL, foreign keys.

The knowledge store and the job store share one file (`<data_dir>/lmspace.db`) and this class, so they share the
migrations and the write lock too. Every connection belongs to the `Database`, never to the thread that used it:
Streamlit runs each rerun in a new thread, and connections kept per thread piled up as open files until `close()`
(the shape is datasette's: one writer, a bounded set of readers).
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from lmspace_core.errors import LMSpaceError
from lmspace_core.stores.local.migrations import migrate

READ_CONNECTIONS = 4
_WAL_ATTEMPTS = 20
# SQLite's own words for a file that is not (or no longer) a database it can read.
_DAMAGE_CODES = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


def utc_now() -> str:
    """The timestamp format every table stores: ISO 8601 in UTC."""
    return datetime.now(UTC).isoformat()


class DamagedDatabaseError(LMSpaceError):
    """`lmspace.db` is truncated, overwritten or otherwise unreadable; nothing in it can be trusted."""


def _damaged(path: Path, error: sqlite3.DatabaseError) -> DamagedDatabaseError:
    return DamagedDatabaseError(
        f"The database {path} is damaged ({error}); LMSpace cannot read it. To recover: stop every LMSpace process, "
        f"keep a copy of the file, then either restore it from a backup, or salvage what SQLite can still read with "
        f"`sqlite3 {path} .recover | sqlite3 {path}.recovered` and move {path.name}.recovered into its place, then "
        f"run `lmspace doctor`. To start afresh instead, move {path.name} away (the documents must then be ingested "
        "again)."
    )


class Database:
    """Connections to `path`, migrated to the newest schema on open and owned by this object until `close()`."""

    def __init__(self, path: Path, read_connections: int = READ_CONNECTIONS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._write_lock = threading.Lock()
        self._idle_readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._reader_slots = threading.BoundedSemaphore(read_connections)
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        with self._translating_damage():
            self._writer = self._connect()
            migrate(self._writer)

    def _connect(self) -> sqlite3.Connection:
        # autocommit=True: transactions are exactly the BEGIN/COMMIT written here (executescript adds none).
        connection = sqlite3.connect(self.path, autocommit=True, timeout=30, check_same_thread=False)
        connection.row_factory = sqlite3.Row
        self._use_wal(connection)
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        return connection

    @staticmethod
    def _use_wal(connection: sqlite3.Connection) -> None:
        """Switch the file to write-ahead logging, retrying while other processes switch it at the same moment.

        On a fresh file two connections switching together can each hold the lock the other needs; SQLite then
        answers "database is locked" at once instead of waiting out the busy timeout.
        """
        for attempt in range(1, _WAL_ATTEMPTS + 1):
            try:
                connection.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if attempt == _WAL_ATTEMPTS or getattr(error, "sqlite_errorname", "") != "SQLITE_BUSY":
                    raise
                time.sleep(0.02 * attempt)

    @contextmanager
    def _translating_damage(self) -> Iterator[None]:
        """Turn SQLite's "not a database" and "malformed" errors into one message that says how to recover."""
        try:
            yield
        except sqlite3.DatabaseError as error:
            if getattr(error, "sqlite_errorname", None) in _DAMAGE_CODES:
                raise _damaged(self.path, error) from None
            raise

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding SQLite's write lock (and this process's, so threads queue politely)."""
        with self._write_lock, self._translating_damage():
            connection = self._writer
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot even while another process writes.

        Blocks while every read connection is in use; a read never holds one longer than its `with` block.
        """
        with self._reader_slots, self._translating_damage():
            connection = self._take_reader()
            try:
                connection.execute("BEGIN")
                try:
                    yield connection
                finally:
                    connection.execute("COMMIT")
            finally:
                self._idle_readers.put(connection)

    def fetch_one(self, sql: str, params: Sequence = ()) -> sqlite3.Row | None:
        """The first row of one query, read on a pooled connection."""
        with self.read() as connection:
            return connection.execute(sql, params).fetchone()

    def fetch_all(self, sql: str, params: Sequence = ()) -> list[sqlite3.Row]:
        """Every row of one query, read on a pooled connection."""
        with self.read() as connection:
            return connection.execute(sql, params).fetchall()

    def _take_reader(self) -> sqlite3.Connection:
        try:
            return self._idle_readers.get_nowait()
        except queue.Empty:
            connection = self._connect()
            with self._readers_lock:
                self._readers.append(connection)
            return connection

    def integrity_problems(self) -> list[str]:
        """What `PRAGMA integrity_check` and `foreign_key_check` find wrong; empty when the file is sound."""
        with self.read() as connection:
            found = [row[0] for row in connection.execute("PRAGMA integrity_check").fetchall()]
            problems = [] if found == ["ok"] else found
            for table, rowid, parent, _ in connection.execute("PRAGMA foreign_key_check").fetchall():
                problems.append(f"row {rowid} of {table} points at a missing {parent} row")
        return problems

    def close(self) -> None:
        """Close every connection; the caller must not be reading or writing at the same time."""
        with self._write_lock, self._readers_lock:
            if self._closed:
                return
            self._closed = True
            for connection in (self._writer, *self._readers):
                connection.close()
            self._readers.clear()
