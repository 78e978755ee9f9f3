"""The embedded SQLite database: one connection per thread, WAL, foreign keys, explicit transactions.

The knowledge store and the job store share one file (`<data_dir>/lmspace.db`) and this class, so they share the
migrations and the write lock too.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from lmspace_core.stores.local.migrations import migrate


def utc_now() -> str:
    """The timestamp format every table stores: ISO 8601 in UTC."""
    return datetime.now(UTC).isoformat()


class Database:
    """Connections to `path` for every thread that asks, migrated to the newest schema on open."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        migrate(self.connection())

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (SQLite connections must not be shared between threads mid-transaction)."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
            self._local.connection = connection
            with self._opened_lock:
                self._opened.append(connection)
        return connection

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding SQLite's write lock (and this process's, so threads queue politely)."""
        with self._write_lock:
            connection = self.connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot even while another process writes."""
        connection = self.connection()
        connection.execute("BEGIN")
        try:
            yield connection
        finally:
            connection.execute("COMMIT")

    def close(self) -> None:
        """Close every thread's connection."""
        with self._opened_lock:
            for connection in self._opened:
                connection.close()
            self._opened.clear()
        self._local = threading.local()
