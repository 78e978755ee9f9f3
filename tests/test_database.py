"""The embedded database under concurrency: fresh data directories opened at once, reads from many threads."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
import traceback
from pathlib import Path

from lmspace_core.stores.local.database import Database
from lmspace_core.stores.local.migrations import MIGRATIONS

PROCESSES = 3
DIRECTORIES = 20


def _open_each(directories: list[str], barrier, failures) -> None:
    """Runs in a child process: open every fresh directory at the same moment as the other children."""
    for directory in directories:
        barrier.wait()
        try:
            Database(Path(directory) / "lmspace.db").close()
        except Exception:  # the test reports every failure, whatever its kind, with where it happened
            failures.put(f"{directory}: {traceback.format_exc()}")


def test_processes_opening_a_fresh_data_directory_together_all_succeed(tmp_path: Path):
    directories = [str(tmp_path / f"home-{n}") for n in range(DIRECTORIES)]
    context = multiprocessing.get_context("spawn")
    barrier, failures = context.Barrier(PROCESSES), context.Queue()
    children = [
        context.Process(target=_open_each, args=(directories, barrier, failures)) for _ in range(PROCESSES)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
        if child.is_alive():  # stuck on a lock a failed migration left: a failure, and no process left behind
            child.kill()
            child.join()
    assert [child.exitcode for child in children] == [0] * PROCESSES
    assert [failures.get() for _ in range(failures.qsize())] == []
    for directory in directories:
        with sqlite3.connect(Path(directory) / "lmspace.db") as connection:
            assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def _descriptors_on(path: Path) -> int:
    """How many file descriptors of this process are open on `path`."""
    count = 0
    for descriptor in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{descriptor}") == str(path)
        except OSError:
            pass  # a descriptor closed while listing
    return count


def test_reads_from_many_short_lived_threads_keep_the_open_files_flat(tmp_path: Path):
    path = tmp_path / "lmspace.db"
    database = Database(path)
    with database.read() as connection:
        connection.execute("SELECT * FROM spaces").fetchall()
    before = _descriptors_on(path)

    def read() -> None:
        with database.read() as connection:
            connection.execute("SELECT COUNT(*) FROM jobs").fetchone()

    for _ in range(500):
        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
    assert _descriptors_on(path) <= before + 4  # at most the bounded pool of readers, however many threads asked
    database.close()
    assert _descriptors_on(path) == 0


def test_concurrent_reads_never_use_more_connections_than_the_pool(tmp_path: Path):
    path = tmp_path / "lmspace.db"
    database = Database(path, read_connections=2)
    inside, most, lock = [0], [0], threading.Lock()
    start = threading.Barrier(8)

    def read() -> None:
        start.wait()
        with database.read() as connection:
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            connection.execute("SELECT COUNT(*) FROM spaces").fetchone()
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] <= 2
    assert _descriptors_on(path) <= 3  # the writer and two readers
    database.close()
