"""Sync planning and datasets: deltas from the change log, lineage, examples from structure, checks before upload."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lmspace_core.domain import ChangeKind, ChunkDraft, Location
from lmspace_core.stores.base import DocumentDraft
from lmspace_core.sync.dataset import check_dataset, DatasetRules, examples_from_chat_jsonl, to_jsonl
from lmspace_core.sync.manager import DatasetRejectedError, SyncManager
from lmspace_core.sync.model import DatasetFormat, Split, SyncStatus
from lmspace_core.sync.structure import structure_examples

POLICY = """# Travel policy

## Booking flights

Flights are booked through the travel desk at least fourteen days before departure, in economy class.

## Hotels

Hotels must be within the nightly limit of 180 euros in Europe and 250 dollars in North America.

- **Receipts:** keep every original receipt and upload it within thirty days of your return.
"""

CODE = '''def refund(order_id: str, amount: float) -> bool:
    """Refund part of an order to the original payment method and record who approved it."""
    return True
'''


def put(workspace, space, source: str, text: str, content_hash: str, doc_type: str = "markdown") -> None:
    """Store a document as the ingest pipeline would, one chunk per `## ` section (vectors are placeholders)."""
    sections = [part for part in text.split("\n## ") if part.strip()]
    chunks = tuple(ChunkDraft(("## " if i else "") + part, Location(heading=part.splitlines()[0].lstrip("# ")))
                   for i, part in enumerate(sections))
    vectors = np.eye(len(chunks), 384, dtype=np.float32)
    title = source.rsplit(".", 1)[0]
    workspace.store.put_documents(space.scope, [DocumentDraft(source, title, doc_type, (), content_hash, len(text),
                                                              None, chunks, vectors)])


@pytest.fixture
def manager(workspace, backend):
    """The sync manager, once on each store backend (embedded, and Azure on the emulators)."""
    opened = SyncManager(workspace)
    yield opened
    opened.close()


@pytest.fixture
def space(workspace):
    return workspace.create_space("travel", instructions="Answer as Acme's travel assistant.")


def test_plan_collapses_the_change_log_into_new_changed_and_deleted(workspace, manager, space):
    put(workspace, space, "travel.md", POLICY, "h1")
    put(workspace, space, "old.md", "# Old\n\n## Gone\n\nThis one is removed later on purpose.", "h2")
    put(workspace, space, "brief.md", "# Brief\n\n## Short\n\nAdded and deleted before any sync.", "h3")
    workspace.delete_document(space, workspace.document(space, "brief.md"))
    delta = manager.plan(space)
    assert delta.counts == {"added": 2, "replaced": 0, "deleted": 0}
    assert [item.source for item in delta.items] == ["old.md", "travel.md"]


def test_a_successful_sync_moves_the_plan_base_and_keeps_lineage(workspace, manager, space):
    put(workspace, space, "travel.md", POLICY, "h1")
    put(workspace, space, "old.md", "# Old\n\n## Gone\n\nThis one is removed later on purpose.", "h2")
    dataset = manager.build_dataset(space)
    manager.store.save_dataset(dataset, manager.plan(space).items)
    job = manager.store.create_job(space.scope, "local", "test")
    manager.store.update_job(job.enterprise_id, job.id, SyncStatus.SUCCEEDED, dataset_id=dataset.id)

    put(workspace, space, "travel.md", POLICY + "\nTaxis are reimbursed up to 60 euros per trip.\n", "h1b")
    workspace.delete_document(space, workspace.document(space, "old.md"))
    put(workspace, space, "new.md", "# New\n\n## Fresh\n\nA document added after the first sync.", "h4")
    delta = manager.plan(space)
    assert {item.source: item.change for item in delta.items} == {
        "travel.md": ChangeKind.REPLACED, "old.md": ChangeKind.DELETED, "new.md": ChangeKind.ADDED}
    assert delta.base_sequence == dataset.through_sequence
    lineage = manager.store.lineage(space.enterprise_id, dataset.id)
    assert [(item.source, item.version, item.content_hash) for item in lineage] == [
        ("old.md", 1, "h2"), ("travel.md", 1, "h1")]


def test_examples_come_from_headings_rules_and_signatures(workspace, manager, space):
    put(workspace, space, "travel.md", POLICY, "h1")
    put(workspace, space, "billing.py", CODE, "h5", doc_type="code")
    examples = {e.question: e for e in manager.build_dataset(space).examples}
    assert examples['What does the section "Booking flights" of travel say?'].answer.startswith("Flights are booked")
    rule = examples["What is the rule on Receipts in travel?"]
    assert rule.answer == "keep every original receipt and upload it within thirty days of your return."
    signature = examples["What does `refund(order_id: str, amount: float)` in billing.py do?"]
    assert signature.answer.startswith("Refund part of an order")
    assert all(e.answer in e.passage for e in examples.values())  # grounded by construction


def test_dataset_is_deduplicated_split_counted_and_rendered_in_both_formats(workspace, manager, space):
    for number in range(12):
        put(workspace, space, f"policy-{number}.md", POLICY.replace("Travel", f"Travel {number}"), f"h{number}")
    dataset = manager.build_dataset(space)
    questions = [e.question.lower() for e in dataset.examples]
    assert len(questions) == len(set(questions))
    assert dataset.train and dataset.validation
    assert all(e.tokens > 20 for e in dataset.examples)
    chat = [json.loads(line) for line in to_jsonl(dataset, Split.TRAIN).splitlines()]
    assert [m["role"] for m in chat[0]["messages"]] == ["system", "user", "assistant"]
    assert chat[0]["messages"][0]["content"] == "Answer as Acme's travel assistant."
    prompt = [json.loads(line) for line in to_jsonl(dataset, Split.VALIDATION, DatasetFormat.PROMPT).splitlines()]
    assert set(prompt[0]) == {"prompt", "completion"} and len(prompt) == len(dataset.validation)
    assert check_dataset(dataset).ok


def test_a_dataset_too_small_is_refused_with_reasons_before_any_upload(workspace, manager, space):
    put(workspace, space, "travel.md", POLICY, "h1")
    uploaded = []

    class Recording:
        name, model_kind = "recording", "deployment"

        def run(self, dataset, reporter):
            uploaded.append(dataset)

    with pytest.raises(DatasetRejectedError, match=r"only \d training example.*at least 10"):
        manager.sync_to_llm(space=space, backend=Recording())
    job = manager.jobs(space)[0]
    assert job.status is SyncStatus.FAILED and "at least 10" in job.error
    assert [e.status for e in manager.events(job.id)] == [SyncStatus.CREATED, SyncStatus.VALIDATING, SyncStatus.FAILED]
    assert uploaded == []


def test_checks_name_empty_answers_long_examples_and_wrong_roles(workspace, manager, space):
    put(workspace, space, "travel.md", POLICY, "h1")
    dataset = manager.build_dataset(space)
    broken = dataset.__class__(**{**dataset.__dict__, "examples": tuple(
        e.__class__(**{**e.__dict__, "answer": ""}) if i == 0 else e for i, e in enumerate(dataset.examples))})
    problems = check_dataset(broken, DatasetRules(min_examples=1, max_example_tokens=40)).problems
    assert any("answer (assistant message) is empty" in p for p in problems)
    assert any("over the limit of 40" in p for p in problems)
    rows = '{"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "a"}]}\n'
    _, role_problems = examples_from_chat_jsonl(rows, "mine.jsonl")
    assert role_problems == ["mine.jsonl line 1: roles are ['user', 'user'], expected system, user, assistant"]


def test_front_matter_is_not_trained_on_as_knowledge(workspace, manager, space):
    workspace.ingest(space, {
        "index.md": "---\nhide-toc: true\n---\n\n# pip\n\npip is the package installer for Python. You can use it "
                    "to install packages from the Python Package Index and other indexes.\n",
        "PORTING.md": "---\ntitle: Porting systemd To New Distributions\ncategory: Concepts\nlayout: default\n---\n\n"
                      "You need to make the following changes to adapt systemd to your distribution: set the "
                      "default target and the paths of the system tools.\n",
    })
    examples = manager.build_dataset(space).examples
    assert {e.source for e in examples} == {"index.md", "PORTING.md"}
    assert not any("hide-toc" in e.answer or "layout: default" in e.answer for e in examples), \
        [e.answer for e in examples]
