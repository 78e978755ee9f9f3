"""Sync state latency: the Table Storage store on Azurite beside the embedded SQLite store.

    uv run python bench/bench_sync_store.py [--jobs 5] [--events 100]

Per backend: create `--jobs` jobs, log `--events` events on each (every one a status-and-event write, as a backend's
progress reports are), record one metric per event in one call, then read what the dashboard polls (the jobs list,
events after the last one seen, metrics). Azurite is an in-memory server on loopback, so the ratio says what the
Azure code path costs locally (HTTP, JSON, SDK, ETag-guarded transactions); it is not Table Storage's own latency.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lmspace_core.config import load_config  # noqa: E402
from lmspace_core.emulators.launch import start_emulators  # noqa: E402
from lmspace_core.sync.model import Metric, SyncStatus  # noqa: E402
from lmspace_core.workspace import Workspace, build_sync_store  # noqa: E402


def config(folder: Path) -> Path:
    """A settings file of its own (not the repository's lmspace.yaml) with its data directory in `folder`."""
    folder.mkdir(parents=True)
    path = folder / "lmspace.yaml"
    path.write_text(f"data_dir: {folder / 'home'}\n")
    return path


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def measure(settings, jobs: int, events: int) -> dict[str, float]:
    workspace = Workspace(settings)
    scope = workspace.create_space("bench").scope
    store = build_sync_store(settings)
    creates, writes, metric_calls, lists, tails = [], [], [], [], []
    for _ in range(jobs):
        begun = time.perf_counter()
        job = store.create_job(scope, "local", "bench:1")
        creates.append(time.perf_counter() - begun)
        for n in range(events):
            begun = time.perf_counter()
            store.update_job(scope.enterprise_id, job.id, SyncStatus.RUNNING, f"step {n}")
            writes.append(time.perf_counter() - begun)
        begun = time.perf_counter()
        store.record_metrics(scope.enterprise_id, job.id, [Metric(n, 1.0 / (n + 1)) for n in range(events)])
        metric_calls.append(time.perf_counter() - begun)
        for _ in range(10):
            begun = time.perf_counter()
            store.list_jobs(scope.enterprise_id, scope.space_id)
            lists.append(time.perf_counter() - begun)
            begun = time.perf_counter()
            store.events(scope.enterprise_id, job.id, after_sequence=events - 5)
            store.metrics(scope.enterprise_id, job.id)
            tails.append(time.perf_counter() - begun)
    workspace.close()
    return {"create job": median_ms(creates), "status + event": median_ms(writes),
            f"{events} metrics (one call)": median_ms(metric_calls), "list jobs": median_ms(lists),
            "poll events + metrics": median_ms(tails)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--events", type=int, default=100)
    args = parser.parse_args()
    emulators = start_emulators()
    try:
        with tempfile.TemporaryDirectory() as home:
            embedded = load_config(config(Path(home) / "embedded"), env={})
            azure = load_config(config(Path(home) / "azure"), env=emulators.environment())
            results = {"embedded": measure(embedded, args.jobs, args.events),
                       "azure": measure(azure, args.jobs, args.events)}
    finally:
        emulators.stop()
    print(f"{args.jobs} jobs x {args.events} events, median ms per call")
    print("| operation | embedded (SQLite) | azure (Azurite) | ratio |\n|---|---|---|---|")
    for operation, local in results["embedded"].items():
        remote = results["azure"][operation]
        print(f"| {operation} | {local:.2f} | {remote:.2f} | {remote / local:.1f}x |")


if __name__ == "__main__":
    main()
