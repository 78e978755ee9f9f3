"""The answer of a model-run research task, allowed to cite verified findings only.

Subagents write their notes before verification; this final step sees the verified findings, numbered, and its
answer is checked like a knowledge answer: citations must exist, else it is asked once more, and then the answer
falls back to a plain count of what was verified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dspy

from lmspace_core.agents.citations import cited_numbers, retry_config
from lmspace_core.agents.research.subagents import counted_call
from lmspace_core.agents.signatures import SummarizeFindings
from lmspace_core.domain import Finding

# The summariser sees at most this many findings; the rest are in the findings table, not in the prose.
MAX_CITABLE = 60


@dataclass(frozen=True)
class Summary:
    text: str
    lm_calls: int
    tokens: int


def _numbered(findings: Sequence[Finding]) -> list[str]:
    return [
        f"[{n}] {f.path}:{f.line}: {f.text.strip().splitlines()[0] if f.text.strip() else ''}"
        + (f" ({f.note})" if f.note else "")
        for n, f in enumerate(findings, start=1)
    ]


def summarize(task: str, notes: str, findings: Sequence[Finding], lm: dspy.BaseLM) -> Summary:
    """An answer citing only `findings` (by their position, 1-based), or a factual fallback."""
    citable = list(findings[:MAX_CITABLE])
    if not citable:
        return Summary("No finding could be verified in the files, so there is nothing to report.", 0, 0)
    writer = dspy.ChainOfThought(SummarizeFindings)
    calls = tokens = 0
    for attempt in range(2):
        reply = counted_call(writer, lm, task=task, subagent_notes=notes or "(none)", findings=_numbered(citable),
                             config=retry_config(attempt))
        calls, tokens = calls + reply.lm_calls, tokens + reply.tokens
        if reply.prediction is None:
            continue
        numbers = cited_numbers(reply.prediction.answer, reply.prediction.cited)
        if numbers and all(1 <= n <= len(citable) for n in numbers):
            return Summary(reply.prediction.answer.strip(), calls, tokens)
    places = len({f.path for f in findings})
    return Summary(f"{len(findings)} verified findings in {places} files (the model's summary cited findings that "
                   "do not exist, so it was not used).", calls, tokens)
