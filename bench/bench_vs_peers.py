"""The embedded store beside what users would pick instead, on the same vectors in one run.

    uv run --with chromadb --with lancedb python bench/bench_vs_peers.py [--sizes 10000 100000] [--queries 100]

For each size, the same random unit vectors (384-d) go into LMSpace's `LocalKnowledgeStore` (SQLite rows + FTS5
+ the memory-mapped matrix, written through `put_documents` in documents of 50 chunks), a faiss `IndexFlatIP`
saved to a file, and, when importable, Chroma (`PersistentClient`, our vectors, HNSW with inner product) and LanceDB
(no index: an exact scan with the dot metric). Then each is closed, its files are dropped from the page cache
(`posix_fadvise(DONTNEED)`, so "first query after open" reads from disk as after a reboot) and opened again, and
the first query is timed. Queries are interleaved (each query goes to every system before the next) so that load
from other processes hits all of them alike. Recall@10 is against an exact numpy scan. faiss runs on one thread
(as LMSpace's search does); Chroma and LanceDB use their own defaults.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmspace_core.domain import ChunkDraft, Location
from lmspace_core.stores.base import DocumentDraft
from lmspace_core.stores.local.database import Database
from lmspace_core.stores.local.sqlite_store import LocalKnowledgeStore

DIM = 384
K = 10


@dataclass
class System:
    """One store under test: how to build it, reopen it and ask it for the top-10 row numbers."""

    name: str
    build: Callable[[Path, np.ndarray], None]
    open: Callable[[Path], Callable[[np.ndarray], list[int]]]
    build_s: float = 0.0
    first_query_s: float = 0.0
    disk_mb: float = 0.0


def lmspace_system() -> System:
    state = {}

    def build(folder: Path, vectors: np.ndarray) -> None:
        store = LocalKnowledgeStore(Database(folder / "lmspace.db"), folder)
        space = store.create_space("bench", "peers", "", "", "random", DIM)
        state["scope"] = space.scope
        batch = []
        for start in range(0, len(vectors), 50):
            rows = vectors[start : start + 50]
            batch.append(DocumentDraft(f"doc-{start}", f"doc {start}", "text", (), f"h{start}", 1, None,
                                       tuple(ChunkDraft(f"chunk {start + i}", Location()) for i in range(len(rows))),
                                       rows))
            if len(batch) == 200:
                store.put_documents(space.scope, batch)
                batch = []
        if batch:
            store.put_documents(space.scope, batch)
        store.close()

    def reopen(folder: Path) -> Callable[[np.ndarray], list[int]]:
        store = LocalKnowledgeStore(Database(folder / "lmspace.db"), folder)

        def query(vector: np.ndarray) -> list[int]:
            return [int(hit.chunk.text.split()[1]) for hit in store.search(state["scope"], vector, K)]

        return query

    return System("LMSpace", build, reopen)


def faiss_system() -> System:
    import faiss

    faiss.omp_set_num_threads(1)

    def build(folder: Path, vectors: np.ndarray) -> None:
        index = faiss.IndexFlatIP(DIM)
        index.add(vectors)
        faiss.write_index(index, str(folder / "flat.faiss"))

    def reopen(folder: Path) -> Callable[[np.ndarray], list[int]]:
        index = faiss.read_index(str(folder / "flat.faiss"))
        return lambda vector: [int(row) for row in index.search(vector[None], K)[1][0]]

    return System("faiss flat", build, reopen)


def chroma_system() -> System:
    import chromadb
    from chromadb.config import Settings

    def client(folder: Path):
        return chromadb.PersistentClient(str(folder), settings=Settings(anonymized_telemetry=False))

    def build(folder: Path, vectors: np.ndarray) -> None:
        chroma = client(folder)
        collection = chroma.create_collection("bench", metadata={"hnsw:space": "ip"})
        step = chroma.get_max_batch_size()
        for start in range(0, len(vectors), step):
            rows = vectors[start : start + step]
            collection.add(ids=[str(start + i) for i in range(len(rows))], embeddings=rows)

    def reopen(folder: Path) -> Callable[[np.ndarray], list[int]]:
        collection = client(folder).get_collection("bench")
        return lambda vector: [int(i) for i in collection.query(query_embeddings=[vector], n_results=K,
                                                                 include=[])["ids"][0]]

    return System("Chroma (HNSW)", build, reopen)


def lancedb_system() -> System:
    import lancedb
    import pyarrow as pa

    def build(folder: Path, vectors: np.ndarray) -> None:
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        table = pa.table({"id": pa.array(np.arange(len(vectors))),
                          "vector": pa.FixedSizeListArray.from_arrays(flat, DIM)})
        lancedb.connect(str(folder)).create_table("bench", data=table)

    def reopen(folder: Path) -> Callable[[np.ndarray], list[int]]:
        table = lancedb.connect(str(folder)).open_table("bench")
        return lambda vector: (table.search(vector).metric("dot").select(["id", "_distance"]).limit(K)
                               .to_arrow()["id"].to_pylist())

    return System("LanceDB (flat)", build, reopen)


def systems() -> list[System]:
    found = [lmspace_system(), faiss_system()]
    for name, make in (("chromadb", chroma_system), ("lancedb", lancedb_system)):
        try:
            found.append(make())
        except ImportError:
            print(f"({name} is not installed: run with `uv run --with chromadb --with lancedb ...`)")
    return found


def drop_from_page_cache(folder: Path) -> None:
    """Evict a system's files from the page cache (only clean pages of files we own; needs no privileges)."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as file:
                os.fsync(file.fileno())  # dirty pages are not evicted
                os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def disk_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6


def exact_top(vectors: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    return [set(np.argpartition(-(vectors @ query), K)[:K].tolist()) for query in queries]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(len(ordered) * fraction) - 1)] * 1000


def run_size(size: int, query_count: int, chosen: list[System], work: Path) -> None:
    rng = np.random.default_rng(size)
    vectors = rng.standard_normal((size, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.standard_normal((query_count, DIM), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    truth = exact_top(vectors, queries)
    handles = {}
    for system in chosen:
        folder = work / f"{system.name.split()[0]}-{size}"
        folder.mkdir()
        started = time.perf_counter()
        system.build(folder, vectors)
        system.build_s = time.perf_counter() - started
        system.disk_mb = disk_mb(folder)
        drop_from_page_cache(folder)
        started = time.perf_counter()
        handles[system.name] = system.open(folder)
        handles[system.name](queries[0])
        system.first_query_s = time.perf_counter() - started
    samples = {system.name: [] for system in chosen}
    recall = {system.name: 0 for system in chosen}
    for number, query in enumerate(queries):
        order = chosen[number % len(chosen):] + chosen[: number % len(chosen)]
        for system in order:
            started = time.perf_counter()
            found = handles[system.name](query)
            samples[system.name].append(time.perf_counter() - started)
            recall[system.name] += len(truth[number] & set(found))
    lmspace_p50 = statistics.median(samples["LMSpace"]) * 1000
    print(f"\n{size:,} vectors x {DIM}, {query_count} queries, top-{K}")
    print("| system | build s | query p50 ms | p95 ms | recall@10 | first query after open s | disk MB "
          "| LMSpace p50 / this p50 |")
    print("|---|---|---|---|---|---|---|---|")
    for system in chosen:
        p50 = statistics.median(samples[system.name]) * 1000
        print(f"| {system.name} | {system.build_s:.1f} | {p50:.2f} | {percentile(samples[system.name], 0.95):.2f} "
              f"| {recall[system.name] / (K * query_count):.3f} | {system.first_query_s:.2f} | {system.disk_mb:.0f} "
              f"| {lmspace_p50 / p50:.2f} |", flush=True)
    handles.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--skip", nargs="*", default=[], help="systems to leave out, e.g. Chroma (slow to build at 1M)")
    args = parser.parse_args()
    chosen = [system for system in systems() if system.name.split()[0] not in args.skip]
    work = Path(tempfile.mkdtemp(prefix="lmspace-peers-"))
    try:
        for size in args.sizes:
            run_size(size, args.queries, chosen, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, numpy {np.__version__}")


if __name__ == "__main__":
    main()
