"""`lmspace sync ...` as people and scripts use it: plan, a refused start, status, events, models, rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmspace_core.cli import app
from lmspace_core.config import load_config
from lmspace_core.sync.manager import SyncManager
from lmspace_core.workspace import Workspace
from tests.conftest import write_config
from tests.test_sync_plan import POLICY, put


@pytest.fixture
def config(tmp_path: Path, backend, backend_environment, monkeypatch) -> Path:
    """A config with a space of two documents, on each store backend (the CLI reads the Azure settings from the
    environment, as it would from `lmspace dev emulators`' exports)."""
    for name, value in backend_environment.items():
        monkeypatch.setenv(name, value)
    path = write_config(tmp_path)
    workspace = Workspace(load_config(path))
    space = workspace.create_space("travel", instructions="Answer as Acme's travel assistant.")
    put(workspace, space, "travel.md", POLICY, "h1")
    put(workspace, space, "visa.md", "# Visa\n\n## Applications\n\nVisa applications go through the travel desk.", "h2")
    workspace.close()
    return path


def lmspace(config: Path, *args: str):
    result = CliRunner().invoke(app, ["--config", str(config), "sync", *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_plan_shows_counts_and_a_sample(config):
    result = lmspace(config, "plan", "travel", "--examples", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["counts"] == {"added": 2, "replaced": 0, "deleted": 0}
    assert [item["source"] for item in data["sample"]] == ["travel.md", "visa.md"]
    assert data["dataset"]["problems"] and data["dataset"]["train"] >= 1
    human = lmspace(config, "plan", "travel")
    assert "2 added, 0 replaced, 0 deleted (never synced)" in human.output


def test_a_refused_dataset_exits_with_its_reasons_and_the_job_shows_failed(config):
    result = lmspace(config, "start", "travel", "--backend", "local")
    assert result.exit_code == 11
    assert "the dataset was refused, nothing was uploaded" in result.output and "at least 10" in result.output
    [job] = json.loads(lmspace(config, "status", "travel", "--json").output)
    assert job["status"] == "failed" and job["backend"] == "local"
    events = json.loads(lmspace(config, "events", "travel", "--json").output)["events"]
    assert [event["status"] for event in events] == ["created", "validating", "failed"]


def test_models_activate_and_rollback(config):
    workspace = Workspace(load_config(config))
    manager = SyncManager(workspace)
    first = manager.pull_llm_updates("gpt-4o-mini.ft-first", "travel", force=True)
    second = manager.pull_llm_updates("gpt-4o-mini.ft-second", "travel", force=True)
    manager.close()
    workspace.close()
    versions = json.loads(lmspace(config, "models", "travel", "--json").output)
    assert [(v["reference"], v["active"]) for v in versions] == [("gpt-4o-mini.ft-second", True),
                                                                 ("gpt-4o-mini.ft-first", False)]
    assert json.loads(lmspace(config, "rollback", "travel", "--json").output)["active"] == first.id
    assert lmspace(config, "activate", "travel", second.id).exit_code == 0
    assert json.loads(lmspace(config, "rollback", "travel", "--to", "base", "--json").output)["active"] == "base"
    assert "base model" in lmspace(config, "models", "travel").output
    assert lmspace(config, "activate", "travel", "nope").exit_code == 4


def test_start_follow_prints_events_and_metrics_live_until_the_job_ends(tmp_path):
    from tests.fake_azure_openai import FakeAzureOpenAI, FakeFineTuning

    fake = FakeFineTuning(script=["validating_files", "queued", "running", "succeeded"])
    with FakeAzureOpenAI(fake) as server:
        config = write_config(tmp_path, f"""sync:
  backend: azure_openai
  min_examples: 4
  poll_s: 0.01
  azure_openai:
    endpoint: {server.endpoint}
    api_key: test-key-0123456789
""")
        workspace = Workspace(load_config(config, env={}))
        space = workspace.create_space("travel", instructions="Answer as Acme's travel assistant.")
        for number in range(4):
            put(workspace, space, f"travel-{number}.md", POLICY.replace("Travel", f"Travel {number}"), f"h{number}")
        workspace.close()
        result = lmspace(config, "start", "travel", "--follow")
    assert result.exit_code == 0, result.output
    lines = result.output
    for expected in ("validating", "queued", "Training started.", "· train loss ", "succeeded"):
        assert expected in lines
    assert lines.index("Training started.") < lines.index("Sync job")


def test_status_and_follow_show_the_training_step_out_of_all_steps(config, capsys):
    from lmspace_core.cli_sync import _follow
    from lmspace_core.sync.model import Metric, SyncStatus

    workspace = Workspace(load_config(config))
    manager = SyncManager(workspace)
    try:
        job = manager.store.create_job(workspace.space("travel").scope, "local", "test")
        manager.store.record_metrics(job.enterprise_id, job.id, [Metric(3, train_loss=0.5)])
        manager.store.update_job(job.enterprise_id, job.id, SyncStatus.RUNNING, "training", steps_done=3,
                                 steps_total=12)
        [row] = json.loads(lmspace(config, "status", "travel", "--json").output)
        assert (row["steps_done"], row["steps_total"]) == (3, 12)
        assert "3/12" in lmspace(config, "status", "travel").output
        manager.store.update_job(job.enterprise_id, job.id, SyncStatus.CANCELLED, "cancelled on request")
        capsys.readouterr()
        _follow(manager, manager.job(job.id))
    finally:
        manager.close()
        workspace.close()
    assert "step 3/12 · train loss 0.5000" in capsys.readouterr().out


def test_the_dataset_of_a_job_is_written_as_jsonl_in_either_format(config, tmp_path):
    lmspace(config, "start", "travel", "--backend", "local")  # refused, but its dataset is kept with the job
    chat = lmspace(config, "dataset", "travel")
    assert chat.exit_code == 0, chat.output
    rows = [json.loads(line) for line in chat.output.splitlines()]
    assert rows and all([m["role"] for m in row["messages"]] == ["system", "user", "assistant"] for row in rows)
    assert rows[0]["messages"][0]["content"] == "Answer as Acme's travel assistant."
    target = tmp_path / "validation.jsonl"
    written = lmspace(config, "dataset", "travel", "--split", "validation", "--format", "prompt", "--output",
                      str(target))
    assert written.exit_code == 0 and str(target) in written.output
    prompts = [json.loads(line) for line in target.read_text().splitlines()]
    assert prompts and all(set(row) == {"prompt", "completion"} for row in prompts)


def test_building_the_dataset_and_re_embedding_on_rollback_report_progress(config, monkeypatch):
    import contextlib

    import lmspace_core.cli_sync as cli_sync
    from lmspace_core.sync import tuned

    stages = []

    @contextlib.contextmanager
    def recorded(enabled):
        yield lambda event: stages.append(event.stage)

    monkeypatch.setattr(cli_sync, "_progress_bar", recorded)
    lmspace(config, "start", "travel", "--backend", "local")  # refused after building its dataset
    assert "dataset" in stages
    workspace = Workspace(load_config(config))
    space = workspace.space("travel")
    chunks = workspace.store.list_chunks(space.scope)
    vectors = workspace.embedder.embed([chunk.text for chunk in chunks])
    workspace.store.replace_vectors(space.scope, tuned.tuned_id("v1", workspace.embedder_id()), vectors,
                                    [chunk.id for chunk in chunks])  # as if a tuned embedder were active
    workspace.close()
    stages.clear()
    assert lmspace(config, "rollback", "travel", "--to", "base").exit_code == 0
    assert "reembed" in stages


def test_a_second_start_while_a_sync_of_the_space_runs_is_refused_naming_it(config):
    from lmspace_core.jobs import this_process_owner
    from lmspace_core.sync.model import SyncStatus

    workspace = Workspace(load_config(config))
    store = SyncManager(workspace, resume=False).store
    try:
        running = store.create_job(workspace.space("travel").scope, "local", this_process_owner())  # a live process
        store.update_job(running.enterprise_id, running.id, SyncStatus.RUNNING, "training")
        result = lmspace(config, "start", "travel", "--backend", "local")
        assert result.exit_code == 5, result.output
        message = " ".join(result.output.split())
        assert f"Space 'travel' already has sync job {running.id} under way (running" in message
        for command in ("status", "events", "cancel"):
            assert f"`lmspace sync {command} travel --job {running.id}`" in message
        assert [job["id"] for job in json.loads(lmspace(config, "status", "travel", "--json").output)] == [running.id]
        lmspace(config, "cancel", "travel", "--job", running.id)
        store.update_job(running.enterprise_id, running.id, SyncStatus.CANCELLED, "cancelled on request")
        assert lmspace(config, "start", "travel", "--backend", "local").exit_code == 11  # started: dataset refused
    finally:
        store.close()
        workspace.close()


def test_a_sync_left_unfinished_by_a_process_that_died_does_not_block_the_next_start(config):
    import socket
    import subprocess
    import sys

    from lmspace_core.sync.manager import DatasetRejectedError

    workspace = Workspace(load_config(config))
    manager = SyncManager(workspace)  # long-lived, as the dashboard's: the job dies after it started
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        orphan = manager.store.create_job(workspace.space("travel").scope, "local",
                                          f"{socket.gethostname()}:{dead.pid}")
        with pytest.raises(DatasetRejectedError):  # the new job started (its dataset is too small)
            manager.sync_to_llm(space="travel", backend="local")
        assert manager.job(orphan.id).status.value == "interrupted"
    finally:
        manager.close()
        workspace.close()
