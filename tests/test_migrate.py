"""`lmspace migrate`: a space copied embedded -> Azure -> embedded answers the same, keeps its raw files and its
vectors bit for bit, and embeds nothing."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lmspace_core import workspace as workspace_module
from lmspace_core.cli import app
from lmspace_core.config import load_config
from lmspace_core.domain import ChunkDraft, Location, document_id
from lmspace_core.embeddings.base import normalise
from lmspace_core.migrate import migrate_space
from lmspace_core.stores.base import BlobPlacement, DocumentDraft
from lmspace_core.workspace import Workspace
from tests.conftest import azure_environment, unreachable_environment, write_config
from tests.test_cli import LAPTOPS, RETENTION


@pytest.fixture
def lmspace(tmp_path, monkeypatch, azure_emulators):
    """The CLI on an embedded data directory whose lmspace.yaml also names the Azure emulators."""
    for name, value in azure_environment(azure_emulators).items():
        if name != "LMSPACE_STORE__BACKEND":
            monkeypatch.setenv(name, value)
    config = write_config(tmp_path)

    def run(*args: str, backend: str = "embedded", code: int = 0):
        monkeypatch.setenv("LMSPACE_STORE__BACKEND", backend)
        result = CliRunner().invoke(app, ["--config", str(config), *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code == code, result.output
        return result

    return run


def test_a_space_migrates_to_azure_and_back(lmspace, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "retention.md").write_text(RETENTION)
    (folder / "laptops.txt").write_text(LAPTOPS)
    lmspace("spaces", "create", "policies")
    lmspace("ingest", "policies", str(folder))
    to_azure = json.loads(lmspace("migrate", "policies", "--to", "azure", "--json").stdout)
    assert to_azure["verified"] and (to_azure["documents"], to_azure["target_documents"]) == (2, 2)
    answer = json.loads(lmspace("ask", "policies", "How long are invoices kept?", "--json", backend="azure").stdout)
    assert answer["citations"][0]["source"] == "docs/retention.md"
    lmspace("spaces", "delete", "policies", "--yes")  # the embedded original
    back = json.loads(lmspace("migrate", "policies", "--to", "embedded", "--json", backend="azure").stdout)
    assert back["verified"] and back["chunks"] == to_azure["chunks"]
    listed = json.loads(lmspace("docs", "list", "policies", "--json").stdout)
    assert sorted(d["source"] for d in listed) == ["docs/laptops.txt", "docs/retention.md"]


def test_migrating_onto_an_existing_space_is_refused(lmspace):
    lmspace("spaces", "create", "policies")
    lmspace("spaces", "create", "policies", backend="azure")
    result = lmspace("migrate", "policies", "--to", "azure", code=5)
    assert "already exists on azure" in result.output


class CountingEmbedder:
    """An embedder that counts every call: a migration must make none."""

    id = "test/counting"
    dimension = 16

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        return normalise(np.ones((len(texts), self.dimension)))

    def embed_query(self, text):
        self.calls += 1
        return normalise(np.ones(self.dimension))


def test_migration_copies_vectors_and_raw_files_as_stored_and_embeds_nothing(tmp_path, monkeypatch, azure_emulators):
    embedder = CountingEmbedder()
    monkeypatch.setattr(workspace_module, "build_embedder", lambda settings: embedder)
    environment = {name: value for name, value in azure_environment(azure_emulators).items()
                   if name != "LMSPACE_STORE__BACKEND"}
    embedded = Workspace(load_config(write_config(tmp_path), env=environment))
    space = embedded.create_space("policies", "HR rules", "Cite the handbook.")
    rng = np.random.default_rng(5)
    originals = {}
    for index, chunks in enumerate((3, 1, 4)):
        source, data = f"handbook/part-{index}.md", f"# Part {index}\n".encode() * 1000
        vectors = normalise(rng.normal(size=(chunks, 16)))
        texts = tuple(ChunkDraft(f"part {index} chunk {i}", Location(start_line=i + 1)) for i in range(chunks))
        content_hash = hashlib.sha256(data).hexdigest()
        embedded.blobs.put(BlobPlacement(space.scope, document_id(space.id, source), source, content_hash, 2026), data)
        embedded.store.put_documents(space.scope, [DocumentDraft(
            source, f"Part {index}", "text", ("hr",), content_hash, len(data), None, texts, vectors, {"part": index})])
        originals[source] = (vectors, data)

    to_azure = migrate_space(embedded, space, "azure")
    assert to_azure.verified and (to_azure.chunks, to_azure.identical_vectors) == (8, 8)
    embedded.delete_space(space)
    azure = Workspace(load_config(write_config(tmp_path), env={**environment, "LMSPACE_STORE__BACKEND": "azure"}))
    back = migrate_space(azure, azure.space("policies"), "embedded")
    azure.close()
    assert back.verified and back.identical_vectors == 8

    copy = embedded.space("policies")
    assert (copy.description, copy.instructions, copy.embedder_id) == ("HR rules", "Cite the handbook.",
                                                                       "test/counting")
    chunks, vectors = embedded.store.list_chunk_vectors(copy.scope)
    for document in embedded.documents(copy):
        rows = [row for row, chunk in enumerate(chunks) if chunk.document_id == document.id]
        assert np.array_equal(vectors[rows], originals[document.source][0])  # bit for bit, after the round trip
        assert embedded.blobs.get(BlobPlacement.of(document)) == originals[document.source][1]
        assert dict(document.metadata) == {"part": int(document.source[-4])} and document.tags == ("hr",)
    embedded.close()
    assert embedder.calls == 0


def _put(workspace: Workspace, space, source: str, text: str) -> None:
    """Store `text` as one chunk under `source` (a new version when the text differs), as an ingest would."""
    data = text.encode()
    workspace.store.put_documents(space.scope, [DocumentDraft(
        source, source, "text", (), hashlib.sha256(data).hexdigest(), len(data), None, (ChunkDraft(text, Location()),),
        normalise(np.random.default_rng(len(text)).normal(size=(1, 16))))])
    workspace.blobs.put(BlobPlacement(space.scope, document_id(space.id, source), source,
                                      hashlib.sha256(data).hexdigest(), 2026), data)


def _history(workspace: Workspace, space) -> list[tuple]:
    """The change log as migrate must keep it: everything but the sequence numbers and (renamed) document ids."""
    return [(c.source, c.kind.value, c.version, c.content_hash, c.changed_at)
            for c in workspace.store.changes(space.scope)]


def _versions(workspace: Workspace, space) -> dict[str, int]:
    return {document.source: document.version for document in workspace.documents(space)}


@pytest.fixture
def two_backends(tmp_path, monkeypatch, azure_emulators):
    """An embedded and an Azure workspace over one lmspace.yaml, with a space whose history has replacements and a
    deletion: rules.md added and replaced twice (version 3), old.md added then deleted, faq.md added."""
    monkeypatch.setattr(workspace_module, "build_embedder", lambda settings: CountingEmbedder())
    environment = {name: value for name, value in azure_environment(azure_emulators).items()
                   if name != "LMSPACE_STORE__BACKEND"}
    config = write_config(tmp_path)
    embedded = Workspace(load_config(config, env=environment))
    azure = Workspace(load_config(config, env={**environment, "LMSPACE_STORE__BACKEND": "azure"}))
    space = embedded.create_space("policies")
    for source, text in (("rules.md", "Rule one."), ("old.md", "Retired."), ("rules.md", "Rule one, amended."),
                         ("faq.md", "Questions."), ("rules.md", "Rule one, amended twice.")):
        _put(embedded, space, source, text)
    embedded.store.delete_document(space.scope, embedded.store.find_document(space.scope, "old.md").id)
    yield embedded, azure, space
    embedded.close()
    azure.close()


def test_documents_keep_their_versions_and_change_history_both_ways(two_backends):
    embedded, azure, space = two_backends
    versions, history = _versions(embedded, space), _history(embedded, space)
    assert versions == {"faq.md": 1, "rules.md": 3}
    assert [(source, kind, version) for source, kind, version, _, _ in history] == [
        ("rules.md", "added", 1), ("old.md", "added", 1), ("rules.md", "replaced", 2), ("faq.md", "added", 1),
        ("rules.md", "replaced", 3), ("old.md", "deleted", 1)]

    to_azure = migrate_space(embedded, space, "azure")
    assert to_azure.verified and (to_azure.matching_versions, to_azure.changes, to_azure.identical_changes) == (
        2, 6, 6)
    on_azure = azure.space("policies")
    assert (_versions(azure, on_azure), _history(azure, on_azure)) == (versions, history)
    ids = {document.source: document.id for document in azure.documents(on_azure)}
    assert all(change.document_id == ids[change.source]
               for change in azure.store.changes(on_azure.scope) if change.source in ids)

    embedded.delete_space(space)
    back = migrate_space(azure, on_azure, "embedded")
    assert back.verified and back.identical_changes == 6
    returned = embedded.space("policies")
    assert (_versions(embedded, returned), _history(embedded, returned)) == (versions, history)


def test_a_migrated_document_replaced_continues_its_numbering(two_backends):
    embedded, azure, space = two_backends
    migrate_space(embedded, space, "azure")
    on_azure = azure.space("policies")
    _put(azure, on_azure, "rules.md", "Rule one, amended a third time.")
    embedded.delete_space(space)
    migrate_space(azure, on_azure, "embedded")
    returned = embedded.space("policies")
    _put(embedded, returned, "rules.md", "Rule one, amended a fourth time.")
    for workspace, copy, version, text in ((azure, on_azure, 4, "third"), (embedded, returned, 5, "fourth")):
        assert _versions(workspace, copy)["rules.md"] == version
        last = workspace.store.changes(copy.scope)[-1]
        assert (last.source, last.kind.value, last.version) == ("rules.md", "replaced", version)
        rules = workspace.store.find_document(copy.scope, "rules.md")
        [hit] = workspace.store.search(copy.scope, workspace.store.list_chunk_vectors(copy.scope, rules.id)[1][0], 1)
        assert (hit.document.version, hit.chunk.text) == (version, f"Rule one, amended a {text} time.")


def test_sync_plan_on_a_copy_starts_from_the_copied_history(two_backends):
    from lmspace_core.sync.manager import SyncManager

    embedded, azure, space = two_backends
    migrate_space(embedded, space, "azure")
    manager = SyncManager(azure)
    try:
        delta = manager.plan("policies")
    finally:
        manager.close()
    assert [(item.source, item.change.value, item.version) for item in delta.items] == [
        ("faq.md", "added", 1), ("rules.md", "added", 3)]  # old.md came and went: nothing to learn


def test_migrating_to_azure_while_it_is_unreachable_fails_and_leaves_nothing(tmp_path, monkeypatch, azure_emulators):
    online = {name: value for name, value in azure_environment(azure_emulators).items()
              if name != "LMSPACE_STORE__BACKEND"}
    offline = unreachable_environment(azure_emulators, online)
    config = write_config(tmp_path)

    def run(*args: str, backend: str = "embedded", reachable: bool = True, code: int = 0):
        for name, value in {**(online if reachable else offline), "LMSPACE_STORE__BACKEND": backend}.items():
            monkeypatch.setenv(name, value)
        result = CliRunner().invoke(app, ["--config", str(config), *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code == code, result.output
        return result

    (tmp_path / "rules.md").write_text("# Rules\n\nInvoices are kept for ten years.\n")
    run("spaces", "create", "policies")
    run("ingest", "policies", str(tmp_path / "rules.md"))
    assert "Cannot reach" in run("migrate", "policies", "--to", "azure", reachable=False, code=11).output
    run("docs", "list", "policies", backend="azure", code=4)  # remembered here: Azure has no such space
    # Now the space's creation is queued offline, but the copy itself cannot be: the migration fails and queues
    # the copy's removal behind its creation.
    assert "Cannot reach" in run("migrate", "policies", "--to", "azure", reachable=False, code=11).output
    replayed = json.loads(run("outbox", "replay", "--json", backend="azure").stdout)
    assert (replayed["remaining"], replayed["set_aside"]) == (0, 0)
    assert json.loads(run("spaces", "list", "--json", backend="azure").stdout) == []
    assert json.loads(run("migrate", "policies", "--to", "azure", "--json").stdout)["verified"]
