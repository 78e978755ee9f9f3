"""The embedding step of an ingest, in slices: chunks done, rate and time left are reported, and it can stop.

Embedding is nearly all of an ingest's time (a batch of 256 chunks is seconds on an idle machine, minutes on a
busy one), so a progress bar that moves only between batches sits at 0 for the first minutes of an upload, and a
cancel request checked only between documents waits as long. Slices of a few dozen chunks fix both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lmspace_core.domain import Progress, ProgressCallback
from lmspace_core.embeddings.base import Embedder

SLICE_CHUNKS = 64


class Cancelled(Exception):
    """Raised inside the pipeline when its cancel event is set; the pipeline turns it into `IngestCancelledError`."""


@dataclass
class EmbeddingMeter:
    """Counts an ingest's chunks as they are embedded, and estimates how many remain and how long they will take.

    The total is an estimate while files remain to be read: the chunks of the files read so far, plus the files
    left times the average number of chunks per file read.
    """

    files_total: int
    files_read: int = 0
    chunks_read: int = 0
    chunks_done: int = 0
    started: float = field(default_factory=time.monotonic)

    def read(self, chunks: int) -> None:
        """One more input was read (unchanged and failed inputs count, with no chunks)."""
        self.files_read += 1
        self.chunks_read += chunks

    def estimated_total(self) -> int:
        files_left = max(self.files_total - self.files_read, 0)
        return self.chunks_read + round(files_left * self.chunks_read / max(self.files_read, 1))

    def progress(self) -> Progress:
        total = max(self.estimated_total(), self.chunks_done)
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.chunks_done / elapsed
        left = f" · about {_duration((total - self.chunks_done) / rate)} left" if rate > 0 else ""
        return Progress("embed", done=self.chunks_done, total=total, message=f"{rate:.1f} chunks/s{left}")


def embed_in_slices(
    embedder: Embedder,
    texts: Sequence[str],
    meter: EmbeddingMeter,
    progress: ProgressCallback,
    cancel: threading.Event,
    slice_chunks: int = SLICE_CHUNKS,
) -> np.ndarray:
    """Embed `texts` a slice at a time, reporting after each slice and raising `Cancelled` before the next one."""
    # Slices of similar length waste less of the model's work on padding; the order is restored at the end.
    order = np.argsort([len(text) for text in texts], kind="stable")
    vectors = np.empty((len(texts), embedder.dimension), dtype=np.float32)
    for start in range(0, len(texts), slice_chunks):
        if cancel.is_set():
            raise Cancelled
        part = order[start : start + slice_chunks]
        vectors[part] = embedder.embed([texts[i] for i in part])
        meter.chunks_done += len(part)
        progress(meter.progress())
    return vectors


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
