"""The configured ingest limits reach every path that reads a user's files: ingest, research and Word documents."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
import pytest

from lmspace_core.agents.research.researcher import CodebaseResearcher, plan_research
from lmspace_core.config import load_config
from lmspace_core.domain import Outcome
from lmspace_core.errors import IngestError
from lmspace_core.workspace import Workspace
from tests.conftest import write_config

CODE = {"app.py": "def main():\n    return 1\n", "util.py": "X = 1\n", "cli.py": "print(1)\n"}


@pytest.fixture
def strict(tmp_path: Path):
    """A workspace whose limits are far below the defaults: 2 archive entries, 1 MB per file."""
    settings = load_config(write_config(tmp_path, "ingest:\n  max_zip_entries: 2\n  max_file_mb: 1\n"), env={})
    opened = Workspace(settings)
    yield opened
    opened.close()


def code_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in CODE.items():
            archive.writestr(name, content)
    return path


def word_document() -> bytes:
    document = docx.Document()
    document.add_heading("Travel policy", 1)
    document.add_paragraph("Book trains rather than flights for trips under four hours.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_workspace_limits_come_from_the_settings(strict):
    limits = strict.ingest_limits()
    assert (limits.max_zip_entries, limits.max_file_bytes) == (2, 1024 * 1024)


def test_a_word_document_is_held_to_the_configured_archive_limits(strict, tmp_path: Path):
    path = tmp_path / "travel.docx"
    path.write_bytes(word_document())
    assert len(zipfile.ZipFile(path).infolist()) > 2
    report = strict.ingest(strict.create_space("docs"), path)
    [outcome] = report.files
    assert outcome.outcome is Outcome.FAILED and "max_zip_entries" in outcome.reason


def test_research_on_a_zip_is_held_to_the_configured_limits(strict, tmp_path: Path):
    with pytest.raises(IngestError, match=r"3 entries, over the limit of 2"):
        CodebaseResearcher(strict).codebase(code_zip(tmp_path / "repo.zip"))


def test_research_on_an_uploaded_zip_is_held_to_the_configured_limits(strict, tmp_path: Path):
    archive = code_zip(tmp_path / "repo.zip")
    with pytest.raises(IngestError, match=r"over the limit of 2"):
        plan_research(strict, "find every print call", archive=("repo.zip", archive.read_bytes()))


def test_research_on_a_folder_is_held_to_the_configured_file_size(strict, tmp_path: Path):
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "big.py").write_text("X = 1\n" * 200_000)
    codebase, _ = CodebaseResearcher(strict).codebase(folder)
    with pytest.raises(IngestError, match=r"over the 1 MB limit per file"):
        codebase.read("repo/big.py")
