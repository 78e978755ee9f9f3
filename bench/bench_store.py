"""Concurrency of the embedded database: fresh data directories opened by 3 processes at once, and the descriptors
left open on lmspace.db after 500 reads from 500 short-lived threads (what Streamlit reruns look like).

    uv run python bench/bench_store.py
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import threading
from pathlib import Path

from lmspace_core.stores.local.database import Database

PROCESSES, DIRECTORIES, THREADS = 3, 20, 500


def _open_each(directories: list[str], barrier, failures) -> None:
    for directory in directories:
        barrier.wait()
        try:
            Database(Path(directory) / "lmspace.db").close()
        except Exception as error:  # counted, whatever its kind
            failures.put(f"{type(error).__name__}: {error}")


def first_open_failures(root: Path) -> tuple[int, list[str]]:
    context = multiprocessing.get_context("spawn")
    barrier, failures = context.Barrier(PROCESSES), context.Queue()
    directories = [str(root / f"home-{n}") for n in range(DIRECTORIES)]
    children = [context.Process(target=_open_each, args=(directories, barrier, failures)) for _ in range(PROCESSES)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
        if child.is_alive():
            child.kill()
            child.join()
    errors = [failures.get() for _ in range(failures.qsize())]
    return len(errors), errors


def descriptors_after_threads(root: Path) -> tuple[int, int]:
    path = root / "threads.db"
    database = Database(path)

    def open_on_db() -> int:
        return sum(1 for fd in os.listdir("/proc/self/fd") if _target(fd) == str(path))

    def read() -> None:
        with database.read() as connection:
            connection.execute("SELECT COUNT(*) FROM jobs").fetchone()

    read()
    before = open_on_db()
    for _ in range(THREADS):
        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
    after = open_on_db()
    database.close()
    return before, after


def _target(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as directory:
        failed, errors = first_open_failures(Path(directory))
        print(f"first open: {failed} failures in {PROCESSES} processes x {DIRECTORIES} fresh directories")
        for error in sorted(set(errors))[:3]:
            print(f"  {error}")
        before, after = descriptors_after_threads(Path(directory))
        print(f"descriptors on lmspace.db: {before} before, {after} after {THREADS} reads from {THREADS} threads")
    sys.exit(0)
