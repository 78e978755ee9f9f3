"""The local sync backend for real: fine-tune the embedding model, gate it on retrieval, switch the space to it."""

from __future__ import annotations

import textwrap
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lmspace_core.config import load_config
from lmspace_core.examples import open_examples
from lmspace_core.sync.backends.local import LocalBackend, LocalTraining
from lmspace_core.sync.manager import SyncManager
from lmspace_core.sync.model import Dataset, Example, Split, SyncStatus
from lmspace_core.sync.store import new_id
from lmspace_core.sync.structure import passage_text
from lmspace_core.sync.tuned import is_tuned
from lmspace_core.workspace import Workspace
from tests.conftest import write_config
from tests.killed_jobs import after_restart, kill_when_it_prints
from tests.sync_data import ROUTES, routing_examples

SETTINGS = """sync:
  min_examples: 4
  local:
    epochs: 3
    batch_size: 8
    learning_rate: 0.00005
"""


@pytest.fixture
def routed(tmp_path: Path, backend, backend_environment):
    """A workspace with a space of one document per help-desk route, and its sync manager (on each store backend)."""
    workspace = Workspace(load_config(write_config(tmp_path, SETTINGS), env=backend_environment))
    space = workspace.create_space("helpdesk", instructions="Route the request to the right desk.")
    workspace.ingest(space, {f"desk-{n}.txt": passage for n, (passage, _) in enumerate(ROUTES)})
    manager = SyncManager(workspace)
    yield workspace, space, manager
    manager.close()
    workspace.close()


def routing_dataset(workspace, space) -> Dataset:
    """Two questions per desk to train on, the third held out; passages exactly as the space embeds them."""
    passages = {}
    for document in workspace.documents(space):
        [chunk] = workspace.chunks(space, document)
        passages[chunk.text.strip()] = (document, passage_text(document, chunk))
    examples = []
    for question, passage, held_out in routing_examples():
        document, text = passages[passage]
        examples.append(Example(question, passage, text, document.id, document.source, "test",
                                Split.VALIDATION if held_out else Split.TRAIN, tokens=30))
    return Dataset(new_id(), space.enterprise_id, space.id, space.instructions, 0, 0, tuple(examples),
                   datetime.now(UTC))


def test_a_better_model_is_activated_and_a_worse_one_is_not(routed):
    workspace, space, manager = routed
    with open_examples(workspace.settings) as saved:  # as saved from chat: one answer names a passage, one none
        saved.add(space.scope, "Who deals with my parking fine?", "Desk C3")
        saved.add(space.scope, "Who sorts out my visa?", "Nobody here.")
    dataset = routing_dataset(workspace, space)
    job = manager.sync_to_llm(dataset, space, wait=True)

    assert job.status is SyncStatus.SUCCEEDED, job.error
    assert job.score_after > job.score_before
    epochs = [m for m in manager.metrics(job.id) if m.validation_loss is not None]
    assert len(epochs) == 3 and epochs[-1].validation_loss < epochs[0].validation_loss
    assert all(m.train_loss is not None for m in manager.metrics(job.id))
    steps = max(m.step for m in manager.metrics(job.id))
    assert (job.steps_done, job.steps_total) == (steps, steps)  # the progress the page and `--follow` show
    messages = [event.message for event in manager.events(job.id)]
    validation = len(dataset.validation)
    assert (f"held-out pairs: {validation} from the validation split and 1 from the space's 2 saved examples"
            in " ".join(messages))
    assert any(message.endswith(f"on {validation + 1} held-out pairs") for message in messages)
    statuses = [event.status for event in manager.events(job.id)]
    assert statuses[:4] == [SyncStatus.CREATED, SyncStatus.VALIDATING, SyncStatus.QUEUED, SyncStatus.RUNNING]
    [better] = manager.models(space)
    assert better.active and better.kind == "embedder" and better.id == job.model_version_id
    space = workspace.space("helpdesk")
    assert is_tuned(space.embedder_id)
    assert workspace.search(space, "Who books my plane tickets?")[0].chunk.text.startswith("Desk F6")

    ruinous = LocalBackend(workspace.settings.data_dir / "models", manager._start_from(space),
                           LocalTraining(epochs=1, batch_size=8, learning_rate=0.05))
    worse_job = manager.sync_to_llm(replace(routing_dataset(workspace, space), id=new_id()), space,
                                    backend=ruinous, wait=True)
    assert worse_job.status is SyncStatus.SUCCEEDED
    assert worse_job.score_after < worse_job.score_before
    assert "not activated" in worse_job.message
    assert [model.active for model in manager.models(space)] == [False, True]
    assert workspace.space("helpdesk").embedder_id == space.embedder_id

    assert manager.rollback(space, to="base") is None
    assert workspace.space("helpdesk").embedder_id == workspace.embedder_id()
    assert not any(model.active for model in manager.models(space))


def test_a_local_job_cancelled_between_training_steps_ends_cancelled_without_a_model(routed):
    workspace, space, manager = routed
    job = manager.sync_to_llm(routing_dataset(workspace, space), space, wait=False)
    deadline = time.monotonic() + 600
    while not manager.metrics(job.id):  # until the model has taken a training step
        assert time.monotonic() < deadline and not manager.job(job.id).status.finished, manager.job(job.id).error
        time.sleep(0.1)
    manager.cancel(job.id)
    job = manager.wait(job.id, timeout=600)
    assert job.status is SyncStatus.CANCELLED and job.steps_done < job.steps_total
    assert manager.models(space) == [] and job.model_id is None
    assert workspace.space("helpdesk").embedder_id == space.embedder_id
    assert [folder.name for folder in (workspace.settings.data_dir / "models").glob("*") if folder.name != "onnx"] == []
    assert not manager.plan(space).is_empty  # a cancelled sync leaves the delta for the next one


def test_killing_the_process_during_a_local_job_leaves_it_interrupted(tmp_path: Path, backend, backend_environment):
    config = write_config(tmp_path, SETTINGS)
    script = textwrap.dedent(f"""
        import time
        from lmspace_core.config import load_config
        from lmspace_core.sync.manager import SyncManager
        from lmspace_core.workspace import Workspace
        from tests.sync_data import ROUTES
        from tests.test_sync_local import routing_dataset
        workspace = Workspace(load_config({str(config)!r}, env={backend_environment!r}))
        space = workspace.create_space("helpdesk", instructions="Route the request to the right desk.")
        workspace.ingest(space, {{f"desk-{{n}}.txt": passage for n, (passage, _) in enumerate(ROUTES)}})
        manager = SyncManager(workspace)
        job = manager.sync_to_llm(routing_dataset(workspace, space), space, wait=False)
        while not manager.metrics(job.id):  # until the model has taken a training step
            time.sleep(0.1)
        print(job.id, flush=True)
        time.sleep(600)
    """)
    job, events, metrics = after_restart(config, kill_when_it_prints(script), backend_environment)
    assert job.status is SyncStatus.INTERRUPTED and "stopped before it finished" in job.error
    assert metrics, "it was killed while training"
    assert events[-1].status is SyncStatus.INTERRUPTED


def test_a_saved_example_is_held_out_only_when_one_passage_alone_holds_its_answer_and_it_was_not_trained_on():
    from lmspace_core.examples import ExampleOrigin, SpaceExample
    from lmspace_core.sync.backends.local import saved_pairs

    passages = ["Desk C3 handles parking permits.", "Desk D4 handles payroll.", "Both desks close at five."]
    trained = Example("Where do I get a permit for my car?", "Desk C3", passages[0], "d", "s", "test")
    dataset = Dataset(new_id(), "acme", "s1", "", 0, 0, (trained,), datetime.now(UTC))
    now = datetime.now(UTC)

    def saved(question: str, answer: str) -> SpaceExample:
        return SpaceExample(new_id(), "acme", "s1", question, answer, ExampleOrigin.ACCEPTED, now, now)

    pairs = saved_pairs([saved("Who handles my  PAYROLL?", "desk d4"), saved("When do they close?", "Desk"),
                         saved("where do i get a permit for my car?", "Desk C3"), saved("Visa?", "Nobody")],
                        dataset, passages)
    assert [(pair.question, pair.passage, pair.split) for pair in pairs] == [
        ("Who handles my  PAYROLL?", passages[1], Split.VALIDATION)]
