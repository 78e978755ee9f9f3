"""Off-topic questions: answered "not found", while every question of the eval set keeps its answer?

    uv run python bench/bench_offtopic.py

Without a language model, a space holding tests/data/retrieval's documents is asked its 50 questions and ten
questions about other things; prints each question's best similarity, the share of its content words found in the
retrieved passages (`relevance.coverage`) and whether it was answered.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from lmspace_core.agents.knowledge import KnowledgeAgent  # noqa: E402
from lmspace_core.agents.relevance import coverage  # noqa: E402
from lmspace_core.config import load_config  # noqa: E402
from lmspace_core.domain import AnswerMode  # noqa: E402
from lmspace_core.workspace import Workspace  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "retrieval"
OFF_TOPIC = [
    "how do I bake sourdough bread?", "what's the best way to learn piano", "who won the football world cup in 2018?",
    "what is the capital of France?", "how do I change a flat tyre on my bicycle?",
    "recommend a good recipe for lasagna", "how tall is mount everest", "what are symptoms of the flu?",
    "how do I train my dog to sit?", "best beaches in portugal",
]


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="lmspace-bench-offtopic-"))
    config = home / "lmspace.yaml"
    config.write_text(f"data_dir: {home / 'data'}\n")  # the defaults: embedded store, no language model
    workspace = Workspace(load_config(config, env={}))
    try:
        space = workspace.create_space("corpus")
        workspace.ingest(space, sorted(p for p in DATA.iterdir() if p.suffix in {".md", ".txt"}))
        real = [item["question"] for item in json.loads((DATA / "questions.json").read_text())]
        agent = KnowledgeAgent(workspace)
        answered = {}
        for kind, questions in (("eval", real), ("off-topic", OFF_TOPIC)):
            for question in questions:
                hits = workspace.search(space, question)
                found = agent.query(question, space).mode is not AnswerMode.NOT_FOUND
                answered[kind] = answered.get(kind, 0) + found
                share = coverage(question, [hit.chunk.text for hit in hits])
                print(f"{kind:9} {hits[0].score:.3f} words {share:.2f} {'answered ' if found else 'not found'} "
                      f"{question}")
    finally:
        workspace.close()
    print(f"eval questions answered: {answered['eval']}/{len(real)}; "
          f"off-topic answered: {answered['off-topic']}/{len(OFF_TOPIC)}")
    return 0 if answered["eval"] == len(real) and answered["off-topic"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
