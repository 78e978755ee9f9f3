"""The embedded store beside what users would pick instead, on the same vectors in one run.

    uv run --with chromadb --with lancedb python bench/bench_vs_peers.py [--sizes 10000 100000] [--queries 100]
        [--data random|clustered] [--skip Chroma ...]

For each size, the same unit vectors (384-d) go into LMSpace's `LocalKnowledgeStore` (SQLite rows + FTS5
+ the memory-mapped matrix, written through `put_documents` in documents of 50 chunks), a faiss `IndexFlatIP`
saved to a file, and, when importable, Chroma (`PersistentClient`, our vectors, HNSW with inner product) and LanceDB
(no index: an exact scan with the dot metric). "LMSpace HNSW" is the same LMSpace store with its approximate index
built (`retrieval.approximate` defaults, threshold lowered to 1): its build time and disk are the index's alone, and
whether the index answers is the store's own verdict (recall@10 on a sample of its vectors >= 0.99; printed below
the table). Then each is closed, its files are dropped from the page cache
(`posix_fadvise(DONTNEED)`, so "first query after open" reads from disk as after a reboot) and opened again, and
the first query is timed. Queries are interleaved (each query goes to every system before the next) so that load
from other processes hits all of them alike. Recall@10 is against an exact numpy scan. faiss runs on one thread
(as LMSpace's search does); Chroma and LanceDB use their own defaults.

`--data random` (the default) is independent random unit vectors, the worst case for graph indexes;
`--data clustered` puts them around size/20 centres (nearest neighbours at cosine ~0.8), closer to embeddings of text.

RSS: after the timed run, each system is opened again in a process of its own (a bare Python with numpy, then the
system's imports, open, the same queries) which reports its resident memory: `anon` is what the process allocated,
`file` the file pages it has mapped (LMSpace's memory-mapped vectors are there: shared with the page cache, not
copied, and reclaimable), and `+` how much both grew over the bare Python measured before the system was imported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    note: str = ""
    folder_of: str = ""  # the system whose folder this one builds on (LMSpace HNSW adds an index to LMSpace's)


def open_lmspace(folder: Path, approximate=None):
    """The bench's LMSpace store and space (enterprise `bench`, space `peers`)."""
    from lmspace_core.stores.local.database import Database
    from lmspace_core.stores.local.sqlite_store import LocalKnowledgeStore

    store = LocalKnowledgeStore(Database(folder / "lmspace.db"), folder, approximate=approximate)
    space = store.find_space("bench", "peers") or store.create_space("bench", "peers", "", "", "random", DIM)
    return store, space.scope


def lmspace_query(store, scope) -> Callable[[np.ndarray], list[int]]:
    return lambda vector: [int(hit.chunk.text.split()[1]) for hit in store.search(scope, vector, K)]


def lmspace_system() -> System:
    from lmspace_core.domain import ChunkDraft, Location
    from lmspace_core.stores.base import DocumentDraft

    def build(folder: Path, vectors: np.ndarray) -> None:
        store, scope = open_lmspace(folder)
        batch = []
        for start in range(0, len(vectors), 50):
            rows = vectors[start : start + 50]
            batch.append(DocumentDraft(f"doc-{start}", f"doc {start}", "text", (), f"h{start}", 1, None,
                                       tuple(ChunkDraft(f"chunk {start + i}", Location()) for i in range(len(rows))),
                                       rows))
            if len(batch) == 200:
                store.put_documents(scope, batch)
                batch = []
        if batch:
            store.put_documents(scope, batch)
        store.close()

    return System("LMSpace", build, lambda folder: lmspace_query(*open_lmspace(folder)))


def lmspace_hnsw_system() -> System:
    """LMSpace's store with its approximate index, built on the LMSpace system's folder (the index alone is timed)."""
    from dataclasses import replace

    from lmspace_core.stores.local.approximate import HnswParams

    params = replace(HnswParams(), min_chunks=1)

    def build(folder: Path, vectors: np.ndarray) -> None:
        store, scope = open_lmspace(folder, params)
        plan = store.build_approximate_index(scope, lambda event: None, threading.Event())
        system.note = plan.describe()
        store.close()

    system = System("LMSpace HNSW", build, lambda folder: lmspace_query(*open_lmspace(folder, params)),
                    folder_of="LMSpace")
    return system


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


FACTORIES = {"LMSpace": lmspace_system, "LMSpace HNSW": lmspace_hnsw_system, "faiss flat": faiss_system,
             "Chroma (HNSW)": chroma_system, "LanceDB (flat)": lancedb_system}


def systems() -> list[System]:
    found = []
    for name, make in FACTORIES.items():
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


def disk_mb(folder: Path, before: float = 0.0) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6 - before


def memory_mb() -> dict[str, float]:
    """This process's resident memory now, anonymous and file-backed, in MB (Linux /proc)."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {name: int(status[key].split()[0]) / 1024 for name, key in (("anon", "RssAnon"), ("file", "RssFile"))}


def rss_child(name: str, folder: Path, queries: Path) -> None:
    """In a process of its own: open one system, answer the queries, print its memory as JSON."""
    bare = memory_mb()
    query = FACTORIES[name]().open(folder)
    for vector in np.load(queries):
        query(vector)
    now = memory_mb()
    print(json.dumps({**now, "grown": now["anon"] + now["file"] - bare["anon"] - bare["file"]}))


def measure_rss(system: System, folder: Path, queries: Path) -> dict[str, float]:
    run = subprocess.run([sys.executable, __file__, "--rss-child", system.name, str(folder), str(queries)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"{system.name}: {run.stderr.strip().splitlines()[-1:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def vectors_for(size: int, data: str, rng: np.random.Generator) -> np.ndarray:
    if data == "clustered":
        centres = rng.standard_normal((max(1, size // 20), DIM), dtype=np.float32)
        vectors = centres[rng.integers(0, len(centres), size)] + 0.5 * rng.standard_normal((size, DIM),
                                                                                            dtype=np.float32)
    else:
        vectors = rng.standard_normal((size, DIM), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact_top(vectors: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    return [set(np.argpartition(-(vectors @ query), K)[:K].tolist()) for query in queries]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(len(ordered) * fraction) - 1)] * 1000


def run_size(size: int, query_count: int, chosen: list[System], work: Path, data: str) -> None:
    rng = np.random.default_rng(size)
    vectors = vectors_for(size, data, rng)
    queries = vectors_for(query_count, "random", rng)
    if data == "clustered":  # queries near the data, as questions land near the passages that answer them
        queries = vectors[rng.choice(size, query_count, replace=False)] + 0.3 * queries
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    truth = exact_top(vectors, queries)
    handles, folders = {}, {}
    for system in chosen:
        folder = folders[system.name] = folders.get(system.folder_of) or work / f"{system.name.split()[0]}-{size}"
        folder.mkdir(exist_ok=True)
        before = disk_mb(folder)
        started = time.perf_counter()
        system.build(folder, vectors)
        system.build_s = time.perf_counter() - started
        system.disk_mb = disk_mb(folder, before)
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
    handles.clear()
    np.save(work / "queries.npy", queries)
    memory = {system.name: measure_rss(system, folders[system.name], work / "queries.npy") for system in chosen}
    lmspace_p50 = statistics.median(samples["LMSpace"]) * 1000
    lmspace_rss = memory["LMSpace"]["anon"] + memory["LMSpace"]["file"]
    print(f"\n{size:,} {data} vectors x {DIM}, {query_count} queries, top-{K}")
    print("| system | build s | query p50 ms | p95 ms | recall@10 | first query after open s | disk MB "
          "| RSS MB: anon + file (+ over bare Python) | LMSpace p50 / this p50 | LMSpace RSS / this RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for system in chosen:
        p50 = statistics.median(samples[system.name]) * 1000
        rss = memory[system.name]
        print(f"| {system.name} | {system.build_s:.1f} | {p50:.2f} | {percentile(samples[system.name], 0.95):.2f} "
              f"| {recall[system.name] / (K * query_count):.3f} | {system.first_query_s:.2f} | {system.disk_mb:.0f} "
              f"| {rss['anon']:.0f} + {rss['file']:.0f} (+{rss['grown']:.0f}) | {lmspace_p50 / p50:.2f} "
              f"| {lmspace_rss / (rss['anon'] + rss['file']):.2f} |", flush=True)
    for system in chosen:
        if system.note:
            print(f"{system.name}: {system.note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--skip", nargs="*", default=[],
                        help="systems to leave out by first word or full name, e.g. Chroma (slow to build at 1M)")
    parser.add_argument("--data", choices=["random", "clustered"], default="random")
    parser.add_argument("--rss-child", nargs=3, help=argparse.SUPPRESS)  # SYSTEM FOLDER QUERIES: measure_rss's child
    args = parser.parse_args()
    if args.rss_child:
        return rss_child(args.rss_child[0], Path(args.rss_child[1]), Path(args.rss_child[2]))
    chosen = [system for system in systems() if not {system.name, system.name.split()[0]} & set(args.skip)]
    work = Path(tempfile.mkdtemp(prefix="lmspace-peers-"))
    try:
        for size in args.sizes:
            run_size(size, args.queries, chosen, work, args.data)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, numpy {np.__version__}")


if __name__ == "__main__":
    main()
