"""How lmspace.yaml and LMSPACE_* variables become settings, and what a user reads when they are wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmspace_core.config import SecretRef, Settings, load_config, prepare_runtime_environment
from lmspace_core.errors import ConfigError
from lmspace_core.plugins import check_settings

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lmspace.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(path: Path | None = None, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return str(info.value)


def test_without_a_file_the_defaults_apply(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_config(env={})
    assert settings.source == "defaults"
    assert settings.store.backend == "embedded"
    assert settings.embedder.provider == "onnx_int8"
    assert settings.lm.provider == "none"
    assert settings.retrieval.top_k == 5
    assert settings.data_dir == Path.home() / ".lmspace"


def test_lmspace_yaml_in_the_current_folder_is_read(tmp_path, monkeypatch):
    write(tmp_path, "retrieval:\n  top_k: 7\n")
    monkeypatch.chdir(tmp_path)
    settings = load_config(env={})
    assert settings.retrieval.top_k == 7
    assert settings.source == "lmspace.yaml"


def test_lmspace_config_variable_names_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text("enterprise: contoso\n", encoding="utf-8")
    settings = load_config(env={"LMSPACE_CONFIG": str(other)})
    assert settings.enterprise == "contoso"
    assert settings.source == str(other)


def test_example_lmspace_yaml_in_the_repository_loads_as_is():
    settings = load_config(REPO / "lmspace.yaml", env={})
    assert settings.store.backend == "embedded"
    assert settings.embedder.provider == "onnx_int8"
    assert settings.lm.provider == "none"


def test_environment_variables_override_the_file_and_are_coerced(tmp_path):
    path = write(tmp_path, "embedder:\n  batch_size: 16\nlm:\n  provider: none\n")
    env = {
        "LMSPACE_EMBEDDER__BATCH_SIZE": "64",
        "LMSPACE_LM__PROVIDER": "openai",
        "LMSPACE_LM__MODEL": "gpt-4o-mini",
        "LMSPACE_LM__TEMPERATURE": "0.5",
        "PATH": "/usr/bin",
    }
    settings = load_config(path, env=env)
    assert settings.embedder.batch_size == 64
    assert settings.lm.provider == "openai"
    assert settings.lm.temperature == 0.5


def test_lmspace_home_sets_the_data_directory_with_user_expanded(tmp_path):
    settings = load_config(write(tmp_path, "data_dir: /elsewhere\n"), env={"LMSPACE_HOME": "~/spaces"})
    assert settings.data_dir == Path.home() / "spaces"


def test_settings_are_frozen(tmp_path):
    settings = load_config(write(tmp_path, ""), env={})
    with pytest.raises(ValueError):
        settings.retrieval.top_k = 9  # type: ignore[misc]


def test_missing_explicit_file_is_reported():
    assert config_error(Path("/nowhere/lmspace.yaml")) == "config file not found: /nowhere/lmspace.yaml"


def test_a_folder_given_as_the_config_file_is_named_as_a_folder(tmp_path):
    """`lmspace -c ./configs config check` said 'config file not found' of a folder that is there."""
    assert config_error(tmp_path) == (f"{tmp_path} is a folder, not a settings file; give the path of the "
                                      "lmspace.yaml in it")


def test_malformed_yaml_names_file_line_and_column(tmp_path):
    path = write(tmp_path, "lm:\n  provider: none\n  model: [unclosed\n")
    message = config_error(path)
    assert message.startswith(f"{path}:4:1: invalid YAML")


def test_top_level_must_be_a_mapping(tmp_path):
    path = write(tmp_path, "- lm\n- store\n")
    assert config_error(path).startswith(f"{path}:1: the top level must be a mapping")


def test_unknown_key_names_its_line_and_the_closest_valid_key(tmp_path):
    path = write(tmp_path, "lm:\n  provider: none\n  modle: gpt-4o\n")
    assert config_error(path) == f"{path}:3: lm.modle: unknown key (did you mean lm.model?)"


def test_duplicate_key_names_both_lines(tmp_path):
    path = write(tmp_path, "lm:\n  provider: none\n  provider: openai\n")
    assert config_error(path) == f"{path}:3: lm.provider: duplicate key (first on line 2)"


def test_source_cannot_be_set_in_the_file(tmp_path):
    path = write(tmp_path, "source: mine\n")
    assert config_error(path).startswith(f"{path}:1: source: unknown key")


def test_wrong_type_names_key_line_and_value(tmp_path):
    path = write(tmp_path, "embedder:\n  batch_size: lots\n")
    message = config_error(path)
    assert message.startswith(f"{path}:2: embedder.batch_size: Input should be a valid integer")
    assert "'lots'" in message


def test_out_of_range_value_names_the_limit(tmp_path):
    path = write(tmp_path, "retrieval:\n  top_k: 100\n")
    assert config_error(path) == f"{path}:2: retrieval.top_k: Input should be less than or equal to 50 (got 100)"


def test_unknown_provider_lists_the_valid_ones(tmp_path):
    # Providers are a plugin registry, so a name is checked against what is installed, not when the file is read.
    path = write(tmp_path, "lm:\n  provider: anthropic\n")
    with pytest.raises(ConfigError) as error:
        check_settings(load_config(path, env={}))
    assert str(error.value).startswith(
        f"{path}:2: lm.provider: 'anthropic' is not known; known: azure_openai, litellm, llama_cpp, none, openai"
    )


def test_azure_openai_without_deployment_names_the_key_at_its_section_line(tmp_path):
    path = write(
        tmp_path,
        "enterprise: contoso\nlm:\n  provider: azure_openai\n  endpoint: https://x.openai.azure.com\n"
        "  api_version: '2024-10-21'\n  api_key: env:AZURE_OPENAI_API_KEY\n",
    )
    assert config_error(path) == f"{path}:2: lm.deployment: required when lm.provider is azure_openai"


def test_azure_openai_with_key_auth_needs_an_api_key(tmp_path):
    path = write(
        tmp_path,
        "lm:\n  provider: azure_openai\n  endpoint: https://x\n  deployment: gpt-4o\n  api_version: '2024-10-21'\n",
    )
    assert f"{path}:1: lm.api_key: required when lm.provider is azure_openai and lm.auth is key" in config_error(path)


def test_azure_openai_with_entra_auth_needs_no_key(tmp_path):
    path = write(
        tmp_path,
        "lm:\n  provider: azure_openai\n  auth: entra\n  endpoint: https://x\n  deployment: gpt-4o\n"
        "  api_version: '2024-10-21'\n",
    )
    assert load_config(path, env={}).lm.api_key is None


def test_azure_embedder_names_every_missing_key(tmp_path):
    path = write(tmp_path, "embedder:\n  provider: azure_openai\n  endpoint: https://x\n")
    assert config_error(path).splitlines() == [
        f"{path}:1: embedder.deployment: required when embedder.provider is azure_openai",
        f"{path}:1: embedder.api_version: required when embedder.provider is azure_openai",
        f"{path}:1: embedder.api_key: required when embedder.provider is azure_openai and embedder.auth is key"
        " (or set embedder.auth: entra)",
    ]


def test_azure_store_needs_cosmos_blob_and_table_endpoints(tmp_path):
    path = write(tmp_path, "store:\n  backend: azure\n  azure:\n    cosmos_database: kb\n")
    assert config_error(path).splitlines() == [
        f"{path}:3: store.azure.cosmos_endpoint: required when store.backend is azure",
        f"{path}:3: store.azure.blob_account_url: required when store.backend is azure"
        " (or give azure.connection_string)",
        f"{path}:3: store.azure.table_account_url: required when store.backend is azure"
        " (or give azure.connection_string)",
    ]


def test_azure_key_credential_needs_the_cosmos_key(tmp_path):
    path = write(tmp_path, "store:\n  backend: azure\n  azure:\n    cosmos_endpoint: https://c\n"
                           "    connection_string: env:S\n    credential: key\n")
    assert config_error(path) == f"{path}:3: store.azure.cosmos_key: required when azure.credential is key"


def test_azure_keys_are_masked_in_the_settings_dump(tmp_path):
    key = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nzwJ+Ws9agLs4YHH0XLlZIr6EbJ8bMFQD3PmAPlFwg=="
    settings = load_config(write(tmp_path, "data_dir: x\n"), env={
        "LMSPACE_STORE__BACKEND": "azure", "LMSPACE_STORE__AZURE__COSMOS_ENDPOINT": "https://c",
        "LMSPACE_STORE__AZURE__COSMOS_KEY": key,
        "LMSPACE_STORE__AZURE__CONNECTION_STRING": f"AccountName=a;AccountKey={key}",
    })
    dumped = str(settings.masked_dict()) + repr(settings) + str(settings)
    assert key not in dumped and key[10:30] not in dumped


@pytest.mark.parametrize("endpoint", ["not a url", "", "127.0.0.1:8081", "ftp://cosmos"])
def test_an_endpoint_that_is_not_an_http_url_is_refused_naming_its_variable(tmp_path, endpoint):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "data_dir: x\n"), env={
            "LMSPACE_STORE__BACKEND": "azure", "LMSPACE_STORE__AZURE__COSMOS_ENDPOINT": endpoint,
            "LMSPACE_STORE__AZURE__CONNECTION_STRING": "env:STORAGE"})
    assert "LMSPACE_STORE__AZURE__COSMOS_ENDPOINT" in str(caught.value)
    assert "http:// or https:// URL" in str(caught.value)


def test_azure_store_accepts_a_connection_string_instead_of_a_blob_url(tmp_path):
    path = write(
        tmp_path,
        "store:\n  backend: azure\n  azure:\n    cosmos_endpoint: https://c\n"
        "    credential: connection_string\n    connection_string: env:AZURE_STORAGE_CONNECTION_STRING\n",
    )
    assert load_config(path, env={}).store.azure.connection_string == SecretRef("env:AZURE_STORAGE_CONNECTION_STRING")


def test_llama_cpp_without_model_path_is_reported(tmp_path):
    path = write(tmp_path, "lm:\n  provider: llama_cpp\n")
    assert config_error(path) == f"{path}:1: lm.model_path: required when lm.provider is llama_cpp"


def test_llama_cpp_with_a_missing_model_file_names_the_path(tmp_path):
    path = write(tmp_path, f"data_dir: {tmp_path}\nlm:\n  provider: llama_cpp\n  model_path: models/tiny.gguf\n")
    assert config_error(path) == (
        f"{path}:4: lm.model_path: no model file at {tmp_path}/models/tiny.gguf (relative paths start at data_dir)"
    )


def test_llama_cpp_model_path_relative_to_data_dir_is_accepted(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny.gguf").write_bytes(b"GGUF")
    path = write(tmp_path, "lm:\n  provider: llama_cpp\n  model_path: models/tiny.gguf\n")
    settings = load_config(path, env={"LMSPACE_HOME": str(tmp_path)})
    assert settings.data_dir / settings.lm.model_path == tmp_path / "models" / "tiny.gguf"


def test_chunk_overlap_must_be_smaller_than_the_chunk(tmp_path):
    path = write(tmp_path, "ingest:\n  chunk_tokens: 100\n  chunk_overlap: 100\n")
    assert config_error(path) == f"{path}:3: ingest.chunk_overlap: must be smaller than chunk_tokens (100)"


def test_empty_section_means_its_defaults(tmp_path):
    path = write(tmp_path, "lm:\n  # provider: openai\nretrieval:\n")
    settings = load_config(path, env={})
    assert settings.lm.provider == "none"
    assert settings.retrieval.top_k == 5


def test_bad_environment_value_names_the_variable(tmp_path):
    message = config_error(write(tmp_path, "retrieval:\n  top_k: 3\n"), env={"LMSPACE_RETRIEVAL__TOP_K": "abc"})
    assert message.startswith("LMSPACE_RETRIEVAL__TOP_K: retrieval.top_k: Input should be a valid integer")


def test_unknown_environment_variable_is_reported_with_a_suggestion():
    assert config_error(env={"LMSPACE_LM__MODLE": "x"}) == (
        "LMSPACE_LM__MODLE: unknown setting lm.modle (did you mean LMSPACE_LM__MODEL?)"
    )


def test_environment_cannot_set_the_source():
    assert config_error(env={"LMSPACE_SOURCE": "x"}).startswith("LMSPACE_SOURCE: unknown setting source")


def test_provider_set_in_the_environment_without_its_keys_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = config_error(env={"LMSPACE_LM__PROVIDER": "openai"})
    assert message == "LMSPACE_* environment: lm.model: required when lm.provider is openai"


def test_secret_reference_forms_are_kept_unresolved():
    assert SecretRef("env:OPENAI_API_KEY").kind == "env"
    assert SecretRef("keyvault://kv-prod/openai-key").kind == "keyvault"
    assert SecretRef("sk-abcdefgh12345678").kind == "literal"


def test_malformed_keyvault_reference_is_reported(tmp_path):
    path = write(tmp_path, "lm:\n  provider: openai\n  model: gpt-4o\n  api_key: keyvault://only-vault\n")
    assert config_error(path) == (
        f"{path}:4: lm.api_key: keyvault://only-vault is not keyvault://<vault-name>/<secret-name>"
    )


def test_literal_secret_is_never_shown_in_full(tmp_path):
    key = "sk-abcdefgh12345678"
    path = write(tmp_path, f"lm:\n  provider: openai\n  model: gpt-4o\n  api_key: {key}\n")
    settings = load_config(path, env={})
    assert settings.lm.api_key.masked() == "sk-…5678"
    assert settings.masked_dict()["lm"]["api_key"] == "sk-…5678"
    assert key not in repr(settings)
    assert key not in str(settings.masked_dict())


def test_secret_references_are_shown_as_written():
    assert SecretRef("env:OPENAI_API_KEY").masked() == "env:OPENAI_API_KEY"
    assert SecretRef("keyvault://kv-prod/openai-key").masked() == "keyvault://kv-prod/openai-key"
    assert SecretRef("short").masked() == "…"


def test_masked_dict_is_plain_data(tmp_path):
    data = load_config(write(tmp_path, f"data_dir: {tmp_path}\n"), env={}).masked_dict()
    assert data["data_dir"] == str(tmp_path)
    assert data["retrieval"]["top_k"] == 5 and data["retrieval"]["approximate"]["min_chunks"] == 100_000


def test_runtime_environment_is_prepared_without_overriding_the_user(tmp_path, monkeypatch):
    for name in ("LITELLM_LOCAL_MODEL_COST_MAP", "DSPY_CACHEDIR", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    prepare_runtime_environment(Settings(data_dir=tmp_path))
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert os.environ["DSPY_CACHEDIR"] == str(tmp_path / "dspy_cache")
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert os.environ["HF_HUB_OFFLINE"] == "0"


def test_loading_settings_does_not_import_dspy():
    code = "import sys, lmspace_core.config; sys.exit('dspy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
