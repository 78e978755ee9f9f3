"""Codebase research at scale: a pattern task and a map task over a synthetic codebase of >= 35 MB (>= 10M tokens),
the pattern task over a JavaScript codebase (parsed by tree-sitter), and the map task's reduce depth for 1k, 10k and
100k files.

    uv run python bench/bench_research.py [--megabytes 36] [--js-megabytes 12] [--depth-files 1000 10000 100000]
                                          [--pattern-only]

Each measurement runs in its own process so that its peak RSS is its own. The map runs use DSPy's DummyLM (scripted
replies, no real model): they measure LMSpace's orchestration, not a model. Targets on the 2-core machine: pattern
task <= 30 s and peak RSS <= 1.5 GB; reduce depth growing logarithmically with the file count.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

FUNCTION = '''

def handler_{n}(request, items, total):
    """Handle request {n}: print("inside a docstring") is not a call."""
    # print("a commented-out call")
    label = "print(not a call either)"
    for item in items:
        total += item.value * {n}
{body}    return total
'''
REAL = ('        print("processed", item.id)\n', '        print(\n            label,\n            total,\n        )\n')
DECOY = ("        self.print(item)\n", "        printer.flush()\n", "        print_count = total\n")


JS_FUNCTION = """
function handler_{n}(request, items, total) {{
  /* print("a commented-out call") */
  // print("another one")
  const label = "print(not a call either)";
  const shown = `print(${{label}}) is text`;
  for (const item of items) {{
    total += item.value * {n};
{body}  }}
  return total;
}}
"""
JS_REAL = ('    print("processed", item.id);\n', "    print(\n      label,\n      total,\n    );\n")
JS_DECOY = ("    this.print(item);\n", "    printer.flush();\n", "    const print_count = total;\n")
SHAPES = {"py": ("import sys\n", FUNCTION, REAL, DECOY), "js": ("'use strict';\n", JS_FUNCTION, JS_REAL, JS_DECOY)}


def write_codebase(root: Path, megabytes: float, seed: int = 5, extension: str = "py") -> tuple[int, int, int]:
    """Files of ~12 KB (Python or JavaScript) up to `megabytes`; returns (files, bytes, real print calls)."""
    header, function, real, decoy = SHAPES[extension]
    rng = random.Random(seed)
    files = size = prints = 0
    while size < megabytes * 1024 * 1024:
        parts = [header]
        for n in range(40):
            body = ""
            for _ in range(rng.randint(1, 3)):
                if rng.random() < 0.5:
                    body += rng.choice(real)
                    prints += 1
                else:
                    body += rng.choice(decoy)
            parts.append(function.format(n=n, body=body))
        text = "".join(parts)
        path = root / f"service_{files // 200:03d}" / f"module_{files:05d}.{extension}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        files, size = files + 1, size + len(text)
    return files, size, prints


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _workspace(home: str):
    from lmspace_core.config import load_config
    from lmspace_core.workspace import Workspace

    config = Path(home) / "lmspace.yaml"
    config.write_text(f"data_dir: {home}/data\n")
    return Workspace(load_config(config, env={}))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pattern_task(root: str, home: str, queue) -> None:
    """The whole task in wall-clock seconds, and the CPU seconds of the run alone (comparable on a shared machine)."""
    from lmspace_core.agents.research.researcher import CodebaseResearcher

    started = time.perf_counter()
    researcher = CodebaseResearcher(_workspace(home))
    codebase, _ = researcher.codebase(root)
    plan = researcher.plan("Find print statements", codebase)
    cpu = _cpu_seconds()
    result = researcher.run(plan, codebase)
    queue.put({"seconds": time.perf_counter() - started, "cpu": _cpu_seconds() - cpu, "rss": _peak_rss_mb(),
               "findings": len(result.findings), "files": result.stats.files, "bytes": result.stats.bytes,
               "lm_calls": result.stats.lm_calls})


def _dummy_lm(calls: int, summary: str = "handles requests and prints progress"):
    from dspy.utils import DummyLM

    return DummyLM([{"reasoning": "Read it.", "findings": [], "summary": summary}] * calls)


# Long enough that only a few partial results fit one reduction batch, so the tree has several levels.
DEPTH_SUMMARY = "This module defines one small function that returns a constant; " * 9


def map_task(root: str, home: str, queue) -> None:
    from lmspace_core.agents.research.subagents import MapExecutor
    from lmspace_core.research.codebase import Codebase

    codebase = Codebase.from_path(Path(root))
    started = time.perf_counter()
    executor = MapExecutor(_dummy_lm(4 * len(codebase.files) + 1000), context_tokens=6000, parallelism=4)
    result = executor.run("Summarise what the handlers do", "What does this file do?", codebase, codebase.files)
    queue.put({"seconds": time.perf_counter() - started, "rss": _peak_rss_mb(), "lm_calls": result.lm_calls,
               "units": result.units, "depth": result.reduce_depth})


def depth_task(files: int, context_tokens: int, queue) -> None:
    from lmspace_core.agents.research.subagents import MapExecutor
    from lmspace_core.research.codebase import Codebase

    codebase = Codebase.from_mapping({f"pkg/m{n:06d}.py": f"def f{n}():\n    return {n}\n" for n in range(files)})
    started = time.perf_counter()
    executor = MapExecutor(_dummy_lm(2 * files + 1000, DEPTH_SUMMARY), context_tokens=context_tokens, parallelism=4)
    result = executor.run("Summarise", "What does this file do?", codebase, codebase.files)
    queue.put({"seconds": time.perf_counter() - started, "lm_calls": result.lm_calls, "depth": result.reduce_depth,
               "rss": _peak_rss_mb()})


def in_process(target, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def _pattern_result(pattern: dict, prints: int) -> str:
    exact = "exact" if pattern["findings"] == prints else f"MISMATCH (expected {prints:,})"
    return (f"{pattern['seconds']:.1f} s ({pattern['cpu']:.1f} CPU s to run), peak RSS {pattern['rss']:.0f} MB, "
            f"{pattern['findings']:,} findings ({exact})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=36.0)
    parser.add_argument("--js-megabytes", type=float, default=12.0, help="size of the JavaScript codebase")
    parser.add_argument("--depth-files", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--depth-context", type=int, default=1_500, help="context tokens for the depth runs")
    parser.add_argument("--pattern-only", action="store_true", help="only the two pattern tasks")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="lmspace-research-bench-") as scratch:
        root, home = Path(scratch) / "codebase", Path(scratch) / "home"
        root.mkdir()
        home.mkdir()
        files, size, prints = write_codebase(root, args.megabytes)
        rows.append(("synthetic codebase", f"{files:,} Python files, {size / 1e6:.1f} MB, "
                                           f"~{size / 3.5 / 1e6:.1f}M tokens, {prints:,} real print calls"))
        pattern = in_process(pattern_task, str(root), str(home))
        rows.append(("pattern task 'Find print statements'", f"{_pattern_result(pattern, prints)}, "
                     f"{pattern['lm_calls']} LM calls (targets: <= 30 s, <= 1536 MB)"))
        if not args.pattern_only:
            mapped = in_process(map_task, str(root), str(home))
            rows.append(("map task (DummyLM, context 6000, parallelism 4)",
                         f"{mapped['seconds']:.1f} s, peak RSS {mapped['rss']:.0f} MB, {mapped['lm_calls']:,} LM "
                         f"calls ({mapped['units']:,} subagents), reduce depth {mapped['depth']}"))
        shutil.rmtree(root)
        root.mkdir()
        files, size, prints = write_codebase(root, args.js_megabytes, extension="js")
        pattern = in_process(pattern_task, str(root), str(home))
        rows.append((f"pattern task, {files:,} JavaScript files, {size / 1e6:.1f} MB",
                     _pattern_result(pattern, prints)))
    for count in ([] if args.pattern_only else args.depth_files):
        depth = in_process(depth_task, count, args.depth_context)
        rows.append((f"map reduce depth, {count:,} files (context {args.depth_context})",
                     f"depth {depth['depth']}, {depth['lm_calls']:,} LM calls, {depth['seconds']:.1f} s, "
                     f"peak RSS {depth['rss']:.0f} MB"))
    width = max(len(name) for name, _ in rows)
    print(f"| {'measure'.ljust(width)} | result |")
    print(f"|{'-' * (width + 2)}|--------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
    if not args.pattern_only:
        print(f"\nlog growth check: depth should rise by ~log_b(10) per 10x files; "
              f"log10 of the counts: {', '.join(f'{math.log10(c):.0f}' for c in args.depth_files)}")
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
