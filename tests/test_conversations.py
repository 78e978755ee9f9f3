"""Conversations per space in SQLite: answers kept whole and in order, listed newest first, gone with their space."""

from __future__ import annotations

import pytest

from lmspace_core.conversations import ConversationStore
from lmspace_core.domain import Answer, AnswerMode, Citation, Location
from lmspace_core.stores.local.database import Database


@pytest.fixture
def store(workspace):
    database = Database(workspace.settings.data_dir / "lmspace.db")
    yield ConversationStore(database)
    database.close()


def answer(question: str, space_id: str) -> Answer:
    cited = Citation(1, "d1", "requests/__init__.py", Location(heading="Intro", start_line=3, end_line=4),
                     "Quoted **text**", 0.81)
    return Answer(question, "It is so [1].", AnswerMode.GENERATED, (cited,), space_id)


def test_answers_come_back_whole_in_order_and_conversations_newest_first(workspace, store):
    space = workspace.create_space("chatty")
    first = store.start(space.scope, "  How long   do we keep invoices?  ")
    second = store.start(space.scope, "x" * 200)
    store.add_answer(first.id, answer("How long do we keep invoices?", space.id))
    store.add_answer(first.id, answer("And ledgers?", space.id))
    assert store.answers(first.id) == [answer("How long do we keep invoices?", space.id),
                                       answer("And ledgers?", space.id)]
    assert [c.id for c in store.list(space.scope)] == [first.id, second.id]
    assert first.title == "How long do we keep invoices?" and len(second.title) == 80
    assert store.delete(second.id) and not store.delete(second.id)


def test_deleting_a_space_deletes_its_conversations(workspace, store):
    space = workspace.create_space("short-lived")
    conversation = store.start(space.scope, "Anyone there?")
    store.add_answer(conversation.id, answer("Anyone there?", space.id))
    workspace.delete_space(space)
    assert store.list(space.scope) == []
    assert store.answers(conversation.id) == []


def test_an_answer_stored_before_citations_carried_their_passage_still_loads():
    from lmspace_core.conversations import answer_from_json

    stored = ('{"question": "Q?", "text": "A [1].", "mode": "generated", "space_id": "s1", "citations": [{"number": 1,'
              ' "document_id": "d1", "source": "a.md", "location": {"page": null, "heading": "Intro", "start_line": 1,'
              ' "end_line": 2}, "quote": "The passage.", "score": 0.5}]}')
    [cited] = answer_from_json(stored).citations
    assert (cited.quote, cited.passage, cited.ordinal) == ("The passage.", "", None)
