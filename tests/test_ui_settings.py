"""Settings page: the configuration in effect with secrets masked, service checks on request, broken configs shown."""

from __future__ import annotations

import base64
import json
import uuid
from contextlib import suppress
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from lmspace_core.errors import LMSpaceError
from lmspace_ui.resources import get_workspace
from tests.conftest import APP, write_config

SECRET = "sk-abcdefghijklmnop1234"
UNREACHABLE_MODEL = f"""lm:
  provider: openai
  model: gpt-4o-mini
  api_key: {SECRET}
  api_base: http://127.0.0.1:9
  timeout_s: 2
"""


@pytest.fixture
def configured(tmp_path: Path, monkeypatch):
    """Point the dashboard at an lmspace.yaml with these extra lines; the workspace it builds is closed after."""

    def configure(extra: str) -> None:
        monkeypatch.setenv("LMSPACE_CONFIG", str(write_config(tmp_path, extra)))
        st.cache_resource.clear()

    yield configure
    with suppress(LMSpaceError):  # a malformed configuration builds no workspace
        get_workspace().close()
    st.cache_resource.clear()


def open_settings() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    return at.switch_page("pages/settings.py").run()


def press_check(at: AppTest) -> AppTest:
    next(button for button in at.button if button.label == "Check services").click().run()
    return at


def page_text(at: AppTest) -> str:
    """Everything the page sent to the browser, element by element."""
    return "\n".join(str(node.proto) for node in at.main if node.proto is not None)


def check_rows(at: AppTest) -> dict[str, tuple[str, str]]:
    table = at.dataframe[0].value
    return {row["Service"]: (row["Status"], row["Detail"]) for row in table.to_dict("records")}


def test_settings_renders_the_effective_configuration_and_its_source(app_workspace):
    at = open_settings()
    assert not at.exception
    shown = at.json[0].value
    assert str(app_workspace.settings.data_dir) in shown and '"provider": "none"' in shown
    assert str(app_workspace.settings.source) in at.caption[0].value


def test_the_source_caption_lists_as_winning_only_the_variables_that_are_settings(app_workspace, monkeypatch):
    """LMSPACE_CONFIG names the file: it was listed as a variable 'which wins' over the file it names."""
    monkeypatch.setenv("LMSPACE_RETRIEVAL__TOP_K", "7")
    caption = open_settings().caption[0].value
    assert caption == (f"Read from `{app_workspace.settings.source}` (named by `LMSPACE_CONFIG`) and the variables "
                       "`LMSPACE_RETRIEVAL__TOP_K`, which win. Secrets are masked.")


def test_a_literal_api_key_is_nowhere_in_the_page(configured):
    configured(UNREACHABLE_MODEL)
    at = press_check(open_settings())
    assert not at.exception
    assert json.loads(at.json[0].value)["lm"]["api_key"] == "sk-…1234"
    assert SECRET not in page_text(at)


def test_checks_run_only_when_the_button_is_pressed(app_workspace):
    at = open_settings()
    assert not at.dataframe
    press_check(at)
    rows = check_rows(at)
    assert list(rows) == ["Data directory", "Database", "Embedding model", "Language model", "Store"]
    assert rows["Language model"] == ("works", "not configured (answers are extracted passages)")
    assert "All 5 services work." in at.success[0].value


def test_an_unreachable_model_fails_its_check_with_a_message(configured):
    configured(UNREACHABLE_MODEL)
    at = press_check(open_settings())
    assert not at.exception
    mark, detail = check_rows(at)["Language model"]
    assert mark == "fails" and detail.startswith("OpenAI gpt-4o-mini at http://127.0.0.1:9: ")
    assert "1 of 5 services fail: Language model." in at.error[0].value


def test_a_malformed_config_file_renders_its_error(configured):
    configured("lm: [provider: openai\n")
    at = open_settings()
    assert not at.exception
    assert "The configuration cannot be loaded" in at.error[0].value
    assert "invalid YAML" in at.error[0].value
    assert not at.json and not [button for button in at.button if button.label == "Check services"]
    assert at.tabs, "the guide to fixing the configuration is still shown"


def test_the_guide_shows_yaml_and_variables_for_each_model_provider(app_workspace):
    at = open_settings()
    assert [tab.label for tab in at.tabs] == ["Azure OpenAI", "OpenAI", "Ollama / LiteLLM", "llama.cpp (in process)"]
    azure = "\n".join(code.value for code in at.tabs[0].code)
    assert "provider: azure_openai" in azure and "LMSPACE_LM__AUTH=entra" in azure
    assert "keyvault://<vault-name>/<secret-name>" in azure


def test_azure_keys_are_nowhere_in_the_page_even_when_the_store_refuses_them(configured, azure_emulators):
    wrong_cosmos_key = base64.b64encode(b"not the emulator's key, but a key all the same: 64 bytes long...").decode()
    storage = azure_emulators.storage_connection_string
    configured(f"store:\n  backend: azure\n  azure:\n    cosmos_endpoint: {azure_emulators.cosmos_endpoint}\n"
               f"    cosmos_database: settings{uuid.uuid4().hex[:8]}\n    cosmos_key: {wrong_cosmos_key}\n"
               f'    connection_string: "{storage}"\n')
    at = press_check(open_settings())
    assert not at.exception
    mark, detail = check_rows(at)["Store"]
    assert mark == "fails" and "Cosmos DB refused the credentials (401)" in detail
    shown = page_text(at)
    account_key = storage.split("AccountKey=")[1].split(";")[0]
    assert wrong_cosmos_key not in shown and account_key not in shown and wrong_cosmos_key[10:30] not in shown
    masked = json.loads(at.json[0].value)["store"]["azure"]["cosmos_key"]
    assert masked == f"{wrong_cosmos_key[:3]}…{wrong_cosmos_key[-4:]}"
