"""Raw files: one per document, named after it (on Azure: `{enterprise}/docs/{yyyy}/{document}/{name}` and
`{enterprise}/code/{space}/{codebase}/{path}`, with content type and labels), uploaded once per content hash, large
ones in blocks, gone with their document or space; blobs of the old content-addressed layout stay readable and
`lmspace doctor` moves them."""

from __future__ import annotations

import getpass
import gzip
import hashlib
from datetime import UTC, datetime

import numpy as np
import pytest
from azure.storage.blob import BlobServiceClient

from lmspace_core.doctor import examine
from lmspace_core.domain import ChunkDraft, Location, document_id
from lmspace_core.errors import NotFoundError
from lmspace_core.stores.base import BlobPlacement, DocumentDraft

YEAR = datetime.now(UTC).year
NOTE = "# Visitors\n\nVisitors sign in at the front desk and wear a badge at all times.\n"
CODE = {"pyproject.toml": "[project]\nname = 'app'\n", "src/app.py": "def main():\n    return 42\n"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def container(workspace, azure_emulators):
    """The blob container as the official SDK sees it (not through LMSpace)."""
    azure = workspace.settings.store.azure
    service = BlobServiceClient.from_connection_string(azure_emulators.storage_connection_string)
    return service.get_container_client(azure.blob_container)


def blobs_of(container) -> dict[str, object]:
    return {blob.name: blob for blob in container.list_blobs(include=["metadata"])}


def seeded(workspace, space, source: str, data: bytes, codebase: str | None = None):
    """A document and its raw file written the way an ingest writes them, without the embedding model."""
    placement = BlobPlacement(space.scope, document_id(space.id, source), source, sha(data), YEAR, codebase, "ann")
    workspace.blobs.put(placement, data)
    vector = np.full((1, 384), 384**-0.5, dtype=np.float32)
    draft = DocumentDraft(source, source, "text", (), sha(data), len(data), codebase,
                          (ChunkDraft(data.decode(), Location(start_line=1)),), vector)
    [stored] = workspace.store.put_documents(space.scope, [draft])
    return stored.document


@pytest.mark.parametrize("backend", ["azure"])
def test_ingested_files_are_named_typed_and_labelled_as_designed(workspace, container, tmp_path, backend):
    space = workspace.create_space("handbook")
    (tmp_path / "visitors.md").write_text(NOTE)
    workspace.ingest(space, [tmp_path / "visitors.md", CODE])
    note = workspace.document(space, "visitors.md")
    app = workspace.document(space, "codebase/src/app.py")
    held = blobs_of(container)
    assert sorted(held) == sorted([
        f"default/docs/{YEAR}/{note.id}/visitors.md",
        f"default/code/{space.id}/codebase/pyproject.toml",
        f"default/code/{space.id}/codebase/src/app.py",
    ])
    blob = container.get_blob_client(f"default/docs/{YEAR}/{note.id}/visitors.md").get_blob_properties()
    assert blob.content_settings.content_type == "text/markdown"
    assert blob.metadata == {"content_hash": note.content_hash, "space_id": space.id, "document_id": note.id,
                             "uploader": getpass.getuser()}
    code = held[f"default/code/{space.id}/codebase/src/app.py"]
    assert code.metadata["document_id"] == app.id and code.metadata["content_hash"] == app.content_hash
    assert container.get_blob_client(code.name).get_blob_properties().content_settings.content_type == "text/x-python"
    assert workspace.blobs.get(BlobPlacement.of(app)) == CODE["src/app.py"].encode()


@pytest.mark.parametrize("backend", ["azure"])
def test_the_same_content_is_uploaded_once_and_new_content_replaces_it(workspace, container, backend):
    space = workspace.create_space("s")
    placement = BlobPlacement(space.scope, "d1", "notes/a.txt", sha(b"one"), YEAR, uploader="ann")
    workspace.blobs.put(placement, b"one")
    name = f"default/docs/{YEAR}/d1/a.txt"
    etag = container.get_blob_client(name).get_blob_properties().etag
    workspace.blobs.put(placement, b"one")
    assert container.get_blob_client(name).get_blob_properties().etag == etag  # nothing was sent
    newer = BlobPlacement(space.scope, "d1", "notes/a.txt", sha(b"two"), YEAR, uploader="ann")
    workspace.blobs.put(newer, b"two")
    workspace.blobs.delete(placement)  # the replaced version's file: the newer content under that name stays
    assert container.download_blob(name).readall() == b"two"
    workspace.blobs.delete(newer)
    assert blobs_of(container) == {}


@pytest.mark.parametrize("backend", ["azure"])
def test_a_large_file_is_streamed_up_in_blocks_with_its_labels(workspace, container, backend):
    space = workspace.create_space("s")
    data = bytes(range(256)) * (9 * 1024 * 1024 // 256)  # 9 MiB: three blocks
    placement = BlobPlacement(space.scope, "d1", "big.pdf", sha(data), YEAR, uploader="ann")
    pieces = (data[i:i + 1_000_000] for i in range(0, len(data), 1_000_000))  # a stream, never whole
    workspace.blobs.put(placement, pieces)
    blob = container.get_blob_client(f"default/docs/{YEAR}/d1/big.pdf")
    assert [block.size for block in blob.get_block_list()[0]] == [4 * 1024 * 1024, 4 * 1024 * 1024, 1024 * 1024]
    properties = blob.get_blob_properties()
    assert properties.content_settings.content_type == "application/pdf"
    assert properties.metadata["content_hash"] == sha(data)
    assert b"".join(workspace.blobs.stream(placement)) == data


@pytest.mark.parametrize("backend", ["azure"])
def test_a_compressed_file_keeps_its_type_and_says_how_it_is_encoded(workspace, container, backend):
    space = workspace.create_space("s")
    data = gzip.compress(b"# Changes\n")
    workspace.blobs.put(BlobPlacement(space.scope, "d1", "doc/changelog.md.gz", sha(data), YEAR), data)
    settings = container.get_blob_client(f"default/docs/{YEAR}/d1/changelog.md.gz").get_blob_properties().content_settings
    assert (settings.content_type, settings.content_encoding) == ("text/markdown", "gzip")


def test_deleting_a_document_or_a_space_deletes_its_raw_files(workspace, backend):
    space, other = workspace.create_space("s"), workspace.create_space("other")
    note = seeded(workspace, space, "note.txt", b"Note.")
    code = seeded(workspace, space, "repo/a.py", b"x = 1\n", codebase="repo")
    kept = seeded(workspace, other, "note.txt", b"Note.")
    workspace.delete_document(space, note)
    with pytest.raises(NotFoundError, match="note.txt"):
        workspace.blobs.get(BlobPlacement.of(note))
    assert workspace.blobs.get(BlobPlacement.of(code)) == b"x = 1\n"
    workspace.delete_space(space)
    assert [blob.name for blob in workspace.blobs.inventory()] and all(
        blob.scope == other.scope for blob in workspace.blobs.inventory())
    assert workspace.blobs.get(BlobPlacement.of(kept)) == b"Note."


def write_legacy(workspace, space, container, data: bytes) -> None:
    """A raw file as the content-addressed layout stored it."""
    content_hash = sha(data)
    if workspace.settings.store.backend == "azure":
        container.upload_blob(f"default/spaces/{space.id}/{content_hash[:2]}/{content_hash}", data,
                              metadata={"content_hash": content_hash, "space_id": space.id})
    else:
        path = workspace.settings.data_dir / "blobs" / "default" / space.id / content_hash[:2] / content_hash
        path.parent.mkdir(parents=True)
        path.write_bytes(data)


@pytest.fixture
def legacy_container(workspace, request):
    return request.getfixturevalue("container") if workspace.settings.store.backend == "azure" else None


def test_old_layout_files_are_read_and_the_doctor_moves_them(workspace, legacy_container, backend):
    space = workspace.create_space("s")
    first, second = seeded(workspace, space, "a.txt", b"Shared."), seeded(workspace, space, "b.txt", b"Shared.")
    for document in (first, second):
        workspace.blobs.remove(next(b for b in workspace.blobs.inventory() if b.document_id == document.id))
    write_legacy(workspace, space, legacy_container, b"Shared.")
    assert workspace.blobs.get(BlobPlacement.of(first)) == b"Shared."  # read falls back to the old name
    report = examine(workspace.settings, grace_seconds=0)
    assert report.ok
    [moved] = report.fixed
    assert moved.startswith("moved ") and moved.endswith("to the raw-file name of a.txt, b.txt")
    assert sorted((blob.document_id, blob.content_hash) for blob in workspace.blobs.inventory()) == sorted(
        [(first.id, sha(b"Shared.")), (second.id, sha(b"Shared."))])
    assert examine(workspace.settings, grace_seconds=0).fixed == ()
