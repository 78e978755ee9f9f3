"""An optional HNSW index over a big space's vectors: built in the background, trusted only once it measures up.

Exact search (`ranking.top_k`) answers every query until a space's index exists, matches the space exactly and
found at least `min_recall` of the exact top 10 for a sample of the space's own vectors. An index is keyed by the
space's vector file and generation (which every write bumps), and its files carry that key in their names, so an
index of an older state of the space is never even opened: any change sends queries back to exact search until a
rebuild for the new state passes the same measurement.

Files, next to the space's vector file: `<vector file stem>-g<generation>.hnsw` (faiss `IndexHNSWFlat`, inner
product) and `.hnsw.json` (the `IndexReport`, written last, so a crash mid-write leaves no report and no index in
use). A refused index keeps its report (so the refusal is shown and not rebuilt in a loop) but not its graph.

Measured on random 384-d unit vectors (no structure, the worst case for a graph index), HNSW with M=32 finds
0.5-0.85 of the true top 10 even with efSearch 256: such a space is refused and stays on exact search. Embeddings
of real text are clustered, where the same index finds all of them (clustered test vectors: 1.00 at efSearch 16).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from lmspace_core.domain import SearchPlan
from lmspace_core.priority import in_background_thread
from lmspace_core.stores.local.ranking import SCORE_DTYPE, faiss_module, top_k

RECALL_K = 10
# Vectors added per step of a build: the step at which progress is reported and a cancel is noticed.
BUILD_STEP = 10_000


@dataclass(frozen=True)
class HnswParams:
    """When a space gets an approximate index and how it is built and searched (`retrieval.approximate`)."""

    min_chunks: int = 100_000
    m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    min_recall: float = 0.99
    sample: int = 200
    build_threads: int = 1


@dataclass(frozen=True)
class IndexKey:
    """The state of a space an index was built from: its vector file, generation and committed rows."""

    vector_file: str
    generation: int
    rows: int

    @property
    def stem(self) -> str:
        return f"{Path(self.vector_file).stem}-g{self.generation}"


@dataclass(frozen=True)
class IndexReport:
    """How an index was built and what it measured; stored beside it as JSON."""

    key: IndexKey
    m: int
    ef_construction: int
    ef_search: int
    recall_at_10: float
    sample: int
    build_s: float
    built_at: str
    accepted: bool

    def describe(self) -> str:
        verdict = "in use" if self.accepted else "refused, exact search answers"
        return (f"HNSW M={self.m} efSearch={self.ef_search}: recall@10 {self.recall_at_10:.3f} on "
                f"{self.sample} of the space's own vectors ({verdict}), built in {self.build_s:.1f} s")


class ApproximateIndexes:
    """The HNSW indexes of the spaces of one data directory, loaded on first use and kept while they match."""

    def __init__(self, params: HnswParams) -> None:
        self.params = params
        self._loaded: dict[str, tuple[Path, object]] = {}  # space id -> (index file, faiss index)
        self._lock = threading.Lock()

    def plan(self, folder: Path, key: IndexKey) -> SearchPlan:
        if key.rows < self.params.min_chunks:
            return SearchPlan(False, f"{key.rows:,} vectors, below retrieval.approximate.min_chunks "
                                     f"({self.params.min_chunks:,})")
        report = read_report(folder, key)
        if report is None:
            return SearchPlan(False, "no approximate index for the space as it is now (one is built in the "
                                     "background after a change)", due=True)
        if not self._fits(report):
            return SearchPlan(False, "the index was built with other retrieval.approximate settings", due=True)
        return SearchPlan(report.accepted, report.describe())

    def _fits(self, report: IndexReport) -> bool:
        params = self.params
        return (report.m, report.ef_construction, report.ef_search) == (params.m, params.ef_construction,
                                                                        params.ef_search)

    def top_k(self, folder: Path, key: IndexKey, query: np.ndarray, k: int) -> list[tuple[int, float]] | None:
        """The approximate top `k` (row, score) from the space's index, or None when no usable index exists."""
        index = self._usable(folder, key)
        if index is None:
            return None
        faiss = faiss_module()
        query = np.ascontiguousarray(np.asarray(query, dtype=SCORE_DTYPE).reshape(1, -1))
        scores, rows = index.search(query, k, params=faiss.SearchParametersHNSW(efSearch=max(self.params.ef_search,
                                                                                             k)))
        ranked = [(int(row), float(score)) for row, score in zip(rows[0], scores[0], strict=True) if row >= 0]
        return sorted(ranked, key=lambda pair: (-pair[1], pair[0]))

    def _usable(self, folder: Path, key: IndexKey):
        if key.rows < self.params.min_chunks:
            return None
        path = folder / f"{key.stem}.hnsw"
        space_id = _space_id(key.vector_file)
        with self._lock:
            loaded = self._loaded.get(space_id)
        if loaded is not None and loaded[0] == path:
            return loaded[1]
        report = read_report(folder, key)
        if report is None or not report.accepted or not self._fits(report) or not path.is_file():
            return None
        index = faiss_module().read_index(str(path))
        with self._lock:
            self._loaded[space_id] = (path, index)  # an older index of the space is let go
        return index

    def forget(self, space_id: str) -> None:
        with self._lock:
            self._loaded.pop(space_id, None)

    def build(
        self,
        folder: Path,
        key: IndexKey,
        matrix: np.ndarray,
        progress: Callable[[int, int], None],
        cancel: threading.Event,
    ) -> IndexReport | None:
        """Build, measure and save the index of `matrix` (the space at `key`); None when cancelled.

        Runs on a thread of lowered priority, so queries (and the rest of the machine) keep their share of the CPU.
        """
        return in_background_thread(self._build, folder, key, matrix, progress, cancel)

    def _build(self, folder, key, matrix, progress, cancel) -> IndexReport | None:
        faiss = faiss_module()
        faiss.omp_set_num_threads(self.params.build_threads)  # this thread's OpenMP setting, not the process's
        started = time.perf_counter()
        index = faiss.IndexHNSWFlat(matrix.shape[1], self.params.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.params.ef_construction
        for start in range(0, key.rows, BUILD_STEP):
            if cancel.is_set():
                return None
            progress(start, key.rows)
            index.add(np.ascontiguousarray(matrix[start : start + BUILD_STEP], dtype=SCORE_DTYPE))
        progress(key.rows, key.rows)
        recall, sample = measure_recall(index, matrix, self.params)
        report = IndexReport(
            key=key, m=self.params.m, ef_construction=self.params.ef_construction, ef_search=self.params.ef_search,
            recall_at_10=recall, sample=sample, build_s=round(time.perf_counter() - started, 2),
            built_at=datetime.now(UTC).isoformat(timespec="seconds"), accepted=recall >= self.params.min_recall,
        )
        _save(folder, report, index if report.accepted else None)
        return report


def measure_recall(index, matrix: np.ndarray, params: HnswParams) -> tuple[float, int]:
    """The share of each sampled row's 10 exact nearest other rows that the index finds, and the sample size.

    The queries are rows of the space itself (a fixed random sample), each left out of its own answers: a row is
    its own best match and an index finds that one easily, which would flatter the measure.
    """
    rows = matrix.shape[0]
    sample = np.random.default_rng(rows).choice(rows, size=min(params.sample, rows), replace=False)
    want = min(RECALL_K, rows - 1)
    if want <= 0:
        return 1.0, len(sample)
    faiss = faiss_module()
    queries = np.ascontiguousarray(matrix[sample], dtype=SCORE_DTYPE)
    search = faiss.SearchParametersHNSW(efSearch=max(params.ef_search, want + 1))
    found = index.search(queries, want + 1, params=search)[1]
    hits = 0
    for query_row, vector, approximate in zip(sample, queries, found, strict=True):
        exact = {row for row, _ in top_k(matrix, vector, want + 1) if row != query_row}
        hits += len(exact & {int(row) for row in approximate if row != query_row})
    return hits / (want * len(sample)), len(sample)


def _space_id(vector_file: str) -> str:
    """The space a vector file belongs to: its files are named `<space id>-<suffix>.f32`."""
    return vector_file.split("-", 1)[0]


def read_report(folder: Path, key: IndexKey) -> IndexReport | None:
    try:
        data = json.loads((folder / f"{key.stem}.hnsw.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    report = IndexReport(**{**data, "key": IndexKey(**data["key"])})
    return report if report.key == key else None


def _save(folder: Path, report: IndexReport, index) -> None:
    """Write the index (if any) and then its report, each through a rename; drop the space's older index files."""
    folder.mkdir(parents=True, exist_ok=True)
    if index is not None:
        partial = folder / f"{report.key.stem}.hnsw.partial"
        faiss_module().write_index(index, str(partial))
        os.replace(partial, folder / f"{report.key.stem}.hnsw")
    partial = folder / f"{report.key.stem}.hnsw.json.partial"
    partial.write_text(json.dumps(asdict(report)))
    os.replace(partial, folder / f"{report.key.stem}.hnsw.json")
    remove_index_files(folder, keep={report.key.stem}, prefix=f"{_space_id(report.key.vector_file)}-")


def remove_index_files(folder: Path, keep: set[str], prefix: str = "") -> list[Path]:
    """Remove index files in `folder` whose names start with `prefix` and whose stem is not in `keep`."""
    removed = []
    for path in folder.glob(f"{prefix}*.hnsw*"):
        if path.name.split(".hnsw")[0] not in keep:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
