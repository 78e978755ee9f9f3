"""Service checks: one result per service, a failure described in words and never raised."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dspy.utils import DummyLM

from lmspace_core.config import load_config
from lmspace_core.diagnostics import (
    check_data_dir,
    check_database,
    check_embedder,
    check_language_model,
    check_services,
    check_store,
)
from lmspace_core.stores.local.migrations import MIGRATIONS
from lmspace_core.workspace import Workspace
from tests.conftest import azure_environment, write_config

REPO = Path(__file__).resolve().parent.parent
UNREACHABLE_MODEL = """lm:
  provider: openai
  model: gpt-4o-mini
  api_key: sk-abcdefghijklmnop1234
  api_base: http://127.0.0.1:9
  timeout_s: 2
"""


def workspace_with(tmp_path: Path, extra: str) -> Workspace:
    return Workspace(load_config(write_config(tmp_path, extra), env={}))


def test_a_fresh_workspace_without_a_model_passes_every_check(workspace):
    checks = check_services(workspace)
    assert [check.name for check in checks] == ["Data directory", "Database", "Embedding model", "Language model",
                                                "Store"]
    assert all(check.ok for check in checks), checks
    assert checks[3].detail == "not configured (answers are extracted passages)"


def test_the_database_check_reports_the_schema_version_and_spaces(workspace):
    workspace.create_space("policies")
    check = check_database(workspace.settings)
    assert check.ok
    assert f"schema version {len(MIGRATIONS)} of {len(MIGRATIONS)}, 1 spaces" in check.detail


def test_a_data_directory_that_is_a_file_fails_its_check(tmp_path):
    blocker = tmp_path / "home"
    blocker.write_text("not a directory")
    check = check_data_dir(load_config(write_config(tmp_path), env={}))
    assert not check.ok
    assert str(blocker) in check.detail and "not writable" in check.detail


def test_a_missing_database_fails_its_check(settings):
    check = check_database(settings)
    assert not check.ok
    assert "does not exist yet" in check.detail


def test_the_embedding_model_files_are_found_without_importing_torch():
    script = (
        "import sys\n"
        "from lmspace_core.config import load_config\n"
        "from lmspace_core.diagnostics import check_embedder\n"
        "from lmspace_core.workspace import Workspace\n"
        "import tempfile, pathlib\n"
        "home = pathlib.Path(tempfile.mkdtemp())\n"
        "(home / 'c.yaml').write_text(f'data_dir: {home}')\n"
        "check = check_embedder(Workspace(load_config(home / 'c.yaml', env={})))\n"
        "assert check.ok, check\n"
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules\n"
        "print(check.detail)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "model files present" in run.stdout


def test_encoding_a_sentence_checks_the_loaded_embedding_model(workspace):
    check = check_embedder(workspace, encode=True)
    assert check.ok
    assert "encoded one sentence" in check.detail and "384 dims" in check.detail


def test_an_unreachable_model_fails_with_its_message(tmp_path):
    workspace = workspace_with(tmp_path, UNREACHABLE_MODEL)
    try:
        check = check_language_model(workspace)
    finally:
        workspace.close()
    assert not check.ok
    assert check.detail.startswith("OpenAI gpt-4o-mini at http://127.0.0.1:9: ")
    assert "connect" in check.detail.lower()


def test_a_model_whose_secret_cannot_be_resolved_fails_with_its_message(tmp_path, monkeypatch):
    monkeypatch.delenv("LMSPACE_TEST_NO_SUCH_KEY", raising=False)
    workspace = workspace_with(
        tmp_path, "lm:\n  provider: openai\n  model: gpt-4o-mini\n  api_key: env:LMSPACE_TEST_NO_SUCH_KEY\n"
    )
    try:
        check = check_language_model(workspace)
    finally:
        workspace.close()
    assert not check.ok
    assert "LMSPACE_TEST_NO_SUCH_KEY is not set" in check.detail


def test_a_model_that_replies_passes_its_check(workspace):
    workspace.use_lm(DummyLM([{"answer": "OK"}]))
    check = check_language_model(workspace)
    assert check.ok
    assert "replied" in check.detail


def test_the_azure_store_check_asks_each_service(tmp_path, azure_emulators):
    check = check_store(load_config(write_config(tmp_path), env=azure_environment(azure_emulators)))
    assert check.ok, check.detail
    assert check.detail.startswith(f"azure: Cosmos DB {azure_emulators.cosmos_endpoint}")
    assert azure_emulators.cosmos_key not in check.detail


def test_an_unreachable_azure_store_fails_its_check_with_a_message(tmp_path):
    settings = load_config(
        write_config(
            tmp_path,
            "store:\n  backend: azure\n  azure:\n    cosmos_endpoint: https://127.0.0.1:9/\n"
            "    cosmos_key: C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nzwJ+Ws9agLs4YHH0XLlZIr6EbJ8bMFQD3PmAPlFwg==\n"
            "    blob_account_url: https://127.0.0.1:9/a\n    table_account_url: https://127.0.0.1:9/a\n",
        ),
        env={},
    )
    check = check_store(settings)
    assert not check.ok
    assert check.detail == "azure: Cannot reach Cosmos DB: check the store.azure endpoints and the network, then try again."
