"""What the offline read cache costs and gives on the Azure backend (local emulators).

    uv run python bench/bench_offline.py [--docs 100] [--chunks 10] [--queries 100]

Writes `bench_azure.py`'s synthetic documents (384-d random unit vectors) into a space on the emulators from one
data directory, then: Cosmos search alone; the same search through the resilient store (search plus the change-log
check that keeps the cache current), and that check alone; copying the space into the cache (its first search
here); a search of the copy alone; and a whole offline search from a second store on the same data directory whose
Cosmos endpoint is a closed port (the connection attempts included).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_azure import DIM, workload  # noqa: E402

from lmspace_core.config import load_config  # noqa: E402
from lmspace_core.emulators.launch import start_emulators  # noqa: E402
from lmspace_core.stores.azure.read_cache import refresh  # noqa: E402
from lmspace_core.workspace import build_stores  # noqa: E402


def p50_ms(run: Callable[[np.ndarray], object], queries: np.ndarray) -> float:
    samples = []
    for query in queries:
        started = time.perf_counter()
        run(query)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    args, documents, queries = workload(__doc__.splitlines()[0], 100)
    emulators = start_emulators()
    try:
        env = {"LMSPACE_HOME": tempfile.mkdtemp(prefix="bench-offline-"), **emulators.environment()}
        store, _, _ = build_stores(load_config(None, env=env))
        space = store.create_space("bench", "bench", "", "", "bench-embedder", DIM)
        store.cache.drop(space.scope)  # as if another machine had made it: this one copies it on first search
        for document in documents:
            store.put_documents(space.scope, [document])
        scope = space.scope
        cosmos = p50_ms(lambda q: store._inner.search(scope, q, 10), queries)
        started = time.perf_counter()
        refresh(store.cache, store._inner, scope, DIM)
        fill = time.perf_counter() - started
        resilient = p50_ms(lambda q: store.search(scope, q, 10), queries)
        sequence = store.cache.sequence(scope)
        check = p50_ms(lambda q: store._inner.changes(scope, sequence), queries)
        cached = p50_ms(lambda q: store.cache.search(scope, q, 10), queries)
        offline, _, _ = build_stores(load_config(None, env={**env, "LMSPACE_STORE__AZURE__COSMOS_ENDPOINT":
                                                            "https://127.0.0.1:9/"}))
        unreachable = p50_ms(lambda q: offline.search(scope, q, 10), queries[:5])
        store.close()
        offline.close()
    finally:
        emulators.stop()
    print(f"{args.docs} documents x {args.chunks} chunks ({args.docs * args.chunks} chunks, {DIM}-d), "
          f"{args.queries} queries\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| Cosmos search top-10, p50 | {cosmos:.2f} ms |")
    print(f"| resilient search top-10 (search + change-log check), p50 | {resilient:.2f} ms |")
    print(f"| change-log check alone (nothing changed), p50 | {check:.2f} ms |")
    print(f"| copying the space into the cache (first search here) | {fill:.2f} s |")
    print(f"| search of the cached copy alone, p50 | {cached:.2f} ms |")
    print(f"| offline search, Cosmos a closed port (connection attempts included), p50 of 5 | {unreachable:.0f} ms |")


if __name__ == "__main__":
    main()
