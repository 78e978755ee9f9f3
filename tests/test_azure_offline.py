"""While Azure is unreachable, ingests are acknowledged from the local outbox and remembered reads; replayed in
order when Azure answers again, every acknowledged document is there once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmspace_core.cli import app
from lmspace_core.config import load_config
from lmspace_core.domain import Outcome
from lmspace_core.stores.base import BlobPlacement
from lmspace_core.workspace import Workspace
from tests.conftest import azure_environment, write_config


@pytest.fixture
def lmspace(tmp_path: Path, monkeypatch, azure_emulators):
    """The CLI on one data directory, online (the emulators) or offline (every endpoint a closed port)."""
    online = azure_environment(azure_emulators)
    storage = online["LMSPACE_STORE__AZURE__CONNECTION_STRING"]
    for port in (azure_emulators.blob_port, azure_emulators.queue_port, azure_emulators.table_port):
        storage = storage.replace(f":{port}/", ":9/")
    offline = {**online, "LMSPACE_STORE__AZURE__COSMOS_ENDPOINT": "https://127.0.0.1:9/",
               "LMSPACE_STORE__AZURE__CONNECTION_STRING": storage}
    config = write_config(tmp_path)

    def run(*args: str, reachable: bool = True, code: int = 0):
        for name, value in (online if reachable else offline).items():
            monkeypatch.setenv(name, value)
        result = CliRunner().invoke(app, ["--config", str(config), *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code == code, result.output
        return result

    run.online = lambda: Workspace(load_config(config, env=online))
    return run


def test_writes_made_offline_are_replayed_in_order_once(lmspace, tmp_path: Path):
    files = {}
    for name in ("a", "b", "c"):
        files[name] = tmp_path / f"{name}.md"
        files[name].write_text(f"# {name}\n\nPolicy {name}: the {name} rule applies on weekdays.\n")
    lmspace("spaces", "create", "policies")
    lmspace("ingest", "policies", str(files["a"]))
    for name in ("b", "c"):  # Azure is gone: both are acknowledged as added
        report = json.loads(lmspace("ingest", "policies", str(files[name]), "--json", reachable=False).stdout)
        assert [f["outcome"] for f in report["files"]] == [Outcome.ADDED.value]
    pending = json.loads(lmspace("outbox", "status", "--json", reachable=False).stdout)["pending"]
    assert [p["summary"].split(": ")[1] for p in pending] == [
        f"upload {_hash_prefix(pending[0])}", "write b.md", f"upload {_hash_prefix(pending[2])}", "write c.md"]
    assert "Cannot reach" in lmspace("outbox", "replay", reachable=False, code=11).output
    replayed = json.loads(lmspace("outbox", "replay", "--json").stdout)
    assert (replayed["replayed"], replayed["remaining"]) == (4, 0)
    assert json.loads(lmspace("outbox", "replay", "--json").stdout)["replayed"] == 0  # nothing twice
    listed = json.loads(lmspace("docs", "list", "policies", "--json").stdout)
    assert sorted(d["source"] for d in listed) == ["a.md", "b.md", "c.md"]
    assert all(d["version"] == 1 for d in listed)
    workspace = lmspace.online()
    try:
        changes = workspace.store.changes(workspace.space("policies").scope)
    finally:
        workspace.close()
    assert [change.source for change in changes] == ["a.md", "b.md", "c.md"]


def _hash_prefix(entry: dict) -> str:
    return entry["summary"].rsplit(" ", 1)[1]


def test_an_outage_in_the_middle_of_an_ingest_loses_nothing(tmp_path: Path):
    from lmspace_core.emulators.launch import start_emulators

    emulators = start_emulators(tmp_path / "emulators")  # keeps its data across the outage, as Azure does
    try:
        workspace = Workspace(load_config(write_config(tmp_path), env=azure_environment(emulators)))
        space = workspace.create_space("policies")
        folder = tmp_path / "docs"
        folder.mkdir()
        names = [f"f{n}.md" for n in range(1, 7)]
        for name in names:
            (folder / name).write_text(f"# {name}\n\nRule {name}: requests are answered within two days.\n")
        stopped = []

        def progress(step) -> None:
            if step.item == "docs/f4.md" and not stopped:  # Azure goes away half-way through the files
                emulators.stop()
                stopped.append(True)

        report = workspace.ingest(space, folder, progress=progress)
        assert stopped and [f.outcome for f in report.files] == [Outcome.ADDED] * 6  # all acknowledged
        assert workspace.store.outbox.file.pending()
        emulators = emulators.restart()
        assert workspace.store.outbox.replay().remaining == 0
        documents = workspace.documents(space)
        assert sorted(d.source for d in documents) == [f"docs/{name}" for name in names]
        assert [c.source for c in workspace.store.changes(space.scope)] == [f"docs/{name}" for name in names]
        assert len(workspace.chunks(space, documents[0])) == documents[0].chunk_count
        assert workspace.blobs.get(BlobPlacement.of(documents[-1])).startswith(b"# f")
        workspace.close()
    finally:
        emulators.stop()
