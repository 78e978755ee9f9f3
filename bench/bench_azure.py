"""Store-level ingest and search latency: the Azure backend on the local emulators beside the embedded backend.

    uv run python bench/bench_azure.py [--docs 100] [--chunks 10] [--queries 200]

Both backends get the same synthetic documents (384-d random unit vectors, `--chunks` chunks each, half of them
tagged) through `put_documents`, one document per call as the ingest pipeline writes them, then the same random
queries through `search` (top-10, and top-10 filtered by tag). The emulator is an in-memory Python server on
loopback, so the ratio says what the Azure code path costs locally (HTTP, JSON, SDK); it is not a claim about
Cosmos DB's own latency, which adds the network round trip to the region.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lmspace_core.config import load_config  # noqa: E402
from lmspace_core.domain import ChunkDraft, Location, SearchFilter  # noqa: E402
from lmspace_core.emulators.launch import start_emulators  # noqa: E402
from lmspace_core.stores.base import DocumentDraft  # noqa: E402
from lmspace_core.workspace import build_stores  # noqa: E402

DIM = 384


def drafts(count: int, chunks: int, rng: np.random.Generator) -> list[DocumentDraft]:
    made = []
    for i in range(count):
        vectors = rng.standard_normal((chunks, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        texts = tuple(ChunkDraft(f"document {i} passage {j} " * 20, Location(start_line=j + 1)) for j in range(chunks))
        made.append(DocumentDraft(f"doc-{i}.md", f"Document {i}", "markdown", ("half",) if i % 2 else (),
                                  f"hash-{i}", 2000, None, texts, vectors))
    return made


def measure(store, documents: list[DocumentDraft], queries: np.ndarray) -> dict[str, float]:
    space = store.create_space("bench", "bench", "", "", "bench-embedder", DIM)
    started = time.perf_counter()
    for document in documents:
        store.put_documents(space.scope, [document])
    ingest = time.perf_counter() - started
    timings = {}
    for label, search_filter in (("search", SearchFilter()), ("filtered", SearchFilter(tags=("half",)))):
        samples = []
        for query in queries:
            begun = time.perf_counter()
            store.search(space.scope, query, 10, search_filter)
            samples.append(time.perf_counter() - begun)
        samples.sort()
        timings[f"{label}_p50"] = statistics.median(samples) * 1000
        timings[f"{label}_p95"] = samples[int(0.95 * (len(samples) - 1))] * 1000
    chunks = sum(len(d.chunks) for d in documents)
    return {"ingest_s": ingest, "chunks_per_s": chunks / ingest, "ms_per_document": ingest / len(documents) * 1000,
            **timings}


def workload(description: str, queries: int) -> tuple[argparse.Namespace, list[DocumentDraft], np.ndarray]:
    """The command line (`--docs`, `--chunks`, `--queries`), the synthetic documents and the random unit queries."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=10)
    parser.add_argument("--queries", type=int, default=queries)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    rng = np.random.default_rng(0)
    documents = drafts(args.docs, args.chunks, rng)
    vectors = rng.standard_normal((args.queries, DIM)).astype(np.float32)
    return args, documents, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def main() -> None:
    args, documents, queries = workload(__doc__.splitlines()[0], 200)
    emulators = start_emulators()
    try:
        results = {}
        for backend in ("embedded", "azure"):
            home = Path(tempfile.mkdtemp(prefix=f"bench-{backend}-"))
            env = {"LMSPACE_HOME": str(home), **(emulators.environment() if backend == "azure" else {})}
            store, _, _ = build_stores(load_config(None, env=env))
            results[backend] = measure(store, documents, queries)
            store.close()
    finally:
        emulators.stop()
    embedded, azure = results["embedded"], results["azure"]
    rows = [
        ("write, ms per document", "ms_per_document", "{:.1f}"),
        ("write, chunks/s", "chunks_per_s", "{:.0f}"),
        ("search top-10, p50 ms", "search_p50", "{:.2f}"),
        ("search top-10, p95 ms", "search_p95", "{:.2f}"),
        ("search top-10 by tag, p50 ms", "filtered_p50", "{:.2f}"),
        ("search top-10 by tag, p95 ms", "filtered_p95", "{:.2f}"),
    ]
    print(f"{args.docs} documents x {args.chunks} chunks ({args.docs * args.chunks} chunks, {DIM}-d), "
          f"{args.queries} queries\n")
    print("| measure | embedded | azure (emulators) | azure / embedded |")
    print("|---|---|---|---|")
    for label, key, shape in rows:
        ratio = azure[key] / embedded[key]
        print(f"| {label} | {shape.format(embedded[key])} | {shape.format(azure[key])} | {ratio:.1f}x |")


if __name__ == "__main__":
    main()
