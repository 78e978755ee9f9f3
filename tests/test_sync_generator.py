"""Examples written by a language model (scripted with DSPy's DummyLM): grounded pairs are kept, invented ones not."""

from __future__ import annotations

from dspy.utils import DummyLM

from lmspace_core.sync.manager import SyncManager
from tests.test_sync_plan import put

FLIGHTS = "Flights are booked through the travel desk at least fourteen days ahead."
HOTELS = "Hotels must stay within the nightly limit of 180 euros in Europe."


def test_the_model_writes_one_pair_per_passage_and_ungrounded_answers_are_dropped(workspace):
    space = workspace.create_space("travel", instructions="Answer as Acme's travel assistant.")
    put(workspace, space, "flights.md", FLIGHTS, "h1")
    put(workspace, space, "hotels.md", HOTELS, "h2")
    lm = DummyLM([
        {"question": "How far ahead must flights be booked?",
         "answer": "Flights are booked through the travel desk at least fourteen days ahead."},
        {"question": "What is the hotel limit?",
         "answer": "Staff may choose any five-star resort they like, paid by the company card."},
    ])
    workspace.use_lm(lm)
    manager = SyncManager(workspace)
    try:
        dataset = manager.build_dataset(space)
    finally:
        manager.close()

    assert [(e.question, e.origin, e.source) for e in dataset.examples] == [
        ("How far ahead must flights be booked?", "model", "flights.md")]
    prompts = [str(entry["messages"]) for entry in lm.history]
    assert any("Answer as Acme's travel assistant." in p and "fourteen days ahead" in p for p in prompts)
