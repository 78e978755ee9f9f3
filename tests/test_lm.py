"""Which dspy.LM each `lm` setting builds, how secrets are resolved, and the in-process llama.cpp engine.

Models are only constructed here; nothing is sent to a provider.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before dspy is imported: no price-map download

import dspy  # noqa: E402

from lmspace_core.config import LMSettings, SecretRef  # noqa: E402
from lmspace_core.errors import ConfigError, ModelError  # noqa: E402
from lmspace_core.lm import LlamaCppEngine, build_lm, describe_lm, resolve_secret  # noqa: E402

AZURE = {"endpoint": "https://contoso.openai.azure.com", "deployment": "gpt-4o", "api_version": "2024-10-21"}
ANSWER = "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"


class FakeLlama:
    """Stands in for llama_cpp.Llama: records what it was given and answers from a script."""

    instances: list[FakeLlama] = []

    def __init__(self, model_path: str, n_ctx: int, **options: object) -> None:
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.calls: list[dict[str, object]] = []
        FakeLlama.instances.append(self)

    def create_chat_completion(self, messages: list[dict[str, str]], **options: object) -> dict[str, object]:
        self.calls.append({"messages": messages, **options})
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": self.model_path,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129},
        }


@pytest.fixture
def fake_llama_cpp(monkeypatch):
    module = types.ModuleType("llama_cpp")
    module.Llama = FakeLlama  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "llama_cpp", module)
    FakeLlama.instances = []
    return FakeLlama


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "models" / "tiny-chat.gguf"
    path.parent.mkdir()
    path.write_bytes(b"GGUF")
    return path


def test_provider_none_builds_no_model(tmp_path):
    assert build_lm(LMSettings(), tmp_path) is None


def test_azure_openai_with_a_key_builds_an_azure_deployment_model(tmp_path):
    lm = build_lm(LMSettings(provider="azure_openai", api_key="sk-abcdefgh12345678", **AZURE), tmp_path)
    assert lm.model == "azure/gpt-4o"
    assert lm.kwargs == {
        "temperature": 0.0,
        "max_tokens": 1024,
        "api_base": "https://contoso.openai.azure.com",
        "api_version": "2024-10-21",
        "api_key": "sk-abcdefgh12345678",
        "timeout": 60.0,
    }


def test_azure_openai_with_entra_passes_a_token_provider_and_no_key(tmp_path, monkeypatch):
    import azure.identity

    from lmspace_core.stores.azure import clients

    requested = []

    def token_provider():
        return "token"

    def fake_get_bearer_token_provider(credential, scope):
        requested.append((credential, scope))
        return token_provider

    monkeypatch.setattr(clients, "default_credential", lambda: "credential")
    monkeypatch.setattr(azure.identity, "get_bearer_token_provider", fake_get_bearer_token_provider)
    lm = build_lm(LMSettings(provider="azure_openai", auth="entra", **AZURE), tmp_path)
    assert lm.kwargs["azure_ad_token_provider"] is token_provider
    assert "api_key" not in lm.kwargs
    assert requested == [("credential", "https://cognitiveservices.azure.com/.default")]


def test_openai_builds_an_openai_model_with_key_and_base(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-from-env")
    settings = LMSettings(
        provider="openai", model="gpt-4o-mini", api_key="env:TEST_OPENAI_KEY", api_base="https://proxy.local/v1",
        temperature=0.3, max_tokens=256, timeout_s=5,
    )
    lm = build_lm(settings, tmp_path)
    assert lm.model == "openai/gpt-4o-mini"
    assert lm.kwargs == {
        "temperature": 0.3, "max_tokens": 256, "api_base": "https://proxy.local/v1", "api_key": "sk-from-env",
        "timeout": 5.0,
    }


def test_openai_model_already_prefixed_is_not_prefixed_twice(tmp_path):
    assert build_lm(LMSettings(provider="openai", model="openai/gpt-4o"), tmp_path).model == "openai/gpt-4o"


def test_litellm_uses_the_model_string_and_the_litellm_engine(tmp_path):
    settings = LMSettings(provider="litellm", model="ollama_chat/llama3", api_base="http://localhost:11434")
    lm = build_lm(settings, tmp_path)
    assert lm.model == "ollama_chat/llama3"
    assert lm.engine == "litellm"
    assert lm.kwargs["api_base"] == "http://localhost:11434"
    assert "api_key" not in lm.kwargs


def test_llama_cpp_builds_a_local_model_on_the_in_process_engine(tmp_path, model_file, fake_llama_cpp):
    settings = LMSettings(provider="llama_cpp", model_path=Path("models/tiny-chat.gguf"), n_ctx=2048)
    lm = build_lm(settings, tmp_path)
    assert lm.model == "local/tiny-chat"
    assert isinstance(lm.engine, LlamaCppEngine)
    assert lm.engine.model_path == model_file
    assert lm.engine.n_ctx == 2048


def test_llama_cpp_engine_loads_the_model_on_first_request_only(model_file, fake_llama_cpp):
    engine = LlamaCppEngine(model_file)
    assert fake_llama_cpp.instances == []
    lm = dspy.LM("local/tiny", engine=engine, cache=False)
    lm("hello")
    lm("again")
    assert len(fake_llama_cpp.instances) == 1
    assert fake_llama_cpp.instances[0].model_path == str(model_file)


def test_dspy_predict_through_the_llama_cpp_engine_returns_the_scripted_answer(model_file, fake_llama_cpp):
    engine = LlamaCppEngine(model_file, n_ctx=1024)
    lm = dspy.LM("local/tiny", engine=engine, temperature=0.0, max_tokens=64, cache=False)
    with dspy.context(lm=lm):
        prediction = dspy.Predict("question -> answer")(question="What is the capital of France?")
    assert prediction.answer == "Paris"
    call = fake_llama_cpp.instances[0].calls[0]
    assert [message["role"] for message in call["messages"]] == ["system", "user"]
    assert "What is the capital of France?" in call["messages"][1]["content"]
    assert call["max_tokens"] == 64
    assert call["temperature"] == 0.0
    assert fake_llama_cpp.instances[0].n_ctx == 1024


def test_llama_cpp_engine_reports_usage_from_the_completion(model_file, fake_llama_cpp):
    from dspy.lm15 import Message, Request

    response = LlamaCppEngine(model_file).complete(Request(model="local/tiny", messages=(Message.user("hi"),)))
    assert response.text == ANSWER
    assert response.finish_reason == "stop"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (120, 9)


def test_llama_cpp_engine_constrains_json_answers_to_the_requested_schema(model_file, fake_llama_cpp):
    from dspy.lm15 import Config, Message, Request

    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    config = Config(response_format={"type": "json_schema", "name": "answer", "schema": schema}, stop=("END",))
    LlamaCppEngine(model_file).complete(Request(model="local/tiny", messages=(Message.user("hi"),), config=config))
    call = fake_llama_cpp.instances[0].calls[0]
    assert call["response_format"] == {"type": "json_object", "schema": schema}
    assert call["stop"] == ["END"]


def test_llama_cpp_prompt_longer_than_the_context_is_a_context_length_error(model_file, fake_llama_cpp, monkeypatch):
    from dspy.lm15 import ContextLengthError, Message, Request

    def too_long(self, messages, **options):
        raise ValueError("Requested tokens (5000) exceed context window of 4096")

    monkeypatch.setattr(FakeLlama, "create_chat_completion", too_long)
    with pytest.raises(ContextLengthError, match="exceed context window"):
        LlamaCppEngine(model_file).complete(Request(model="local/tiny", messages=(Message.user("hi"),)))


def test_llama_cpp_without_the_extra_says_how_to_install_it(model_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(ModelError, match="uv sync --extra local-llm"):
        LlamaCppEngine(model_file)


def test_env_secret_reads_the_variable(monkeypatch):
    monkeypatch.setenv("TEST_LMSPACE_KEY", "value-1")
    assert resolve_secret(SecretRef("env:TEST_LMSPACE_KEY")) == "value-1"


def test_env_secret_with_the_variable_unset_names_it(monkeypatch):
    monkeypatch.delenv("TEST_LMSPACE_MISSING", raising=False)
    with pytest.raises(ConfigError, match="environment variable TEST_LMSPACE_MISSING is not set"):
        resolve_secret(SecretRef("env:TEST_LMSPACE_MISSING"))


def test_literal_secret_is_its_own_value():
    assert resolve_secret(SecretRef("sk-abcdefgh12345678")) == "sk-abcdefgh12345678"


class FakeSecretClient:
    """Stands in for azure.keyvault.secrets.SecretClient with one vault's secrets."""

    secrets = {"openai-key": "sk-from-vault"}
    opened: list[str] = []
    credentials: list[object] = []

    def __init__(self, vault_url: str, credential: object) -> None:
        FakeSecretClient.opened.append(vault_url)
        FakeSecretClient.credentials.append(credential)

    def get_secret(self, name: str) -> types.SimpleNamespace:
        from azure.core.exceptions import ResourceNotFoundError

        if name not in self.secrets:
            raise ResourceNotFoundError(f"A secret with (name/id) {name} was not found in this key vault.")
        return types.SimpleNamespace(value=self.secrets[name])


@pytest.fixture
def fake_key_vault(monkeypatch):
    import azure.keyvault.secrets

    FakeSecretClient.opened, FakeSecretClient.credentials = [], []
    monkeypatch.setattr(azure.keyvault.secrets, "SecretClient", FakeSecretClient)
    monkeypatch.setattr("lmspace_core.stores.azure.clients.default_credential", lambda: SHARED_CREDENTIAL)
    return FakeSecretClient


SHARED_CREDENTIAL = object()  # stands in for the process's one DefaultAzureCredential


def test_keyvault_secret_is_read_from_the_named_vault(fake_key_vault):
    assert resolve_secret(SecretRef("keyvault://kv-prod/openai-key")) == "sk-from-vault"
    assert fake_key_vault.opened == ["https://kv-prod.vault.azure.net"]


def test_keyvault_is_read_with_the_process_shared_credential(fake_key_vault):
    resolve_secret(SecretRef("keyvault://kv-prod/openai-key"))
    resolve_secret(SecretRef("keyvault://kv-test/openai-key"))
    assert fake_key_vault.credentials == [SHARED_CREDENTIAL, SHARED_CREDENTIAL]


def test_keyvault_failure_names_the_reference(fake_key_vault):
    with pytest.raises(ConfigError, match="cannot read the secret keyvault://kv-prod/missing: .*not found"):
        resolve_secret(SecretRef("keyvault://kv-prod/missing"))


def test_azure_key_from_keyvault_reaches_the_model(tmp_path, fake_key_vault):
    settings = LMSettings(provider="azure_openai", api_key="keyvault://kv-prod/openai-key", **AZURE)
    assert build_lm(settings, tmp_path).kwargs["api_key"] == "sk-from-vault"


def test_model_dspy_refuses_becomes_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="OpenAI o3"):
        build_lm(LMSettings(provider="openai", model="o3", max_tokens=100), tmp_path)


@pytest.mark.parametrize(
    ("settings", "description"),
    [
        (LMSettings(), "none (answers are extracted passages)"),
        (
            LMSettings(provider="azure_openai", model="gpt-4o", auth="entra", **AZURE),
            "Azure OpenAI gpt-4o (deployment gpt-4o at https://contoso.openai.azure.com, Entra ID)",
        ),
        (LMSettings(provider="openai", model="gpt-4o-mini"), "OpenAI gpt-4o-mini"),
        (
            LMSettings(provider="litellm", model="ollama_chat/llama3", api_base="http://localhost:11434"),
            "LiteLLM ollama_chat/llama3 at http://localhost:11434",
        ),
        (
            LMSettings(provider="llama_cpp", model_path=Path("models/tiny.gguf")),
            "llama.cpp tiny.gguf (in process, 4096-token context)",
        ),
    ],
)
def test_describe_lm_names_provider_and_model(settings, description):
    assert describe_lm(settings) == description
