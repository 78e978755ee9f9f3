"""`lmspace migrate` cost and raw-file streaming on the local emulators.

    uv run python bench/bench_migrate.py [--docs 200] [--chunks 10] [--raw-kb 20] [--big-mb 64]

A space of `--docs` documents (`--chunks` chunks each, 384-d random unit vectors, a `--raw-kb` raw file each) is
migrated embedded -> Azure -> embedded; every fourth document is replaced once before, so the version history has
replacements. The table gives each direction's time and chunks per second, how many documents kept their version
and history entries came across identical, and how many times an embedder was called (a migration copies the
stored vectors, so it must be zero). Then one `--big-mb` raw
file is uploaded to Azurite from a stream and read back in pieces, with Python's peak allocation (tracemalloc)
during each: streaming keeps it near one 4 MiB block, not the file's size.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lmspace_core import workspace as workspace_module  # noqa: E402
from lmspace_core.config import load_config  # noqa: E402
from lmspace_core.domain import ChunkDraft, Location, document_id  # noqa: E402
from lmspace_core.emulators.launch import start_emulators  # noqa: E402
from lmspace_core.migrate import migrate_space  # noqa: E402
from lmspace_core.stores.base import BlobPlacement, DocumentDraft  # noqa: E402
from lmspace_core.workspace import Workspace  # noqa: E402

DIM = 384


class CountingEmbedder:
    id, dimension = "bench/random", DIM

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        raise AssertionError("a migration embedded chunks")

    embed_query = embed


def seed(workspace: Workspace, docs: int, chunks: int, raw_kb: int) -> None:
    space = workspace.store.create_space(workspace.enterprise_id, "bench", "", "", CountingEmbedder.id, DIM)
    rng = np.random.default_rng(1)
    for index in range(docs):
        source, data = f"docs/{index}.md", (f"# Document {index}\n".encode() * 64 * raw_kb)[: raw_kb * 1024]
        vectors = rng.standard_normal((chunks, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        texts = tuple(ChunkDraft(f"document {index} chunk {i}", Location(start_line=i + 1)) for i in range(chunks))
        content_hash = hashlib.sha256(data).hexdigest()
        workspace.blobs.put(BlobPlacement(space.scope, document_id(space.id, source), source, content_hash, 2026),
                            data)
        replaced = [] if index % 4 else [f"{content_hash}:before"]  # an earlier version, whose file is not kept
        for version_hash in [*replaced, content_hash]:
            workspace.store.put_documents(space.scope, [DocumentDraft(source, source, "text", (), version_hash,
                                                                      len(data), None, texts, vectors)])


def streaming(workspace: Workspace, size_mb: int) -> tuple[float, float, float, float]:
    """Seconds and peak MiB allocated to upload `size_mb` from a stream, then to read it back in pieces."""
    space = workspace.store.create_space(workspace.enterprise_id, "big", "", "", CountingEmbedder.id, DIM)
    piece = bytes(range(256)) * 4096  # 1 MiB

    def pieces():
        for _ in range(size_mb):
            yield piece

    content_hash = hashlib.sha256(piece * size_mb).hexdigest()
    placement = BlobPlacement(space.scope, "d1", "big.bin", content_hash, 2026)
    tracemalloc.start()
    started = time.perf_counter()
    workspace.blobs.put(placement, pieces())
    up_seconds, (_, up_peak) = time.perf_counter() - started, tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    read = sum(len(part) for part in workspace.blobs.stream(placement))
    down_seconds, (_, down_peak) = time.perf_counter() - started, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert read == size_mb * 1024 * 1024
    return up_seconds, up_peak / 2**20, down_seconds, down_peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--chunks", type=int, default=10)
    parser.add_argument("--raw-kb", type=int, default=20)
    parser.add_argument("--big-mb", type=int, default=64)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    embedder = CountingEmbedder()
    workspace_module.build_embedder = lambda settings: embedder
    emulators = start_emulators()
    try:
        with tempfile.TemporaryDirectory() as home:
            config = Path(home) / "lmspace.yaml"
            config.write_text(f"data_dir: {home}/data\n")
            azure_env = {k: v for k, v in emulators.environment().items() if k != "LMSPACE_STORE__BACKEND"}
            embedded = Workspace(load_config(config, env=azure_env))
            seed(embedded, args.docs, args.chunks, args.raw_kb)
            total = args.docs * args.chunks
            started = time.perf_counter()
            there = migrate_space(embedded, embedded.space("bench"), "azure")
            to_azure = time.perf_counter() - started
            embedded.delete_space(embedded.space("bench"))
            azure = Workspace(load_config(config, env={**azure_env, "LMSPACE_STORE__BACKEND": "azure"}))
            started = time.perf_counter()
            back = migrate_space(azure, azure.space("bench"), "embedded")
            to_embedded = time.perf_counter() - started
            print("| direction | documents | chunks | seconds | chunks/s | identical vectors | versions kept | "
                  "identical history entries | verified |")
            print("|---|---|---|---|---|---|---|---|---|")
            for name, report, seconds in (("embedded -> azure", there, to_azure),
                                          ("azure -> embedded", back, to_embedded)):
                print(f"| {name} | {report.documents} | {report.chunks} | {seconds:.1f} | {total / seconds:.0f} | "
                      f"{report.identical_vectors} | {report.matching_versions} | "
                      f"{report.identical_changes} of {report.changes} | {report.verified} |")
            print(f"\nembedder calls during both migrations: {embedder.calls}")
            up, up_peak, down, down_peak = streaming(azure, args.big_mb)
            print(f"\n{args.big_mb} MiB raw file on Azurite: upload from a stream {up:.1f} s, peak {up_peak:.1f} MiB "
                  f"allocated; read back in pieces {down:.1f} s, peak {down_peak:.1f} MiB")
            azure.close()
            embedded.close()
    finally:
        emulators.stop()


if __name__ == "__main__":
    main()
