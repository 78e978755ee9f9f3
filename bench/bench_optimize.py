"""Prompt optimisation: what `lmspace optimize` costs besides the model, and what a compiled program adds per query.

A scripted model (`tests/scripted_lm.py`, answers in microseconds) stands in for the language model, so the times
are LMSpace's and DSPy's own work: retrieval of the examples' passages, the optimiser's bookkeeping, the scoring,
saving; and per question, loading the space's compiled program onto a copy of the agent's module.

    uv run python bench/bench_optimize.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lmspace_core.agents.knowledge import KnowledgeAgent  # noqa: E402
from lmspace_core.agents.optimize import optimize  # noqa: E402
from lmspace_core.config import load_config  # noqa: E402
from lmspace_core.examples import open_examples  # noqa: E402
from lmspace_core.workspace import Workspace  # noqa: E402
from tests.test_optimize import EXAMPLES, POLICY, FewShotLM  # noqa: E402

QUERIES = 200


def run(directory: Path, examples: dict[str, str], known: set[str], needs: str = "") -> tuple[float, object, object]:
    config = directory / "lmspace.yaml"
    config.write_text(f"data_dir: {directory / 'home'}\n")
    workspace = Workspace(load_config(config))
    space = workspace.create_space("policies")
    workspace.ingest(space, {"retention.md": POLICY})
    with open_examples(workspace.settings) as store:
        for question, answer in examples.items():
            store.add(space.scope, question, answer)
    workspace.search(space, "warm up the embedder")
    workspace.use_lm(FewShotLM(known, needs=needs, examples=examples))
    agent = KnowledgeAgent(workspace)
    started = time.perf_counter()
    report = optimize(agent, space)
    return time.perf_counter() - started, report, (agent, space)


def per_query_ms(agent, space) -> float:
    times = []
    for _ in range(QUERIES):
        started = time.perf_counter()
        agent.responder(space)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as small, tempfile.TemporaryDirectory() as large:
        seconds, report, (agent, space) = run(Path(small), EXAMPLES, known=set(EXAMPLES))
        rows.append((f"BootstrapFewShot, {len(EXAMPLES)} examples", f"{seconds:.2f} s", f"{report.demos} demos"))
        compiled_ms = per_query_ms(agent, space)
        other = agent.workspace.create_space("plain")
        plain_ms = per_query_ms(agent, other)
        many = {f"Question {n}: how long are invoices kept?": "Invoices are kept for seven years." for n in range(28)}
        proposed = "A proposed_instruction the test model wrote."
        seconds, report, _ = run(Path(large), many, known=set(), needs=proposed)
        rows.append((f"MIPROv2 light, {len(many)} examples", f"{seconds:.2f} s", f"after {report.score_after:.2f}"))
    rows.append(("load the compiled program per question (p50)", f"{compiled_ms:.3f} ms", "4 demos"))
    rows.append(("no compiled program per question (p50)", f"{plain_ms:.3f} ms", "a stat"))
    width = max(len(r[0]) for r in rows)
    print(f"| {'what':<{width}} | time | note |\n|{'-' * (width + 2)}|------|------|")
    for what, value, note in rows:
        print(f"| {what:<{width}} | {value} | {note} |")
    print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
