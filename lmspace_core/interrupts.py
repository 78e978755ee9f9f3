"""Ctrl+C as a request to stop long work cleanly, instead of an exception thrown wherever the code happens to be."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def cancel_on_interrupt(on_request: Callable[[], None]) -> Iterator[threading.Event]:
    """Within the block, the first Ctrl+C sets the yielded event (and calls `on_request`); a second one interrupts.

    Work that checks the event stops at its next safe point and keeps what it committed; a user who will not
    wait presses Ctrl+C again and gets Python's usual `KeyboardInterrupt`. Outside the main thread signals cannot
    be caught, so the event is yielded but never set by Ctrl+C.
    """
    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return

    def request_stop(signum, frame) -> None:
        cancel.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        on_request()

    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)
