"""What recording jobs costs on the Azure backend (local emulators): in Table Storage, and locally while it is
unreachable, and what writing a job recorded offline to Table Storage costs at replay.

    uv run python bench/bench_offline_jobs.py [--jobs 20] [--events 50]

Each job is one create, `--events` progress events and a finish with a small result, through the job store the
composition root builds: online (Table Storage on Azurite), then from a second store on the same data directory
whose storage endpoints are a closed port (the connection attempt that finds Azure gone is included). Then a
listing of the newest 10 both ways, and the replay that writes the offline jobs to Table Storage.
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
from lmspace_core.domain import JobStatus, Progress, Scope  # noqa: E402
from lmspace_core.emulators.launch import start_emulators  # noqa: E402
from lmspace_core.jobs import this_process_owner  # noqa: E402
from lmspace_core.workspace import build_stores  # noqa: E402

SCOPE = Scope("bench", "space")


def one_job(jobs, events: int) -> float:
    """Seconds to record one job from creation to its finish."""
    started = time.perf_counter()
    job = jobs.create_job(SCOPE, "ingest", "Ingest bench", this_process_owner())
    for step in range(1, events + 1):
        jobs.record_progress(SCOPE.enterprise_id, job.id, Progress("ingest", step, events, item=f"file{step}.md"))
    jobs.finish_job(SCOPE.enterprise_id, job.id, JobStatus.SUCCEEDED, result={"files": events})
    return time.perf_counter() - started


def p50_ms(run, times: int) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--events", type=int, default=50)
    args = parser.parse_args()
    emulators = start_emulators()
    try:
        env = {"LMSPACE_HOME": tempfile.mkdtemp(prefix="bench-offline-jobs-"), **emulators.environment()}
        store, _, jobs = build_stores(load_config(None, env=env))
        online = statistics.median(one_job(jobs, args.events) for _ in range(args.jobs))
        listed_online = p50_ms(lambda: jobs.list_jobs(SCOPE.enterprise_id, SCOPE.space_id, "ingest", 10), 20)
        storage = env["LMSPACE_STORE__AZURE__CONNECTION_STRING"]
        for port in (emulators.blob_port, emulators.queue_port, emulators.table_port):
            storage = storage.replace(f":{port}/", ":9/")
        down, _, down_jobs = build_stores(load_config(None, env={**env, "LMSPACE_STORE__AZURE__CONNECTION_STRING":
                                                                 storage}))
        offline = statistics.median(one_job(down_jobs, args.events) for _ in range(args.jobs))
        listed_offline = p50_ms(lambda: down_jobs.list_jobs(SCOPE.enterprise_id, SCOPE.space_id, "ingest", 10), 20)
        waiting = len(down.outbox.file.pending())
        down_jobs.close()
        down.close()
        started = time.perf_counter()
        report = store.outbox.replay()
        replay = time.perf_counter() - started
        jobs.close()
        store.close()
    finally:
        emulators.stop()
    print(f"{args.jobs} jobs of {args.events} progress events each\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| one job in Table Storage (create, {args.events} events, finish), p50 | {online * 1000:.0f} ms |")
    print(f"| one job recorded locally, Table Storage a closed port, p50 | {offline * 1000:.0f} ms |")
    print(f"| listing the newest 10, online, p50 | {listed_online:.1f} ms |")
    print(f"| listing the newest 10, offline (last listing seen + local jobs), p50 | {listed_offline:.1f} ms |")
    print(f"| replay writing the {waiting} offline jobs to Table Storage ({report.replayed} sent) | "
          f"{replay:.2f} s ({replay / max(report.replayed, 1) * 1000:.0f} ms a job) |")


if __name__ == "__main__":
    main()
