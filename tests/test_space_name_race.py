"""Space names are unique per enterprise ignoring case, and the store holds that rule itself: a check before the
insert cannot see a create that races it, so two processes creating "Docs" and "docs" at once must not both win."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from lmspace_core.config import load_config
from lmspace_core.errors import AlreadyExistsError
from lmspace_core.stores.local import migrations
from lmspace_core.stores.local.database import Database
from lmspace_core.stores.local.sqlite_store import LocalKnowledgeStore
from lmspace_core.workspace import Workspace
from tests.conftest import write_config

ROUNDS = 5


def test_the_store_refuses_a_name_differing_only_by_case_from_a_racing_create(workspace, backend):
    """Both threads pass any check made before their insert; only the store can refuse one of them."""
    for round_number in range(ROUNDS):
        barrier, outcomes = threading.Barrier(2), []

        def create(name: str) -> None:
            barrier.wait()
            try:
                workspace.store.create_space(workspace.enterprise_id, name, "", "", "test-embedder", 384)
                outcomes.append("created")
            except AlreadyExistsError as error:
                outcomes.append(str(error))

        threads = [threading.Thread(target=create, args=(name,)) for name in (f"Docs {round_number}",
                                                                                f"docs {round_number}")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        refused = [outcome for outcome in outcomes if outcome != "created"]
        assert outcomes.count("created") == 1 and len(refused) == 1, outcomes
        assert "already exists" in refused[0] and "ignoring case" in refused[0]
    names = [space.name.casefold() for space in workspace.list_spaces()]
    assert sorted(names) == [f"docs {n}" for n in range(ROUNDS)]


def test_renaming_into_another_spaces_name_in_another_case_is_refused_by_the_store(workspace, backend):
    from lmspace_core.stores.base import SpaceEdit

    workspace.store.create_space(workspace.enterprise_id, "Debian Docs", "", "", "test-embedder", 384)
    python = workspace.store.create_space(workspace.enterprise_id, "python docs", "", "", "test-embedder", 384)
    with pytest.raises(AlreadyExistsError, match="'Debian Docs' already exists .*ignoring case"):
        workspace.store.update_space(python.scope, SpaceEdit(name="DEBIAN DOCS"))
    assert workspace.store.update_space(python.scope, SpaceEdit(name="Python Docs")).name == "Python Docs"
    assert workspace.store.find_space(workspace.enterprise_id, "Python Docs").id == python.id
    assert workspace.store.find_space(workspace.enterprise_id, "python docs") is None  # lookups stay exact
    workspace.store.delete_space(python.scope)
    assert workspace.store.create_space(workspace.enterprise_id, "PYTHON DOCS", "", "", "test-embedder", 384)


def _create_at_once(config: str, name: str, barrier, results) -> None:
    """Runs in a child process: open the data directory and create `name` at the same moment as the other child."""
    workspace = Workspace(load_config(Path(config), env={}))
    barrier.wait()
    try:
        workspace.create_space(name)
        results.put("created")
    except AlreadyExistsError as error:
        results.put(str(error))
    finally:
        workspace.close()


def test_two_processes_creating_docs_and_docs_in_another_case_leave_one_space(tmp_path: Path):
    config = write_config(tmp_path)
    Workspace(load_config(config, env={})).close()  # the data directory exists before the race
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    children = [context.Process(target=_create_at_once, args=(str(config), name, barrier, results))
                for name in ("Docs", "docs")]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    outcomes = sorted(results.get(timeout=5) for _ in children)
    assert [child.exitcode for child in children] == [0, 0]
    assert outcomes[-1] == "created" and "already exists" in outcomes[0], outcomes
    workspace = Workspace(load_config(config, env={}))
    try:
        assert [space.name.casefold() for space in workspace.list_spaces()] == ["docs"]
    finally:
        workspace.close()


def test_spaces_that_already_clash_by_case_survive_the_upgrade_and_no_new_clash_is_let_in(tmp_path: Path, monkeypatch):
    with monkeypatch.context() as schema_8:  # a database written before the rule was held by the database
        schema_8.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:8])
        store = LocalKnowledgeStore(Database(tmp_path / "lmspace.db"), tmp_path)
        older = store.create_space("acme", "Docs", "", "", "test-embedder", 8)
        newer = store.create_space("acme", "docs", "", "", "test-embedder", 8)
        store.close()
    store = LocalKnowledgeStore(Database(tmp_path / "lmspace.db"), tmp_path)
    with sqlite3.connect(tmp_path / "lmspace.db") as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(migrations.MIGRATIONS)

    from lmspace_core.stores.base import SpaceEdit

    assert sorted(space.name for space in store.list_spaces("acme")) == ["Docs", "docs"]
    with pytest.raises(AlreadyExistsError, match="ignoring case"):
        store.create_space("acme", "DOCS", "", "", "test-embedder", 8)
    with pytest.raises(AlreadyExistsError, match="'Docs' already exists"):
        store.update_space(newer.scope, SpaceEdit(name="dOCS"))  # a rename is checked like a new name
    assert store.update_space(newer.scope, SpaceEdit(name="docs-2")).name == "docs-2"
    store.delete_space(older.scope)
    assert store.create_space("acme", "DOCS", "", "", "test-embedder", 8).name == "DOCS"
    store.close()


@pytest.mark.parametrize("backend", ["azure"])  # claims are the Cosmos DB store's
def test_an_azure_space_created_before_claims_were_lower_case_is_found_renamed_and_deleted(workspace, backend):
    from lmspace_core.stores.base import SpaceEdit

    store = workspace.store
    space = store.create_space(workspace.enterprise_id, "Docs", "", "", "test-embedder", 384)
    spaces = store._spaces()
    item = spaces.read_item(space.id, partition_key=workspace.enterprise_id)
    legacy = {key: value for key, value in item.items() if key != "name_claim" and not key.startswith("_")}
    claim = spaces.read_item("name:docs", partition_key=workspace.enterprise_id)
    spaces.delete_item("name:docs", partition_key=workspace.enterprise_id)
    spaces.create_item({**{k: v for k, v in claim.items() if not k.startswith("_")}, "id": "name:Docs"})
    spaces.replace_item(space.id, legacy)  # as an older LMSpace wrote it: a claim with the name as written

    assert store.find_space(workspace.enterprise_id, "Docs").id == space.id
    with pytest.raises(AlreadyExistsError, match="'Docs' already exists"):
        store.create_space(workspace.enterprise_id, "Docs", "", "", "test-embedder", 384)
    assert store.update_space(space.scope, SpaceEdit(name="DOCS")).name == "DOCS"
    assert store.find_space(workspace.enterprise_id, "DOCS").id == space.id
    store.delete_space(space.scope)
    assert store.list_spaces(workspace.enterprise_id) == []
    assert store.create_space(workspace.enterprise_id, "docs", "", "", "test-embedder", 384).name == "docs"
