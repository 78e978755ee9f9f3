"""One append-only float32 matrix per space, memory-mapped for search.

The file holds `rows × dimension` little-endian float32 values and nothing else. SQLite records how many rows are
committed; the ingest path appends rows *before* committing, so after a crash the file can only be longer than
the committed count, and `repair` truncates it back. A file shorter than the committed count was damaged from
outside; its space is refused until it is re-embedded or deleted. Rows of deleted chunks stay in the file (masked)
until the space is compacted into a new file.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

ROW_DTYPE = np.dtype("<f4")


class VectorFile:
    """A space's vector matrix on disk."""

    def __init__(self, path: Path, dimension: int) -> None:
        self.path = path
        self.dimension = dimension
        self._row_bytes = dimension * ROW_DTYPE.itemsize
        self._mapped: tuple[int, np.ndarray] | None = None

    def stored_rows(self) -> int:
        return self._size() // self._row_bytes

    def repair(self, committed_rows: int) -> bool:
        """Cut rows that were appended but never committed; return whether anything was cut.

        A file *shorter* than the committed rows was damaged outside LMSpace and is left alone: its space is refused
        (see `LocalKnowledgeStore`) until it is re-embedded or deleted, and every other space keeps working.
        """
        if self._size() > committed_rows * self._row_bytes:
            self.truncate(committed_rows)
            return True
        return False

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def append(self, vectors: np.ndarray, at_row: int) -> None:
        """Write `vectors` starting at `at_row` (dropping anything after it) and make them durable."""
        data = np.ascontiguousarray(vectors, dtype=ROW_DTYPE)
        if data.ndim != 2 or data.shape[1] != self.dimension:
            raise ValueError(f"expected vectors of dimension {self.dimension}, got shape {data.shape}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "r+b" if self.path.exists() else "w+b") as file:
            file.truncate(at_row * self._row_bytes)
            file.seek(at_row * self._row_bytes)
            file.write(data.tobytes())
            file.flush()
            os.fsync(file.fileno())

    def truncate(self, rows: int) -> None:
        with open(self.path, "r+b") as file:
            file.truncate(rows * self._row_bytes)
            os.fsync(file.fileno())
        self._mapped = None

    def matrix(self, rows: int) -> np.ndarray:
        """The first `rows` rows as a read-only memory map (shared page cache, no copy).

        A new map asks the kernel to read the file ahead in the background (`MADV_WILLNEED`), so a cold first query
        over a big space waits on large sequential reads instead of one page fault after another.
        """
        if rows == 0:
            return np.zeros((0, self.dimension), dtype=ROW_DTYPE)
        if self._mapped is None or self._mapped[0] != rows:
            with open(self.path, "rb") as file:
                mapped = mmap.mmap(file.fileno(), rows * self._row_bytes, access=mmap.ACCESS_READ)
            mapped.madvise(mmap.MADV_WILLNEED)
            self._mapped = (rows, np.frombuffer(mapped, dtype=ROW_DTYPE).reshape(rows, self.dimension))
        return self._mapped[1]

    def delete(self) -> None:
        self._mapped = None
        self.path.unlink(missing_ok=True)

