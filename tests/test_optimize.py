"""Prompt optimisation: a space's examples compile its answering program, which the space then answers with."""

from __future__ import annotations

from operator import attrgetter

import dspy
import pytest
from dspy.utils import DummyLM

from lmspace_core.agents.knowledge import KnowledgeAgent
from lmspace_core.agents.optimize import (
    MIN_EXAMPLES,
    Optimizer,
    answer_score,
    optimize,
    reset_program,
    split_held_out,
)
from lmspace_core.agents.programs import KNOWLEDGE, program_path
from lmspace_core.domain import AnswerMode
from lmspace_core.errors import LMSpaceError, ModelError
from lmspace_core.examples import open_examples
from tests.scripted_lm import ScriptedLM

POLICY = """# Data Retention

## Financial records
Invoices and ledgers are kept for seven years after the end of the fiscal year.

## Chat messages
Team chat messages are deleted automatically after 90 days.
"""
EXAMPLES = {
    "How long do we keep invoices?": "Invoices are kept for seven years.",
    "When are chat messages deleted?": "Chat messages are deleted after 90 days.",
    "How long are ledgers kept?": "Ledgers are kept for seven years.",
    "What happens to team chat messages?": "They are deleted automatically after 90 days.",
    "Are invoices kept after the fiscal year ends?": "Yes, for seven years after the end of the fiscal year.",
}
FIRST_REASONING = "The first passage says so."
question = attrgetter("question")


def reply(answer: str, reasoning: str = FIRST_REASONING) -> dict:
    return {"reasoning": reasoning, "answer": f"{answer.rstrip('.')} [1].", "cited": [1]}


def FewShotLM(known: set[str], reasoning: str = FIRST_REASONING, needs: str = "",  # noqa: N802 (reads as a class)
              examples: dict[str, str] = EXAMPLES) -> ScriptedLM:
    """A model that answers the `known` questions well, and the others only with demos (or `needs`)."""
    replies = {question: reply(answer, reasoning) for question, answer in examples.items()}
    return ScriptedLM(replies, {"reasoning": "Unclear.", "answer": "I am not sure.", "cited": []}, known, needs)


def space_with(workspace, name: str, examples: dict[str, str]):
    space = workspace.create_space(name)
    workspace.ingest(space, {"retention.md": POLICY})
    with open_examples(workspace.settings) as store:
        for question, answer in examples.items():
            store.add(space.scope, question, answer)
    return space


@pytest.fixture
def space(workspace):
    return space_with(workspace, "policies", EXAMPLES)


@pytest.fixture
def agent(workspace):
    return KnowledgeAgent(workspace)


def held_out_questions(workspace, space) -> set[str]:
    with open_examples(workspace.settings) as store:
        _, held_out = split_held_out(store.list(space.scope), key=question)
    return {example.question for example in held_out}


def trained_lm(workspace, space) -> FewShotLM:
    """A model that knows the training questions but needs demos for the held-out ones."""
    return FewShotLM(known=set(EXAMPLES) - held_out_questions(workspace, space))


def test_optimisation_reports_the_held_out_score_before_and_after(agent, space, workspace):
    workspace.use_lm(trained_lm(workspace, space))
    report = optimize(agent, space)
    assert (report.optimizer, report.train_examples, report.held_out_examples) == ("BootstrapFewShot", 4, 1)
    assert report.score_before == 0.0, "without demos the held-out question gets an uncited answer"
    assert report.score_after == 1.0
    assert report.demos == 4 and report.saved


def test_the_compiled_program_is_saved_and_answers_the_next_query_with_its_demos(agent, space, workspace):
    lm = trained_lm(workspace, space)
    workspace.use_lm(lm)
    optimize(agent, space)
    assert program_path(workspace.settings.data_dir, space, KNOWLEDGE).is_file()

    [question] = held_out_questions(workspace, space)
    fresh = KnowledgeAgent(workspace)
    assert len(fresh.responder(space).predict.demos) == 4
    answer = fresh.query(question, space)
    assert answer.mode is AnswerMode.GENERATED and answer.text == reply(EXAMPLES[question])["answer"]
    prompt = lm.history[-1]["messages"]
    assert len(prompt) > 2 and any(q in m["content"] for m in prompt[1:-1] for q in EXAMPLES if q != question)


def test_reset_restores_the_uncompiled_program(agent, space, workspace):
    workspace.use_lm(trained_lm(workspace, space))
    optimize(agent, space)
    assert reset_program(agent, space)
    assert agent.responder(space) is agent.respond and not agent.respond.predict.demos
    [question] = held_out_questions(workspace, space)
    assert agent.query(question, space).mode is AnswerMode.NOT_FOUND
    assert not reset_program(agent, space), "nothing left to reset"


def test_the_compiled_program_belongs_to_its_space_only(agent, space, workspace):
    workspace.use_lm(trained_lm(workspace, space))
    optimize(agent, space)
    other = workspace.create_space("other")
    assert agent.responder(other) is agent.respond
    assert len(agent.responder(space).predict.demos) == 4
    assert not agent.respond.predict.demos, "the agent's own module is never changed"


def test_a_program_that_learnt_nothing_is_not_saved(agent, space, workspace):
    workspace.use_lm(FewShotLM(known=set()))
    report = optimize(agent, space)
    assert (report.demos, report.saved) == (0, False)
    assert "nothing to learn from" in report.message
    assert not program_path(workspace.settings.data_dir, space, KNOWLEDGE).exists()


def test_a_program_scoring_worse_than_the_current_one_is_not_saved_unless_forced(agent, space, workspace):
    workspace.use_lm(trained_lm(workspace, space))
    optimize(agent, space)
    path = program_path(workspace.settings.data_dir, space, KNOWLEDGE)
    first = path.read_bytes()
    [question] = held_out_questions(workspace, space)
    # This model answers the held-out question only from demos with the first model's reasoning: the saved ones.
    known = set(EXAMPLES) - {question}
    workspace.use_lm(FewShotLM(known, reasoning="Another model's reasoning.", needs=FIRST_REASONING))
    report = optimize(agent, space)
    assert (report.score_before, report.score_after, report.saved) == (1.0, 0.0, False)
    assert "scored 0.000 on the held-out examples against 1.000" in report.message
    assert path.read_bytes() == first
    assert optimize(agent, space, force=True).saved
    assert path.read_bytes() != first


def test_from_twenty_training_examples_mipro_proposes_instructions_too(agent, workspace):
    many = {f"Question {n}: how long are invoices kept?": "Invoices are kept for seven years." for n in range(28)}
    space = space_with(workspace, "many", many)
    proposed = "A proposed_instruction the test model wrote."
    workspace.use_lm(FewShotLM(known=set(), needs=proposed, examples=many))  # it follows proposed instructions only
    report = optimize(agent, space)
    assert (report.optimizer, report.train_examples, report.held_out_examples) == ("MIPROv2", 21, 7)
    assert (report.score_before, report.score_after, report.demos, report.saved) == (0.0, 1.0, 0, True)
    assert agent.responder(space).predict.signature.instructions == proposed


def test_deleting_a_space_deletes_its_compiled_programs(agent, space, workspace):
    workspace.use_lm(trained_lm(workspace, space))
    optimize(agent, space, optimizer="bootstrap")
    path = program_path(workspace.settings.data_dir, space, KNOWLEDGE)
    assert path.is_file()
    workspace.delete_space(space)
    assert not path.parent.exists()


def test_optimisation_needs_a_model(agent, space):
    with pytest.raises(ModelError, match="needs a language model"):
        optimize(agent, space)


def test_optimisation_needs_enough_examples(agent, workspace):
    workspace.use_lm(DummyLM([]))
    space = workspace.create_space("empty")
    with pytest.raises(LMSpaceError, match=f"has 0 example\\(s\\); optimisation needs at least {MIN_EXAMPLES}"):
        optimize(agent, space, optimizer=Optimizer.BOOTSTRAP)


def test_the_held_out_split_is_stable_and_never_empty(workspace, space):
    with open_examples(workspace.settings) as store:
        examples = store.list(space.scope)
    train, held_out = split_held_out(examples, key=question)
    assert len(held_out) == 1 and len(train) == 4
    assert split_held_out(list(reversed(examples)), key=question) == (train, held_out)


@pytest.mark.parametrize(
    ("answer", "cited", "expected"),
    [
        ("Invoices are kept for seven years [1].", [1], 1.0),
        ("Invoices are kept for seven years.", [], 0.0),
        ("Invoices are kept for seven years [3].", [3], 0.0),
        ("Seven years [2].", [2], 0.5),
    ],
)
def test_the_metric_rewards_cited_answers_that_say_what_the_example_says(answer, cited, expected):
    example = dspy.Example(passages=["[1] a", "[2] b"], answer="Invoices are kept for seven years.")
    assert answer_score(example, dspy.Prediction(answer=answer, cited=cited)) == pytest.approx(expected)


def test_the_agent_records_examples_and_optimises_its_space_from_python(workspace):
    space = workspace.create_space("policies")
    workspace.ingest(space, {"retention.md": POLICY})
    agent = KnowledgeAgent(workspace)
    for question_text, answer in EXAMPLES.items():
        agent.add_example(question_text, answer, space="policies")
    workspace.use_lm(trained_lm(workspace, space))
    report = agent.optimize("policies")
    assert (report.program, report.score_after, report.saved) == (KNOWLEDGE, 1.0, True)
