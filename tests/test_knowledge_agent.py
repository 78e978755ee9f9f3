"""KnowledgeAgent: cited answers from scripted models (DummyLM), the checks on citations, and the no-model mode."""

from __future__ import annotations

import re
from pathlib import Path

import dspy
import pytest
from dspy import lm15
from dspy.utils import DummyLM

from lmspace_core import KnowledgeAgent
from lmspace_core.agents.extractive import EXTRACTED_LABEL, NOT_FOUND_TEXT
from lmspace_core.domain import AnswerMode, Turn
from lmspace_core.errors import ModelError
from tests.conftest import write_config

POLICY = """# Data Retention

## Financial records
Invoices and ledgers are kept for seven years after the end of the fiscal year.

## Chat messages
Team chat messages are deleted automatically after 90 days.
"""


@pytest.fixture
def agent(workspace):
    space = workspace.create_space("policies", instructions="Answer in one sentence.")
    workspace.ingest(space, {"retention.md": POLICY})
    return KnowledgeAgent(workspace)


def reply(answer: str, cited: list[int]) -> dict:
    return {"reasoning": "The passages say so.", "answer": answer, "cited": cited}


def test_an_answer_cites_the_passages_it_uses(agent):
    agent.workspace.use_lm(DummyLM([reply("Invoices are kept for seven years [1].", [1])]))
    answer = agent.query("How long do we keep invoices?", "policies")
    assert answer.mode is AnswerMode.GENERATED
    assert answer.text == "Invoices are kept for seven years [1]."
    [citation] = answer.citations
    assert citation.number == 1 and citation.source == "retention.md"
    assert "seven years" in citation.quote
    assert "Financial records" in citation.location.heading


def test_a_citation_of_a_missing_passage_is_retried_once(agent):
    lm = DummyLM([reply("Kept forever [42].", [42]), reply("Seven years [1].", [1])])
    agent.workspace.use_lm(lm)
    answer = agent.query("How long do we keep invoices?", "policies")
    assert (answer.mode, answer.text) == (AnswerMode.GENERATED, "Seven years [1].")
    assert len(lm.history) == 2


def test_two_answers_citing_missing_passages_are_not_found(agent):
    agent.workspace.use_lm(DummyLM([reply("Kept forever [42].", [42]), reply("Still forever [7].", [7])]))
    answer = agent.query("How long do we keep invoices?", "policies")
    assert (answer.mode, answer.text, answer.citations) == (AnswerMode.NOT_FOUND, NOT_FOUND_TEXT, ())


def test_an_answer_citing_nothing_is_not_found(agent):
    agent.workspace.use_lm(DummyLM([reply("Probably a while.", []), reply("No idea.", [])]))
    assert agent.query("How long do we keep invoices?", "policies").mode is AnswerMode.NOT_FOUND


def test_citations_are_numbered_in_the_order_of_relevance_whatever_order_they_are_used(agent):
    hits = agent.retrieve(agent.space("policies"), "invoices and chat messages")
    assert len(hits) == 2
    agent.workspace.use_lm(DummyLM([reply("Chat: 90 days [2]. Invoices: seven years [1].", [2, 1])]))
    answer = agent.query("invoices and chat messages", "policies")
    assert answer.text == "Chat: 90 days [2]. Invoices: seven years [1]."
    assert [(c.number, c.quote, c.ordinal) for c in answer.citations] == [
        (1, hits[0].chunk.text, hits[0].chunk.ordinal), (2, hits[1].chunk.text, hits[1].chunk.ordinal)]
    assert [c.passage for c in answer.citations] == [hits[0].chunk.text, hits[1].chunk.text]


def test_space_instructions_history_and_passages_reach_the_model(agent):
    lm = DummyLM([reply("Seven years [1].", [1])])
    agent.workspace.use_lm(lm)
    agent.query("And invoices?", "policies", history=[Turn("How long are chats kept?", "90 days [1].")])
    prompt = "\n".join(message["content"] for message in lm.history[-1]["messages"])
    assert "Answer in one sentence." in prompt
    assert "How long are chats kept?" in prompt and "90 days [1]." in prompt
    assert "[1] retention.md (§ Data Retention > " in prompt


class ChunkedStream:
    """Wraps DummyLM's engine so its reply streams in small pieces, as a hosted model's would."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def complete(self, request):
        return self.inner.complete(request)

    def stream(self, request):
        for event in lm15.response_to_events(self.complete(request)):
            if isinstance(event, lm15.StreamDeltaEvent) and isinstance(event.delta, lm15.TextDelta):
                text = event.delta.text
                for start in range(0, len(text), 6):
                    yield lm15.StreamDeltaEvent(delta=lm15.TextDelta(text=text[start : start + 6], part_index=0))
            else:
                yield event

    def close(self) -> None:
        pass


def streaming_lm(*replies: dict) -> DummyLM:
    lm = DummyLM(list(replies))
    lm._engine_spec = ChunkedStream(lm._engine_spec)
    return lm


def test_a_streamed_answer_arrives_in_pieces_then_as_a_checked_answer(agent):
    agent.workspace.use_lm(streaming_lm(reply("Invoices are kept for seven years [1].", [1])))
    *pieces, answer = agent.stream_query("How long do we keep invoices?", "policies")
    assert len(pieces) > 3 and "".join(pieces) == "Invoices are kept for seven years [1]."
    assert answer.mode is AnswerMode.GENERATED and answer.citations[0].source == "retention.md"


def test_a_streamed_answer_with_a_bad_citation_is_replaced_by_the_retry(agent):
    agent.workspace.use_lm(streaming_lm(reply("Forever [9].", [9]), reply("Seven years [1].", [1])))
    *pieces, answer = agent.stream_query("How long do we keep invoices?", "policies")
    assert "".join(pieces) == "Forever [9]."
    assert answer.text == "Seven years [1]."


def test_a_failing_model_call_is_a_model_error(agent):
    class Unreachable:
        def complete(self, request):
            raise ConnectionError("connection refused by 10.0.0.1:443")

    agent.workspace.use_lm(dspy.LM("local/unreachable", engine=Unreachable()))
    with pytest.raises(ModelError, match="The language model call failed"):
        agent.query("How long do we keep invoices?", "policies")


def test_without_a_model_the_answer_is_labelled_extracted_sentences(agent):
    answer = agent.query("How long are team chat messages kept?", "policies")
    assert answer.mode is AnswerMode.EXTRACTED
    assert answer.text.startswith(EXTRACTED_LABEL)
    assert answer.citations[0].quote == "Team chat messages are deleted automatically after 90 days."
    assert answer.citations[0].source == "retention.md"


def test_without_a_model_an_unrelated_question_is_not_found(agent):
    answer = agent.query("Which football club won the 1998 cup final?", "policies")
    assert answer.mode is AnswerMode.NOT_FOUND


def _readme_python_blocks() -> list[str]:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", readme, flags=re.S)


def test_the_readme_example_runs_as_written(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path)
    quick_start, research, sync = _readme_python_blocks()[1:4]  # the first, the design example: test_public_api
    namespace: dict = {}
    exec(quick_start, namespace)
    answer = namespace["answer"]
    assert answer.found and answer.citations[0].source == "policies/retention.md"
    assert "seven years" in capsys.readouterr().out
    exec(research, namespace)
    assert [(f.path, f.line) for f in namespace["result"].findings] == [("app.py", 2)]
    exec(sync, namespace)  # two documents make too few examples: refused with its reasons, nothing uploaded
    assert "the dataset was refused, nothing was uploaded" in capsys.readouterr().out
