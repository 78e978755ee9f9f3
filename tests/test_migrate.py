"""`lmspace migrate`: a space copied embedded -> Azure -> embedded answers the same and keeps its raw files."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lmspace_core.cli import app
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
