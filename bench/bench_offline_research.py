"""What research over a space's code costs and gives offline on the Azure backend (local emulators).

    uv run python bench/bench_offline_research.py [--files 200] [--cached-chunks 60000]

One data directory ingests a generated codebase (`--files` Python files with print calls) into a space on the
emulators; a second one, which has never read it, researches "Find print statements" twice while Azure answers (the
first research copies the space and keeps its files, the second only checks the change log), then twice with every
endpoint a closed port; a third, with the read cache off, gives the online research that keeps nothing (the first read of each offline run finds Blob Storage unreachable, the rest are read from
the copy). Then, without emulators, what keeping one file costs in a cache that already holds `--cached-chunks`
chunks of other spaces (the bound is checked for every kept file).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lmspace_core.agents.research.researcher import CodebaseResearcher  # noqa: E402
from lmspace_core.config import load_config  # noqa: E402
from lmspace_core.domain import Chunk, Document, Location, Scope  # noqa: E402
from lmspace_core.emulators.launch import start_emulators  # noqa: E402
from lmspace_core.research.result import ResearchResult  # noqa: E402
from lmspace_core.stores.azure.read_cache import SpaceCache, SpaceSnapshot  # noqa: E402
from lmspace_core.workspace import Workspace  # noqa: E402

TASK = "Find print statements"


def codebase(files: int) -> dict[str, str]:
    return {f"pkg/mod{n:04d}.py": "".join(f"def f{i}(x):\n    y = x * {i}\n    print('f{i}', y)\n    return y\n\n"
                                          for i in range(8)) for n in range(files)}


def research(workspace: Workspace) -> tuple[float, ResearchResult]:
    started = time.perf_counter()
    researcher = CodebaseResearcher(workspace)
    found, space = researcher.codebase("code")
    result = researcher.run(researcher.plan(TASK, found, space), found, space)
    return time.perf_counter() - started, result


def keep_file_ms(cached_chunks: int) -> tuple[float, float]:
    """Median ms to keep one 5 kB file, and to read one back, beside `cached_chunks` chunks of three other spaces."""
    folder = Path(tempfile.mkdtemp(prefix="bench-keep-"))
    try:
        cache = SpaceCache(folder / "cache.db", 1 << 40)
        rng, now = np.random.default_rng(0), datetime.now(UTC)
        for number in range(3):
            scope, count = Scope("acme", f"s{number}"), cached_chunks // 3
            documents = tuple(Document(f"d{i}", "acme", scope.space_id, f"f{i}.py", "f", "code", (), "h", 100, 1, 10,
                                       None, now, now) for i in range(count // 10))
            chunks = tuple(Chunk(f"d{i // 10}:1:{i % 10}", "acme", scope.space_id, f"d{i // 10}", i % 10, "x" * 800,
                                 Location()) for i in range(count))
            cache.fill(scope, SpaceSnapshot(1, documents, chunks, rng.standard_normal((count, 384)).astype("f4")))
        scope, keep, read = Scope("acme", "s0"), [], []
        for number in range(300):
            started = time.perf_counter()
            cache.keep_file(scope, f"d{number}", "h", b"x" * 5000)
            keep.append(time.perf_counter() - started)
        for number in range(300):
            started = time.perf_counter()
            cache.file(scope, f"d{number}", "h")
            read.append(time.perf_counter() - started)
        cache.close()
        return statistics.median(keep) * 1000, statistics.median(read) * 1000
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--cached-chunks", type=int, default=60_000)
    args = parser.parse_args()
    emulators = start_emulators()
    homes = [Path(tempfile.mkdtemp(prefix="bench-offline-research-")) for _ in range(3)]
    try:
        online = emulators.environment()
        offline = {**online, "LMSPACE_STORE__AZURE__COSMOS_ENDPOINT": "https://127.0.0.1:9/",
                   "LMSPACE_STORE__AZURE__CONNECTION_STRING": _closed(online, emulators)}
        elsewhere = Workspace(load_config(None, env={**online, "LMSPACE_HOME": str(homes[0])}))
        elsewhere.ingest(elsewhere.create_space("code"), codebase(args.files))
        elsewhere.close()
        here = {"LMSPACE_HOME": str(homes[1])}
        without_cache = {**online, "LMSPACE_HOME": str(homes[2]), "LMSPACE_STORE__AZURE__READ_CACHE_MB": "0"}
        rows = []
        for label, environment in (("online, read cache off (`read_cache_mb: 0`: nothing copied or kept)",
                                    without_cache),
                                   ("online, first research here (copies the space, keeps its files)", online),
                                   ("online, again (change-log check, files kept again)", online),
                                   ("offline, first (Blob Storage found unreachable once)", offline),
                                   ("offline, again", offline)):
            workspace = Workspace(load_config(None, env={**here, **environment}))
            seconds, result = research(workspace)
            workspace.close()
            rows.append((label, seconds, len(result.findings), result.cached_at is not None))
        cache_mb = (homes[1] / "azure_read_cache.db").stat().st_size / 1e6
    finally:
        emulators.stop()
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)
    keep, read = keep_file_ms(args.cached_chunks)
    print(f"{args.files} files of {len(next(iter(codebase(1).values())))} bytes, task {TASK!r}\n")
    print("| research | seconds | findings | offline notice |")
    print("|---|---|---|---|")
    for label, seconds, findings, notice in rows:
        print(f"| {label} | {seconds:.2f} | {findings} | {'yes' if notice else 'no'} |")
    print(f"\nread cache file after the runs: {cache_mb:.1f} MB")
    print(f"keeping one 5 kB file beside {args.cached_chunks:,} cached chunks, p50: {keep:.2f} ms; "
          f"reading one back: {read:.2f} ms")


def _closed(online: dict[str, str], emulators) -> str:
    storage = online["LMSPACE_STORE__AZURE__CONNECTION_STRING"]
    for port in (emulators.blob_port, emulators.queue_port, emulators.table_port):
        storage = storage.replace(f":{port}/", ":9/")
    return storage


if __name__ == "__main__":
    main()
