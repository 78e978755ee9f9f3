"""Citations as the dashboard shows them: is each quote found in its whole passage, and are they numbered by relevance?

    uv run python bench/bench_citations.py

Without a language model (extracted answers), tests/data/retrieval's 50 questions are asked of a space holding its
documents plus the DocBook manual of tests/data/html; for every citation the quote must be located in its passage
(`quote_span`, which the chat's highlight uses) and each answer's citations must be numbered by falling similarity.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from lmspace_core.agents.citations import quote_span  # noqa: E402
from lmspace_core.agents.knowledge import KnowledgeAgent  # noqa: E402
from lmspace_core.config import load_config  # noqa: E402
from lmspace_core.workspace import Workspace  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="lmspace-bench-citations-"))
    config = home / "lmspace.yaml"
    config.write_text(f"data_dir: {home / 'data'}\n")  # the defaults: embedded store, no language model
    workspace = Workspace(load_config(config, env={}))
    try:
        space = workspace.create_space("corpus")
        documents = [*sorted((DATA / "retrieval").glob("*.[mt][dx]*")), DATA / "html" / "users-and-groups.html"]
        workspace.ingest(space, documents)
        questions = [item["question"] for item in json.loads((DATA / "retrieval" / "questions.json").read_text())]
        agent = KnowledgeAgent(workspace)
        located = cited = ordered = answered = 0
        started = time.perf_counter()
        for question in questions:
            answer = agent.query(question, space)
            scores = [citation.score for citation in answer.citations]
            answered += bool(scores)
            ordered += bool(scores) and scores == sorted(scores, reverse=True)
            cited += len(scores)
            located += sum(quote_span(c.passage, c.quote) is not None for c in answer.citations)
        seconds = time.perf_counter() - started
    finally:
        workspace.close()
    print("| questions | answered | quotes located in their passage | answers numbered by relevance | s per answer |")
    print("|---|---|---|---|---|")
    print(f"| {len(questions)} | {answered} | {located}/{cited} | {ordered}/{answered} | "
          f"{seconds / len(questions):.3f} |")
    return 0 if located == cited and ordered == answered else 1


if __name__ == "__main__":
    sys.exit(main())
