"""A space's examples, on both backends: one per question, scoped to their space, gone with it."""

from __future__ import annotations

from lmspace_core.domain import Answer, AnswerMode
from lmspace_core.examples import ExampleOrigin, open_examples
from lmspace_core.research.plan import ResearchPlan

PLAN = '{"task": "Where are invoices archived?", "strategy": "search"}'


def test_asking_a_question_again_replaces_its_answer(workspace, backend):
    space = workspace.create_space("policies")
    with open_examples(workspace.settings) as store:
        first = store.add(space.scope, "How long are invoices kept?", "Seven years.")
        again = store.add(space.scope, " How long are invoices kept? ", "Ten years.", ExampleOrigin.ACCEPTED)
        [kept] = store.list(space.scope)
    assert again.id == first.id == kept.id
    assert (kept.answer, kept.origin) == ("Ten years.", ExampleOrigin.ACCEPTED)


def test_examples_belong_to_their_space_and_go_with_it(workspace, backend):
    policies, other = workspace.create_space("policies"), workspace.create_space("other")
    with open_examples(workspace.settings) as store:
        example = store.add(policies.scope, "Q?", "A.")
        store.add_plan(policies.scope, ResearchPlan.from_json(PLAN))
        store.add(other.scope, "Q?", "Another space's answer.")
        assert [e.answer for e in store.list(other.scope)] == ["Another space's answer."]
        assert not store.delete(other.scope, example.id), "another space cannot delete it"
    workspace.delete_space(policies)
    with open_examples(workspace.settings) as store:
        assert store.list(policies.scope) == [] and store.list_plans(policies.scope) == []
        assert [e.answer for e in store.list(other.scope)] == ["Another space's answer."]


def test_an_accepted_answer_is_saved_without_its_markers_and_can_be_taken_back(workspace, backend):
    space = workspace.create_space("policies")
    answer = Answer("How long are invoices kept?", "Seven years [1], after the year ends [2].", AnswerMode.GENERATED,
                    (), space.id)
    with open_examples(workspace.settings) as store:
        example = store.accept(space.scope, answer)
        assert (example.answer, example.origin) == ("Seven years, after the year ends.", ExampleOrigin.ACCEPTED)
        store.add(space.scope, answer.question, "Written by hand.")
        assert not store.withdraw(space.scope, answer), "an example someone rewrote is not taken back"
        store.accept(space.scope, answer)
        assert store.withdraw(space.scope, answer) and store.list(space.scope) == []
