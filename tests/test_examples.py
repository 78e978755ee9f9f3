"""A space's examples in the embedded store: one per question, scoped to their space, gone with it."""

from __future__ import annotations

import pytest

from lmspace_core.config import load_config
from lmspace_core.domain import Answer, AnswerMode
from lmspace_core.errors import NotAvailableYetError
from lmspace_core.examples import ExampleOrigin, open_examples
from tests.conftest import write_config


def test_asking_a_question_again_replaces_its_answer(workspace):
    space = workspace.create_space("policies")
    with open_examples(workspace.settings) as store:
        first = store.add(space.scope, "How long are invoices kept?", "Seven years.")
        again = store.add(space.scope, " How long are invoices kept? ", "Ten years.", ExampleOrigin.ACCEPTED)
        [kept] = store.list(space.scope)
    assert again.id == first.id == kept.id
    assert (kept.answer, kept.origin) == ("Ten years.", ExampleOrigin.ACCEPTED)


def test_examples_belong_to_their_space_and_go_with_it(workspace):
    policies, other = workspace.create_space("policies"), workspace.create_space("other")
    with open_examples(workspace.settings) as store:
        example = store.add(policies.scope, "Q?", "A.")
        assert store.list(other.scope) == []
        assert not store.delete(other.scope, example.id), "another space cannot delete it"
    workspace.delete_space(policies)
    with open_examples(workspace.settings) as store:
        assert store.list(policies.scope) == []


AZURE = "store:\n  backend: azure\n  azure:\n    cosmos_endpoint: https://c\n    connection_string: UseDevelopmentStorage=true\n"


def test_examples_need_the_embedded_store(tmp_path):
    settings = load_config(write_config(tmp_path, AZURE))
    with pytest.raises(NotAvailableYetError, match="embedded store only"), open_examples(settings):
        pass


def test_an_accepted_answer_is_saved_without_its_markers_and_can_be_taken_back(workspace):
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
