"""The explore sandbox (Deno + Pyodide): cold start, peak memory under memory bombs, a 32 MB codebase sent in.

    uv run python bench/bench_sandbox.py [--starts 3] [--codebase-mb 32]

Peak memory is the Deno process's own high-water mark (VmHWM), each row in a fresh sandbox with the default limits
(512 MiB of memory for the code, 1 MiB of output). The bombs allocate until the cap refuses; without a cap (before
issue 13.10) the same Python bomb grew to 3.8 GiB. Linux only (/proc). Run it with an older `lmspace_core` first on
PYTHONPATH for "before" numbers: the rows that need limits are skipped there.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import time
from pathlib import Path

from lmspace_core.research import sandbox as sandbox_module

LINE = "    result = compute_something(alpha, beta) + other_value  # a line of code\n"
BOMBS = {
    "Python bomb (32 MiB bytearrays until refused)": "kept = []\nwhile True:\n    kept.append(bytearray(32 << 20))",
    "JavaScript bomb (64 MiB buffers until refused)": (
        "import js\nkept = []\nwhile True:\n    kept.append(js.Uint8Array.new(64 << 20).fill(1))"
    ),
}


def memory_mib(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE).group(1)) // 1024


def started():
    opened = sandbox_module.sandbox_factory()()
    opened.start()
    return opened


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_starts(count: int) -> list[tuple[float, float, int]]:
    """Seconds from nothing to a sandbox that answered its health check, the CPU seconds of Deno's whole life (start
    and shutdown: comparable on a shared machine, where wall time is not), and its resident memory once started."""
    rows = []
    for _ in range(count):
        cpu = children_cpu_s()
        begin = time.perf_counter()
        opened = started()
        seconds, rss = time.perf_counter() - begin, memory_mib(opened.deno_process.pid, "VmRSS")
        opened.shutdown()
        rows.append((seconds, children_cpu_s() - cpu, rss))
    return rows


def bomb(code: str) -> tuple[str, float, int, int]:
    opened = started()
    pid = opened.deno_process.pid
    before = memory_mib(pid, "VmRSS")
    begin = time.perf_counter()
    try:
        opened.execute(code)
        outcome = "no error"
    except Exception as error:  # the row reports whatever stopped it
        outcome = type(error).__name__
    seconds = time.perf_counter() - begin
    peak = memory_mib(pid, "VmHWM")
    opened.shutdown()
    return outcome, seconds, before, peak


def codebase(megabytes: int) -> tuple[float, int, int]:
    """The explore path: the files as one JSON text, bound to a variable and parsed in the sandbox (RLM's shape)."""
    files = {f"pkg/module_{n}.py": LINE * (megabytes * 1024 * 1024 // len(LINE) // 1000) for n in range(1000)}
    payload = json.dumps(files)
    opened = started()
    pid = opened.deno_process.pid
    before = memory_mib(pid, "VmRSS")
    begin = time.perf_counter()
    opened.execute("import json\ncodebase = json.loads(_raw_codebase)\ndel _raw_codebase", {"_raw_codebase": payload})
    seconds = time.perf_counter() - begin
    assert opened.execute("print(len(codebase))") == "1000\n"
    peak = memory_mib(pid, "VmHWM")
    opened.shutdown()
    return seconds, before, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--codebase-mb", type=int, default=32)
    args = parser.parse_args()
    capped = hasattr(sandbox_module, "SandboxLimits")

    rows = []
    starts = cold_starts(args.starts)
    times = [seconds for seconds, _, _ in starts]
    rows.append(
        (
            f"cold start (x{len(starts)})",
            f"median {statistics.median(times):.2f} s wall (min {min(times):.2f}), "
            f"{statistics.median(cpu for _, cpu, _ in starts):.2f} CPU s, "
            f"RSS {statistics.median(rss for _, _, rss in starts):.0f} MiB",
        )
    )
    for name, code in BOMBS.items() if capped else ():
        outcome, seconds, before, peak = bomb(code)
        rows.append((name, f"{outcome} after {seconds:.2f} s; RSS {before} -> peak {peak} MiB (+{peak - before})"))
    seconds, before, peak = codebase(args.codebase_mb)
    rows.append(
        (f"{args.codebase_mb} MB codebase sent in and parsed", f"{seconds:.2f} s; RSS {before} -> peak {peak} MiB")
    )

    width = max(len(name) for name, _ in rows)
    print(f"| {'measure'.ljust(width)} | result |")
    print(f"|{'-' * (width + 2)}|--------|")
    for name, result in rows:
        print(f"| {name.ljust(width)} | {result} |")


if __name__ == "__main__":
    main()
