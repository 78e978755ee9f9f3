"""Ingesting through the workspace with the real embedding model: idempotence, replacement, failures, codebases."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from lmspace_core.domain import Outcome, SearchFilter
from lmspace_core.errors import EmbedderMismatchError, NotFoundError
from lmspace_core.stores.base import BlobPlacement


def test_calls_without_a_space_use_the_default_space_created_on_first_use(workspace):
    assert workspace.list_spaces() == []
    space = workspace.space()
    assert space.name == workspace.settings.default_space
    assert workspace.space().id == space.id


def test_unknown_space_error_says_how_to_create_it(workspace):
    with pytest.raises(NotFoundError, match="lmspace spaces create 'nope'"):
        workspace.space("nope")


def test_reingesting_an_unchanged_file_adds_nothing(workspace, tmp_path: Path):
    space = workspace.create_space("docs")
    note = tmp_path / "note.md"
    note.write_text("# Retention\n\nInvoices are kept for seven years in the archive.\n")
    first = workspace.ingest(space, note)
    second = workspace.ingest(space, note)
    assert [f.outcome for f in first.files] == [Outcome.ADDED]
    assert [f.outcome for f in second.files] == [Outcome.UNCHANGED]
    assert workspace.space_stats(space).chunks == first.files[0].chunks
    assert len(workspace.store.changes(space.scope)) == 1


def test_reingesting_a_changed_file_replaces_its_chunks(workspace, tmp_path: Path):
    space = workspace.create_space("docs")
    note = tmp_path / "note.md"
    note.write_text("# Retention\n\nInvoices are kept for seven years.\n")
    workspace.ingest(space, note)
    note.write_text("# Retention\n\nInvoices are kept for ten years after the audit.\n")
    report = workspace.ingest(space, note)
    [document] = workspace.documents(space)
    assert report.files[0].outcome is Outcome.REPLACED
    assert document.version == 2
    assert all("ten years" in c.text for c in workspace.chunks(space, document))
    assert "ten years" in workspace.search(space, "how long are invoices kept")[0].chunk.text


def test_a_failed_file_in_a_folder_is_reported_and_the_others_are_stored(workspace, tmp_path: Path):
    folder = tmp_path / "handbook"
    folder.mkdir()
    (folder / "good.md").write_text("# Leave\n\nEmployees get 25 days of paid leave per year.\n")
    (folder / "empty.txt").write_text("")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (folder / "also-good.txt").write_text("Parking permits are issued by the facilities team on request.\n")
    space = workspace.create_space("hr")
    report = workspace.ingest(space, folder)
    outcomes = {f.source: f.outcome for f in report.files}
    assert outcomes == {
        "handbook/also-good.txt": Outcome.ADDED,
        "handbook/broken.pdf": Outcome.FAILED,
        "handbook/empty.txt": Outcome.FAILED,
        "handbook/good.md": Outcome.ADDED,
    }
    assert all(f.reason for f in report.failed)
    assert {d.source for d in workspace.documents(space)} == {"handbook/good.md", "handbook/also-good.txt"}


def test_a_zip_codebase_keeps_relative_paths_and_line_numbers(workspace, tmp_path: Path):
    archive = tmp_path / "shop.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("pyproject.toml", "[project]\nname = 'shop'\n")
        zipped.writestr("shop/cart.py", "import math\n\n\ndef total(items):\n    return sum(i.price for i in items)\n")
    space = workspace.create_space("code")
    workspace.ingest(space, archive)
    documents = {d.source: d for d in workspace.documents(space)}
    assert set(documents) == {"shop/pyproject.toml", "shop/shop/cart.py"}
    assert {d.codebase for d in documents.values()} == {"shop"}
    [hit] = workspace.search(space, "sum of item prices", k=1, search_filter=SearchFilter(doc_types=("code",)))
    assert hit.document.source == "shop/shop/cart.py"
    assert hit.chunk.location.start_line is not None and "def total" in hit.chunk.text


def test_a_zip_with_parent_paths_is_refused_and_nothing_is_stored(workspace, tmp_path: Path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("ok.md", "# fine\n\nharmless text here.\n")
        zipped.writestr("../../escape.md", "# gotcha\n\nthis must never land.\n")
    space = workspace.create_space("code")
    report = workspace.ingest(space, archive)
    assert [f.outcome for f in report.files] == [Outcome.FAILED]
    assert "../../escape.md" in report.files[0].reason
    assert workspace.documents(space) == []
    assert not (tmp_path.parent / "escape.md").exists()


def test_a_mapping_of_code_ingests_as_a_codebase(workspace):
    space = workspace.create_space("snippets")
    report = workspace.ingest(space, {"app/main.py": "def main():\n    print('hi')\n", "app/util.py": "X = 1\n"})
    assert [f.outcome for f in report.files] == [Outcome.ADDED, Outcome.ADDED]
    assert {d.source for d in workspace.documents(space)} == {"codebase/app/main.py", "codebase/app/util.py"}


def test_pasted_text_is_a_document(workspace):
    space = workspace.create_space("notes")
    workspace.ingest_text(space, "standup", "The release train leaves every second Thursday at noon.", tags=["eng"])
    [document] = workspace.documents(space, SearchFilter(tags=("eng",)))
    assert document.source == "standup.md"


def test_deleting_a_document_removes_its_stored_file(workspace, tmp_path: Path):
    space = workspace.create_space("docs")
    note = tmp_path / "note.txt"
    note.write_text("The cafeteria opens at half past seven every weekday morning.")
    workspace.ingest(space, note)
    [document] = workspace.documents(space)
    workspace.delete_document(space, document)
    assert workspace.documents(space) == []
    with pytest.raises(NotFoundError):
        workspace.blobs.get(BlobPlacement.of(document))


def test_deleting_a_space_removes_its_files(workspace, tmp_path: Path):
    space = workspace.create_space("docs")
    note = tmp_path / "note.txt"
    note.write_text("Visitors sign in at the front desk and wear a badge at all times.")
    workspace.ingest(space, note)
    workspace.delete_space(space)
    data_dir = workspace.settings.data_dir
    assert list((data_dir / "blobs").rglob("*")) == [data_dir / "blobs" / "default"]
    assert list((data_dir / "vectors").rglob("*.f32")) == []


def test_a_space_built_with_another_embedder_is_refused_until_reembedded(workspace, tmp_path: Path):
    space = workspace.store.create_space("default", "old", "", "", "some/other-model", 384)
    with pytest.raises(EmbedderMismatchError, match="lmspace spaces reembed old"):
        workspace.search(space, "anything")
    note = tmp_path / "note.txt"
    note.write_text("Badges are renewed every January by the security office.")
    with pytest.raises(EmbedderMismatchError):
        workspace.ingest(space, note)
    workspace.reembed_space(space)
    space = workspace.space("old")
    workspace.ingest(space, note)
    assert workspace.search(space, "when are badges renewed")[0].document.source == "note.txt"


def test_a_folder_reports_its_files_of_unsupported_types_as_skipped(workspace, tmp_path: Path):
    folder = tmp_path / "bash"
    folder.mkdir()
    (folder / "RBASH").write_text("The restricted shell refuses to change directories with cd.\n")
    (folder / "inputrc.arrows").write_text('"\\e[A": history-search-backward\n')
    report = workspace.ingest(workspace.create_space("docs"), [folder])
    outcomes = {f.source: (f.outcome, f.reason) for f in report.files}
    assert outcomes["bash/RBASH"][0] is Outcome.ADDED
    assert outcomes["bash/inputrc.arrows"] == (
        Outcome.SKIPPED, "skipped: LMSpace does not read '.arrows' files (`lmspace ingest --help` lists the types it "
                         "reads)")


def test_a_folder_of_only_unsupported_files_fails_naming_them(workspace, tmp_path: Path):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "logo.png").write_bytes(b"\x89PNG")
    [outcome] = workspace.ingest(workspace.create_space("docs"), [folder]).files
    assert (outcome.source, outcome.outcome) == ("images", Outcome.FAILED)
    assert "has no files of a supported type (it holds 1 file LMSpace does not read: logo.png" in outcome.reason


def test_a_zip_keeps_its_folder_name_beside_a_file_of_an_unsupported_type(workspace, tmp_path: Path):
    with zipfile.ZipFile(tmp_path / "service.zip", "w") as archive:
        archive.writestr("service/app.py", "def run():\n    return 1\n")
        archive.writestr("logo.png", b"\x89PNG")
    report = workspace.ingest(workspace.create_space("code"), [tmp_path / "service.zip"])
    assert {f.source: f.outcome for f in report.files} == {"service/app.py": Outcome.ADDED,
                                                          "logo.png": Outcome.SKIPPED}
