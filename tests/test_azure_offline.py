"""While Azure is unreachable, writes (ingests, deletions, space edits) are acknowledged from the local outbox and
searches answered from the read cache of spaces used here; replayed in order when Azure answers again, every
acknowledged change is there once."""

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
from tests.conftest import azure_environment, start_test_emulators, unreachable_environment, write_config


@pytest.fixture
def lmspace(tmp_path: Path, monkeypatch, azure_emulators):
    """The CLI on one data directory, online (the emulators) or offline (every endpoint a closed port)."""
    online = azure_environment(azure_emulators)
    offline = unreachable_environment(azure_emulators, online)
    config = write_config(tmp_path)

    def run(*args: str, reachable: bool = True, code: int = 0):
        for name, value in (online if reachable else offline).items():
            monkeypatch.setenv(name, value)
        result = CliRunner().invoke(app, ["--config", str(config), *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code == code, result.output
        return result

    run.online = lambda: Workspace(load_config(config, env=online))
    run.online_elsewhere = lambda: Workspace(load_config(_config_in(tmp_path / "elsewhere"), env=online))
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
    emulators = start_test_emulators(tmp_path / "emulators")  # keeps its data across the outage, as Azure does
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


def _config_in(folder: Path) -> Path:
    """The settings of another machine: its own data directory (so its own outbox and read cache)."""
    folder.mkdir(exist_ok=True)
    return write_config(folder)


def _cli(config: Path, monkeypatch, environment: dict[str, str]):
    """Run `lmspace` commands in-process against `environment` (the emulators' settings, running or stopped)."""

    def run(*args: str, code: int = 0):
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        result = CliRunner().invoke(app, ["--config", str(config), *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code == code, result.output
        return result

    return run


def test_a_used_space_answers_offline_from_its_cache_and_offline_edits_replay(tmp_path: Path, monkeypatch):
    emulators = start_test_emulators(tmp_path / "emulators")
    try:
        environment = azure_environment(emulators)
        # Another machine fills the space: this one has never seen its documents before it searches it.
        elsewhere = Workspace(load_config(_config_in(tmp_path / "elsewhere"), env=environment))
        space = elsewhere.create_space("policies")
        elsewhere.ingest(space, {"leave.md": "# Leave\n\nEmployees get 25 days of paid leave a year.\n",
                                 "travel.md": "# Travel\n\nTrain tickets are booked through the travel desk.\n"})
        lmspace = _cli(write_config(tmp_path), monkeypatch, environment)
        online = json.loads(lmspace("ask", "policies", "How many days of paid leave?", "--json").stdout)
        assert online["citations"][0]["source"] == "leave.md" and online["cached_at"] is None

        emulators.stop()  # Azure is gone
        offline = json.loads(lmspace("ask", "policies", "How many days of paid leave?", "--json").stdout)
        assert offline["citations"][0]["source"] == "leave.md" and "25 days" in offline["text"]
        assert offline["cached_at"] is not None
        assert "offline: answered from the local cache of" in lmspace("ask", "policies", "Who books trains?").output
        lmspace("docs", "delete", "policies", "travel.md", "--yes")
        lmspace("spaces", "edit", "policies", "--instructions", "Answer in one sentence.")
        after = json.loads(lmspace("ask", "policies", "Who books train tickets?", "--json").stdout)
        assert {c["source"] for c in after["citations"]} <= {"leave.md"}  # the deletion shows at once
        pending = json.loads(lmspace("outbox", "status", "--json").stdout)["pending"]
        assert [(p["target"], p["summary"].split(": ", 1)[1]) for p in pending] == [
            ("knowledge", "delete travel.md"), ("blobs", "delete travel.md"),
            ("knowledge", "change instructions of policies")]

        emulators = emulators.restart()
        replayed = json.loads(lmspace("outbox", "replay", "--json").stdout)
        assert (replayed["replayed"], replayed["remaining"]) == (3, 0)
        on_azure = Workspace(load_config(_config_in(tmp_path / "check"), env=environment))
        space = on_azure.space("policies")
        assert [d.source for d in on_azure.documents(space)] == ["leave.md"]
        assert space.instructions == "Answer in one sentence."
        assert [c.kind.value for c in on_azure.store.changes(space.scope)][-1] == "deleted"
        assert {h.document.source for h in on_azure.search(space, "Who books train tickets?")} == {"leave.md"}
        on_azure.close()
        elsewhere.close()
    finally:
        emulators.stop()


def test_a_space_never_used_here_is_offline_and_not_cached(lmspace, tmp_path: Path):
    elsewhere = lmspace.online_elsewhere()
    try:
        elsewhere.ingest(elsewhere.create_space("handbook"), {"a.md": "# A\n\nThe office opens at nine.\n"})
    finally:
        elsewhere.close()
    unknown = lmspace("ask", "handbook", "When does the office open?", reachable=False, code=11)
    assert "offline and not cached" in unknown.output.lower()
    lmspace("spaces", "list")  # now this machine knows the space exists, but has never searched it
    listed = lmspace("ask", "handbook", "When does the office open?", reachable=False, code=11)
    assert "offline and not cached" in listed.output.lower()


def test_a_space_created_and_filled_offline_answers_offline_and_replays(lmspace, tmp_path: Path):
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nThe server room code changes every Monday.\n")
    lmspace("spaces", "list")  # seen online once: offline, a new name is checked against this list
    lmspace("spaces", "create", "ops", reachable=False)
    lmspace("ingest", "ops", str(notes), reachable=False)
    answer = json.loads(lmspace("ask", "ops", "When does the code change?", "--json", reachable=False).stdout)
    assert answer["citations"][0]["source"] == "notes.md" and answer["cached_at"] is not None
    lmspace("spaces", "rename", "ops", "operations", reachable=False)
    assert [s["name"] for s in json.loads(lmspace("spaces", "list", "--json", reachable=False).stdout)] == [
        "operations"]
    assert json.loads(lmspace("outbox", "replay", "--json").stdout)["remaining"] == 0
    workspace = lmspace.online()
    try:
        space = workspace.space("operations")
        assert [d.source for d in workspace.documents(space)] == ["notes.md"]
        assert workspace.search(space, "When does the code change?")[0].document.source == "notes.md"
    finally:
        workspace.close()


def test_changes_made_elsewhere_reach_the_cache_with_the_next_online_search(lmspace, tmp_path: Path):
    elsewhere = lmspace.online_elsewhere()
    try:
        space = elsewhere.create_space("kb")
        elsewhere.ingest(space, {"a.md": "# A\n\nInvoices are paid within 30 days.\n",
                                 "gone.md": "# Gone\n\nParking permits are renewed in March.\n"})
        lmspace("ask", "kb", "When are invoices paid?")  # the first search here copies the space
        elsewhere.ingest(space, {"a.md": "# A\n\nInvoices are paid within 45 days.\n",
                                 "b.md": "# B\n\nExpense reports are due on Fridays.\n"})
        elsewhere.delete_document(space, elsewhere.document(space, "gone.md"))
        lmspace("ask", "kb", "When are invoices paid?")  # the change log since the copy is applied
    finally:
        elsewhere.close()
    replaced = json.loads(lmspace("ask", "kb", "When are invoices paid?", "--json", reachable=False).stdout)
    assert "45 days" in replaced["text"] and "30 days" not in replaced["text"]
    added = json.loads(lmspace("ask", "kb", "When are expense reports due?", "--json", reachable=False).stdout)
    assert added["citations"][0]["source"] == "b.md"
    listed = json.loads(lmspace("docs", "list", "kb", "--json", reachable=False).stdout)
    assert [d["source"] for d in listed] == ["a.md", "b.md"]


def test_a_space_deleted_offline_is_gone_after_the_replay_and_replays_are_idempotent(lmspace, tmp_path: Path):
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nBackups run nightly.\n")
    lmspace("spaces", "create", "old")
    lmspace("ingest", "old", str(notes))
    lmspace("spaces", "list")
    lmspace("spaces", "delete", "old", "--yes", reachable=False)
    assert json.loads(lmspace("spaces", "list", "--json", reachable=False).stdout) == []
    workspace = lmspace.online()
    try:
        outbox = workspace.store.outbox
        # A creation whose answer was lost is replayed again: the space id is fixed, so it is made once.
        args = (workspace.enterprise_id, "again", "", "", workspace.embedder_id(), workspace.embedder.dimension,
                "fixedspaceid0001")
        for _ in range(2):
            outbox.file.queue("knowledge", "create_space", "create space again", args)
        assert [(p.target, p.method) for p in outbox.file.pending()] == [
            ("knowledge", "delete_space"), ("blobs", "delete_space"), ("knowledge", "create_space"),
            ("knowledge", "create_space")]
        assert outbox.replay().remaining == 0
        assert [s.name for s in workspace.list_spaces()] == ["again"]
        assert workspace.space("again").id == "fixedspaceid0001"
        outbox.file.queue("knowledge", "delete_document", "delete gone.md", (workspace.space("again").scope, "nope"))
        assert outbox.replay().remaining == 0  # deleting what is already gone counts as done
    finally:
        workspace.close()
