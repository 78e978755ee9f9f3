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
from tests.conftest import azure_environment, write_config
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
