"""LLM sync at scale: plan + dataset + validation + upload + submit for 1,000 knowledge items, and a local job.

    uv run python bench/bench_sync.py [--items 1000] [--local-pairs 1000] [--epochs 1]

The upload and submit go to the recording stand-in of Azure OpenAI that the tests use (loopback HTTP, the official
`openai` client), so they measure LMSpace and the client, not the service; so does the evaluation of the succeeded
model (`sync.evaluation_examples` held-out questions, each asked of the new deployment and of `lm.deployment`). Documents are written straight into the
store with placeholder vectors: embedding is ingest's cost, not sync's. The local job fine-tunes all-MiniLM-L6-v2
on `--local-pairs` (question, passage) pairs for `--epochs` epochs. Target: the first part <= 10 s without a model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from lmspace_core.config import load_config  # noqa: E402
from lmspace_core.domain import ChunkDraft, Location  # noqa: E402
from lmspace_core.stores.base import DocumentDraft  # noqa: E402
from lmspace_core.sync.manager import SyncManager  # noqa: E402
from lmspace_core.sync.model import Dataset, Example, Split, SyncStatus  # noqa: E402
from lmspace_core.workspace import Workspace  # noqa: E402
from tests.fake_azure_openai import FakeAzureOpenAI, FakeFineTuning, knows_the_files, says  # noqa: E402

SECTION = ("## {topic} {n}\n\nRequests about {topic} number {n} go to desk {n} on floor {floor}; the desk answers "
           "within {hours} working hours and escalates to the {topic} owner after two days.")
TOPICS = ("parking", "payroll", "travel", "badges", "laptops", "expenses", "furniture", "printing")


def populate(workspace: Workspace, items: int):
    space = workspace.create_space("bench", instructions="Answer as the Acme help desk.")
    rng = np.random.default_rng(0)
    drafts = []
    for n in range(items):
        topic = TOPICS[n % len(TOPICS)]
        text = SECTION.format(topic=topic, n=n, floor=n % 9, hours=4 + n % 20)
        vector = rng.standard_normal((1, 384)).astype(np.float32)
        drafts.append(DocumentDraft(f"kb/{topic}-{n}.md", f"{topic} {n}", "markdown", (), f"hash-{n}", len(text),
                                    None, (ChunkDraft(text, Location(heading=f"{topic} {n}")),),
                                    vector / np.linalg.norm(vector)))
    for start in range(0, items, 200):
        workspace.store.put_documents(space.scope, drafts[start:start + 200])
    return space


def bench_remote(items: int) -> dict[str, float]:
    service = FakeFineTuning(script=["validating_files", "queued", "running", "succeeded"],
                             replies={"lmspace-ftjob-1": knows_the_files, "gpt-4o-mini": says("Ask the help desk.")})
    with FakeAzureOpenAI(service) as server, tempfile.TemporaryDirectory() as home:
        config = Path(home) / "lmspace.yaml"
        key = "bench-key-0123456789"
        config.write_text(f"data_dir: {home}/data\nsync:\n  backend: azure_openai\n  poll_s: 0.01\n"
                          f"  azure_openai:\n    endpoint: {server.endpoint}\n    api_key: {key}\n"
                          f"lm:\n  provider: azure_openai\n  endpoint: {server.endpoint}\n  deployment: gpt-4o-mini\n"
                          f"  api_version: 2025-04-01-preview\n  api_key: {key}\n")
        workspace = Workspace(load_config(config, env={}))
        workspace.use_lm(None)  # examples from structure ("without a model"); lm.deployment is what is compared
        space = populate(workspace, items)
        manager = SyncManager(workspace)
        importing = time.perf_counter()
        import openai  # noqa: F401  (the client's import is a one-off cost of a process, measured on its own)

        started = time.perf_counter()
        delta = manager.plan(space)
        planned = time.perf_counter()
        dataset = manager.build_dataset(space, delta)
        built = time.perf_counter()
        check = manager.check(dataset)
        checked = time.perf_counter()
        job = manager.sync_to_llm(dataset, space)
        while manager.job(job.id).remote_id is None and not manager.job(job.id).status.finished:
            time.sleep(0.005)
        submitted = time.perf_counter()
        job = manager.wait(job.id)
        finished = time.perf_counter()
        import lmspace_core.agents.optimize  # noqa: F401  (DSPy's import, once per process: not the evaluation's)

        scoring = time.perf_counter()
        version = manager.evaluate(job.model_version_id, "lmspace-ftjob-1", space)  # as after a deployment by hand
        evaluated = time.perf_counter()
        manager.close()
        workspace.close()
    assert check.ok and job.status is SyncStatus.SUCCEEDED, (check.problems, job.error)
    return {"import_s": started - importing, "items": items, "examples": len(dataset.examples), "tokens": dataset.tokens,
            "plan_s": planned - started, "dataset_s": built - planned, "check_s": checked - built,
            "sync_to_submitted_s": submitted - checked, "end_to_end_s": submitted - started,
            "to_succeeded_s": finished - started, "import_dspy_s": scoring - finished,
            "evaluate_s": evaluated - scoring,
            "evaluated": workspace.settings.sync.evaluation_examples, "score_before": version.score_before,
            "score_after": version.score_after, "activated": version.active}


def bench_local(pairs: int, epochs: int) -> dict[str, float]:
    from lmspace_core.sync.backends.local import LocalBackend, LocalTraining
    from lmspace_core.sync.tuned import base_model_path

    examples = []
    for n in range(pairs):
        topic = TOPICS[n % len(TOPICS)]
        passage = SECTION.format(topic=topic, n=n, floor=n % 9, hours=4 + n % 20).split("\n\n", 1)[1]
        examples.append(Example(f"Who handles {topic} request {n}?", f"Desk {n}.", passage, "d", "s", "bench",
                                Split.VALIDATION if n % 5 == 0 else Split.TRAIN))
    dataset = Dataset("bench", "e", "s", "system", 0, 0, tuple(examples), datetime.now(UTC))

    class Quiet:
        steps = 0

        def status(self, status, message=""): ...

        def event(self, message): ...

        def metrics(self, metrics):
            Quiet.steps = max(Quiet.steps, max(m.step for m in metrics))

        def remote_id(self, remote_id): ...

        def cancel_requested(self):
            return False

    with tempfile.TemporaryDirectory() as models:
        started = time.perf_counter()
        outcome = LocalBackend(Path(models), base_model_path(), LocalTraining(epochs=epochs)).run(dataset, Quiet())
        elapsed = time.perf_counter() - started
    return {"pairs": pairs, "epochs": epochs, "steps": Quiet.steps, "seconds": elapsed,
            "mrr_before": outcome.score_before, "mrr_after": outcome.score_after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--local-pairs", type=int, default=1000, help="0 skips the local job")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    remote = bench_remote(args.items)
    print(f"| knowledge items | {remote['items']} |")
    print(f"| import openai (once per process) | {remote['import_s']:.2f} s |")
    print(f"| examples (train + validation), tokens | {remote['examples']}, {remote['tokens']} |")
    print(f"| plan | {remote['plan_s']:.2f} s |")
    print(f"| dataset (structure, dedupe, split, token count) | {remote['dataset_s']:.2f} s |")
    print(f"| validation | {remote['check_s']:.2f} s |")
    print(f"| sync_to_llm -> uploaded and submitted | {remote['sync_to_submitted_s']:.2f} s |")
    print(f"| plan + dataset + validation + upload + submit | {remote['end_to_end_s']:.2f} s (target <= 10 s) |")
    print(f"| ... until the stand-in job succeeded | {remote['to_succeeded_s']:.2f} s |")
    print(f"| import dspy (once per process) | {remote['import_dspy_s']:.2f} s |")
    print(f"| evaluate: {remote['evaluated']} held-out questions x 2 deployments | {remote['evaluate_s']:.2f} s "
          f"(score {remote['score_before']:.3f} -> {remote['score_after']:.3f}, activated: {remote['activated']}) |")
    if args.local_pairs:
        local = bench_local(args.local_pairs, args.epochs)
        print(f"| local job: {local['pairs']} pairs, {local['epochs']} epoch(s), {local['steps']} steps | "
              f"{local['seconds']:.1f} s (MRR {local['mrr_before']:.3f} -> {local['mrr_after']:.3f}) |")


if __name__ == "__main__":
    main()
