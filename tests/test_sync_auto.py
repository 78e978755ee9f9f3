"""Automatic sync after ingest: an ingest that takes a `sync.auto_sync` space past its threshold queues one sync,
which `lmspace sync worker` then runs; a queue that fails is a warning, never a failed ingest."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from lmspace_core.config import load_config
from lmspace_core.domain import Outcome
from lmspace_core.sync import auto
from lmspace_core.sync.queue import FolderSyncQueue, build_queue
from lmspace_core.workspace import Workspace
from tests.conftest import write_config
from tests.test_sync_plan import POLICY
from tests.test_sync_prompt import lmspace

AUTO = """sync:
  auto_sync: [travel]
  auto_sync_items: 3
  min_examples: 4
  local:
    epochs: 1
    batch_size: 4
"""


def policy(number: int) -> dict[str, str]:
    return {f"travel-{number}.md": POLICY.replace("Travel policy", f"Travel policy {number}")}


def open_workspace(tmp_path: Path, settings: str = AUTO, env: dict[str, str] | None = None) -> Workspace:
    return Workspace(load_config(write_config(tmp_path, settings), env=env or {}))


def waiting(workspace: Workspace) -> list[str]:
    """The space ids of the requests waiting in the enterprise's queue."""
    queue = build_queue(workspace.settings, workspace.enterprise_id)
    assert isinstance(queue, FolderSyncQueue)
    return [json.loads(path.read_text())["space_id"] for path in sorted(queue._folder.glob("[0-9]*.json"))]


@pytest.fixture
def workspace(tmp_path: Path, backend, backend_environment):
    """An auto-synced workspace on each store backend (the sync state, read after every ingest, with it)."""
    opened = open_workspace(tmp_path, env=backend_environment)
    yield opened
    opened.close()


def test_the_ingest_that_passes_the_threshold_queues_exactly_one_sync(workspace):
    space = workspace.create_space("travel")
    reports = [workspace.ingest(space, policy(number)) for number in range(2)]
    assert waiting(workspace) == [] and all(not report.sync_queued for report in reports)

    passing = workspace.ingest(space, policy(2))
    assert passing.sync_queued == "3 changed documents (threshold 3)"
    assert waiting(workspace) == [space.id]

    later = workspace.ingest(space, policy(3))
    assert not later.sync_queued and waiting(workspace) == [space.id], "a waiting request is not queued again"


def test_spaces_without_auto_sync_queue_nothing(tmp_path):
    for number, settings in enumerate((AUTO, AUTO.replace("auto_sync: [travel]", "auto_sync: []"))):
        (tmp_path / str(number)).mkdir()
        workspace = open_workspace(tmp_path / str(number), settings)
        try:
            space = workspace.create_space("notes" if settings == AUTO else "travel")
            reports = [workspace.ingest(space, policy(number)) for number in range(4)]
            assert waiting(workspace) == [] and not any(report.sync_queued for report in reports)
        finally:
            workspace.close()


def test_a_queue_that_fails_is_a_warning_and_the_ingest_still_succeeds(workspace, monkeypatch, caplog):
    def broken_queue(settings, enterprise_id):
        raise OSError("queue storage unreachable")

    monkeypatch.setattr(auto, "build_queue", broken_queue)
    space = workspace.create_space("travel")
    with caplog.at_level(logging.ERROR, logger="lmspace_core.sync.auto"):
        report = workspace.ingest(space, policy(0))
    assert [f.outcome for f in report.files] == [Outcome.ADDED]
    [warning] = report.warnings
    assert "automatic sync of space 'travel' could not be queued (OSError: queue storage unreachable)" in warning
    assert "could not queue an automatic sync" in caplog.text
    assert len(workspace.documents(space)) == 1


def test_a_cli_ingest_says_it_queued_a_sync_and_the_worker_runs_it(tmp_path):
    config = write_config(tmp_path, AUTO)
    assert lmspace(config, "spaces", "create", "travel").exit_code == 0
    for number in range(3):
        (tmp_path / f"travel-{number}.md").write_text(*policy(number).values())
    result = lmspace(config, "ingest", "travel", *(str(tmp_path / f"travel-{n}.md") for n in range(3)))
    assert result.exit_code == 0, result.output
    assert "Queued an automatic sync (3 changed documents (threshold 3)); `lmspace sync worker` runs it." in result.stdout

    worker = lmspace(config, "sync", "worker", "--once", "--json")
    assert worker.exit_code == 0, worker.output
    done = json.loads(worker.stdout)
    assert done["queued"] == [], "the ingest queued it already"
    [job] = done["jobs"]
    assert (job["backend"], job["status"]) == ("local", "succeeded"), job["error"]
    workspace = Workspace(load_config(config, env={}))
    try:
        assert waiting(workspace) == []
    finally:
        workspace.close()
