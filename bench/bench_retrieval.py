"""Ingest throughput against the raw embedder, and exact-search latency at 10k and 100k chunks.

    uv run python bench/bench_retrieval.py [--docs 80] [--queries 200]

Ingest: synthetic markdown documents built from the sentences of tests/data/retrieval go through the whole pipeline
(read, hash, load, chunk, embed, SQLite + vector file); the same chunk texts are then encoded by the bare embedder.
The pipeline must keep >= 85% of the bare rate. Search: spaces of 10k and 100k chunks with random unit vectors
(synthetic, as the issue allows) answer random unit queries through `LocalKnowledgeStore.search`, which includes
fetching the hits' chunk and document rows. The end-to-end row adds embedding the query text with the real model.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from lmspace_core.config import load_config  # noqa: E402
from lmspace_core.domain import ChunkDraft, Location, SearchFilter  # noqa: E402
from lmspace_core.ingest.chunking import chunk_document  # noqa: E402
from lmspace_core.ingest.inputs import memory_source  # noqa: E402
from lmspace_core.ingest.loaders import load  # noqa: E402
from lmspace_core.ingest.pipeline import embedding_text  # noqa: E402
from lmspace_core.stores.base import DocumentDraft  # noqa: E402
from lmspace_core.workspace import Workspace  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "retrieval"
DIM = 384


def synthetic_documents(count: int, seed: int = 7) -> dict[str, str]:
    """Markdown documents of ~1,200 words made of shuffled real sentences, so no two are alike."""
    sentences = [
        s.strip()
        for path in CORPUS.glob("*.[mt][dx]*")
        for s in re.split(r"(?<=[.!?])\s+", re.sub(r"^#.*$", "", path.read_text(), flags=re.M))
        if len(s.split()) > 6
    ]
    rng = random.Random(seed)
    documents = {}
    for number in range(count):
        sections = []
        for section in range(6):
            paragraphs = [" ".join(rng.sample(sentences, 5)) for _ in range(3)]
            sections.append(f"## Section {section + 1}\n\n" + "\n\n".join(paragraphs))
        documents[f"doc-{number:04d}.md"] = f"# Synthetic policy {number}\n\n" + "\n\n".join(sections)
    return documents


def bench_ingest(workspace: Workspace, documents: dict[str, str]) -> list[tuple[str, str]]:
    embedder = workspace.embedder
    embedder.embed(["warm up the model"] * 8)
    texts = []
    for name, content in documents.items():
        loaded = load(memory_source(name, content))
        texts += [embedding_text(loaded.title, c) for c in chunk_document(loaded, 250, 40)]

    started = time.perf_counter()
    embedder.embed(texts)
    bare_rate = len(texts) / (time.perf_counter() - started)

    space = workspace.create_space("bench-ingest")
    started = time.perf_counter()
    report = workspace.ingest(space, documents)
    pipeline_seconds = time.perf_counter() - started
    chunks = sum(f.chunks for f in report.files)
    pipeline_rate = chunks / pipeline_seconds
    return [
        ("documents ingested", f"{len(documents)}"),
        ("chunks", f"{chunks}"),
        ("bare embedder encode", f"{bare_rate:.1f} chunks/s"),
        ("ingest pipeline", f"{pipeline_rate:.1f} chunks/s ({pipeline_seconds:.1f} s)"),
        ("pipeline / bare", f"{pipeline_rate / bare_rate:.1%} (target >= 85%)"),
    ]


def fill_space(workspace: Workspace, name: str, chunks: int, rng: np.random.Generator):
    """A space of `chunks` random unit vectors in documents of 50 chunks, tagged and typed for filter tests."""
    space = workspace.create_space(name)
    per_document = 50
    drafts = []
    for number in range(chunks // per_document):
        vectors = rng.standard_normal((per_document, DIM), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        drafts.append(DocumentDraft(
            source=f"doc-{number:05d}.md", title=f"doc {number}", doc_type="markdown" if number % 2 else "text",
            tags=("even",) if number % 2 == 0 else (), content_hash=f"h{number}", size_bytes=1000, codebase=None,
            chunks=tuple(ChunkDraft(f"synthetic chunk {i} of document {number}", Location(start_line=i + 1))
                         for i in range(per_document)),
            vectors=vectors,
        ))
        if len(drafts) == 100:
            workspace.store.put_documents(space.scope, drafts)
            drafts = []
    if drafts:
        workspace.store.put_documents(space.scope, drafts)
    return space


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p95 = ordered[int(len(ordered) * 0.95) - 1] * 1000
    return f"p50 {p50:.2f} ms, p95 {p95:.2f} ms"


def bench_search(workspace: Workspace, sizes: list[int], queries: int) -> list[tuple[str, str]]:
    rng = np.random.default_rng(11)
    rows = []
    for size in sizes:
        space = fill_space(workspace, f"bench-{size}", size, rng)
        query_vectors = rng.standard_normal((queries, DIM), dtype=np.float32)
        query_vectors /= np.linalg.norm(query_vectors, axis=1, keepdims=True)
        workspace.store.search(space.scope, query_vectors[0], 10)  # first call maps the file and loads row keys
        for label, search_filter in (("", SearchFilter()), (" filtered by tag", SearchFilter(tags=("even",)))):
            samples = []
            for vector in query_vectors:
                started = time.perf_counter()
                hits = workspace.store.search(space.scope, vector, 10, search_filter)
                samples.append(time.perf_counter() - started)
                assert len(hits) == 10
            rows.append((f"search top-10, {size:,} chunks{label}", percentiles(samples)))
        samples = []
        for number in range(min(queries, 50)):
            started = time.perf_counter()
            workspace.search(space, f"how many days of leave do I get in year {number}", k=10)
            samples.append(time.perf_counter() - started)
        rows.append((f"query text -> top-10 (embed + search), {size:,} chunks", percentiles(samples)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=80, help="synthetic documents for the ingest benchmark")
    parser.add_argument("--queries", type=int, default=200, help="queries per search measurement")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lmspace-bench-") as home:
        config = Path(home) / "lmspace.yaml"
        config.write_text(f"data_dir: {home}/data\n")
        workspace = Workspace(load_config(config, env={}))
        rows = bench_ingest(workspace, synthetic_documents(args.docs))
        rows += bench_search(workspace, args.sizes, args.queries)
        workspace.close()
    width = max(len(name) for name, _ in rows)
    print(f"| {'measure'.ljust(width)} | result |")
    print(f"|{'-' * (width + 2)}|--------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
    print(f"\n{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, numpy {np.__version__}")


if __name__ == "__main__":
    main()
