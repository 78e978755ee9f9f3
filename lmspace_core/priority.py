"""Background work (embedding an ingest's passages, building an approximate index) runs at a lower CPU priority.

On a small machine an ingest otherwise takes a core's worth of time slices from an interactive query in another
process or thread, and a one-thread query embedding of ~3 ms of CPU waits several times that for a core. A thread of
nice 10 gets about a tenth of the share of a nice-0 thread when both want the same core, and all of an idle one,
so background work loses nothing on a quiet machine.

Linux applies `setpriority` on a thread id to that thread alone (and to threads it creates afterwards, such as an
onnxruntime or OpenMP pool), so the priority is lowered on dedicated threads, never on the caller's: the dashboard's
or the CLI's own thread keeps its priority. An unprivileged thread cannot raise its priority again, which is why
these threads serve background work only.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

log = logging.getLogger(__name__)

BACKGROUND_NICE = 10
Result = TypeVar("Result")


def lower_thread_priority(nice: int) -> None:
    """Make the calling thread at least `nice` nice (no-op for 0, or where the platform cannot)."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    thread = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, thread) < nice:
            os.setpriority(os.PRIO_PROCESS, thread, nice)
    except OSError as error:  # a sandbox may forbid it; the work still runs, only at the usual priority
        log.debug("could not lower the priority of thread %s: %s", thread, error)


def background_executor(nice: int = BACKGROUND_NICE, name: str = "lmspace-background") -> ThreadPoolExecutor:
    """One worker thread running at `nice`, for work that repeats (a session's batches keep their pool)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=lower_thread_priority,
                              initargs=(nice,))


def in_background_thread(work: Callable[..., Result], *args, nice: int = BACKGROUND_NICE) -> Result:
    """Run `work(*args)` on a fresh thread at `nice` and return its result (its exceptions are raised here)."""
    with background_executor(nice) as executor:
        return executor.submit(work, *args).result()
