"""The language model behind answers and research: a `dspy.LM` built from the `lm` settings, or none at all.

dspy, LiteLLM, the Azure SDK and llama-cpp-python are imported only when a model is actually built or called, so
starting the CLI or the dashboard stays fast and works without the optional extras installed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmspace_core.config import LMSettings, SecretRef, mask_url_credentials
from lmspace_core.errors import ConfigError, LMSpaceError, ModelError
from lmspace_core.plugins import hookimpl, registry

if TYPE_CHECKING:
    import dspy
    from dspy.lm15 import Request, Response

AZURE_OPENAI_SCOPE = "https://cognitiveservices.azure.com/.default"
LOCAL_LLM_INSTALL = "uv sync --extra local-llm"


def resolve_secret(ref: SecretRef) -> str:
    """The secret's value: the literal itself, an environment variable, or a Key Vault secret.

    Key Vault is read with the process's one `DefaultAzureCredential` (managed identity, `az login`, environment
    credentials), shared with the Azure clients.
    """
    if ref.kind == "literal":
        return ref.reference
    if ref.kind == "env":
        name = ref.reference.removeprefix("env:")
        value = os.environ.get(name)
        if not value:
            raise ConfigError(f"environment variable {name} is not set (the settings refer to it as {ref.masked()})")
        return value
    from azure.core.exceptions import AzureError
    from azure.keyvault.secrets import SecretClient

    from lmspace_core.stores.azure.clients import default_credential

    vault, _, name = ref.reference.removeprefix("keyvault://").partition("/")
    try:
        client = SecretClient(vault_url=f"https://{vault}.vault.azure.net", credential=default_credential())
        value = client.get_secret(name).value
    except AzureError as exc:
        raise ConfigError(f"cannot read the secret {ref.masked()}: {exc}") from exc
    if not value:
        raise ConfigError(f"the secret {ref.masked()} is empty")
    return value


def build_lm(settings: LMSettings, data_dir: Path) -> dspy.LM | None:
    """The model `lm.provider` names (from the plugin registry) as a `dspy.LM`, or None when it is `none` (answers
    are extracted passages).

    Nothing is sent to the provider here; secrets are resolved now so a missing key fails at start-up rather than
    at the first question. A relative `lm.model_path` is read from `data_dir`.
    """
    provider = registry().get("lm_provider", settings.provider)
    try:
        lm = provider.target(settings, data_dir)
    except LMSpaceError:
        raise
    except Exception as exc:  # LiteLLM, DSPy and plugins report bad arguments with many exception types
        raise ModelError(f"cannot set up the language model {describe_lm(settings)}: {exc}") from exc
    if lm is not None:
        import dspy

        # DSPy reads DSPY_CACHEDIR only when first imported, which may have happened before the settings were loaded.
        dspy.configure_cache(disk_cache_dir=os.environ.get("DSPY_CACHEDIR") or str(data_dir / "dspy_cache"))
    return lm


def model_call_failed(error: Exception, doing: str = "") -> ModelError:
    """A failed model call (`doing`: e.g. " during explore") as the `ModelError` a user reads: the one raised where
    the model was asked, when there is one among its causes (an engine's, such as an Azure ML endpoint refusing its
    key, which says what to run), else DSPy's or the provider's own message."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ModelError):
        cause = cause.__cause__
    if cause is not None:
        return ModelError(str(cause))
    return ModelError(f"The language model call failed{doing}: {error}")


def describe_lm(settings: LMSettings) -> str:
    """One line naming the model, for the CLI and the dashboard."""
    provider = registry().find("lm_provider", settings.provider)
    if provider is None:
        return f"{settings.provider} (not installed)"
    describe = provider.options.get("describe")
    return describe(settings) if describe else f"{settings.provider} {settings.model or ''} (plugin {provider.plugin})"


def _no_model(settings: LMSettings, data_dir: Path) -> None:
    return None


def _llama_cpp_lm(settings: LMSettings, data_dir: Path) -> dspy.LM:
    import dspy

    assert settings.model_path is not None  # LMSettings requires it for llama_cpp
    path = data_dir / settings.model_path
    engine = LlamaCppEngine(path, n_ctx=settings.n_ctx)
    return dspy.LM(f"local/{path.stem}", engine=engine, **_sampling(settings))


def _hosted_lm(settings: LMSettings, data_dir: Path) -> dspy.LM:
    import dspy

    model, connection = _route(settings)
    return dspy.LM(model, **connection, **_sampling(settings), timeout=settings.timeout_s)


def _sampling(settings: LMSettings) -> dict[str, Any]:
    return {"temperature": settings.temperature, "max_tokens": settings.max_tokens}


def _describe_azure_openai(settings: LMSettings) -> str:
    auth = "Entra ID" if settings.auth == "entra" else "API key"
    name = f"{settings.model} " if settings.model else ""
    endpoint = mask_url_credentials(settings.endpoint or "")
    return f"Azure OpenAI {name}(deployment {settings.deployment} at {endpoint}, {auth})"


def _describe_llama_cpp(settings: LMSettings) -> str:
    name = settings.model_path.name if settings.model_path else "?"
    return f"llama.cpp {name} (in process, {settings.n_ctx}-token context)"


@hookimpl
def register_lm_providers(register) -> None:
    register("none", _no_model, describe=lambda settings: "none (answers are extracted passages)")
    register("azure_openai", _hosted_lm, describe=_describe_azure_openai)
    register("openai", _hosted_lm, describe=lambda settings: f"OpenAI {settings.model}{_at(settings.api_base)}")
    register("litellm", _hosted_lm, describe=lambda settings: f"LiteLLM {settings.model}{_at(settings.api_base)}")
    register("llama_cpp", _llama_cpp_lm, describe=_describe_llama_cpp)


def _at(api_base: str | None) -> str:
    return f" at {mask_url_credentials(api_base)}" if api_base else ""


def _route(settings: LMSettings) -> tuple[str, dict[str, Any]]:
    """The LiteLLM model string and connection arguments for a hosted provider."""
    if settings.provider == "azure_openai":
        connection: dict[str, Any] = {"api_base": settings.endpoint, "api_version": settings.api_version}
        if settings.auth == "entra":
            connection["azure_ad_token_provider"] = entra_token_provider()
        else:
            assert settings.api_key is not None  # LMSettings requires it for auth=key
            connection["api_key"] = resolve_secret(settings.api_key)
        return f"azure/{settings.deployment}", connection
    assert settings.model is not None  # LMSettings requires it for openai and litellm
    connection = {"api_base": settings.api_base} if settings.api_base else {}
    if settings.api_key is not None:
        connection["api_key"] = resolve_secret(settings.api_key)
    if settings.provider == "openai":
        return f"openai/{settings.model.removeprefix('openai/')}", connection
    # DSPy's default engine sends max_completion_tokens, which llama.cpp and some other servers ignore.
    return settings.model, {**connection, "engine": "litellm"}


def entra_token_provider(scope: str = AZURE_OPENAI_SCOPE) -> Callable[[], str]:
    """A callable that returns a fresh Entra ID bearer token for `scope` (Azure OpenAI by default), so no key is
    stored: pass it as `azure_ad_token_provider` to LiteLLM or to `openai.AzureOpenAI`.

    Tokens come from the process's one `DefaultAzureCredential` (`stores.azure.clients.default_credential`), so the
    language model, the embedder and the sync backends share its token cache instead of signing in once each.
    """
    from azure.identity import get_bearer_token_provider

    from lmspace_core.stores.azure.clients import default_credential

    return get_bearer_token_provider(default_credential(), scope)


class LlamaCppEngine:
    """A DSPy 3.4 engine (`complete(Request) -> Response`) running a GGUF model in this process.

    Use as `dspy.LM("local/<name>", engine=LlamaCppEngine(path))`. The weights load on the first request, not
    here, so building a workspace does not wait for a model it may never call. llama.cpp's context is not
    thread-safe and DSPy runs modules in threads (`dspy.Parallel`), so requests take turns.
    """

    def __init__(self, model_path: Path, n_ctx: int = 4096) -> None:
        try:
            import llama_cpp
        except ImportError as exc:
            raise ModelError(
                f"lm.provider llama_cpp needs llama-cpp-python; install the extra: {LOCAL_LLM_INSTALL}"
            ) from exc
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self._llama_class = llama_cpp.Llama
        self._llama: Any = None
        self._lock = threading.Lock()

    def complete(self, request: Request) -> Response:
        from dspy.clients.engines.base import validate_request
        from dspy.lm15 import ContextLengthError, InvalidRequestError, response_from_openai_chat

        validate_request(request)
        messages = text_chat_messages(request, "llama_cpp")
        options = _chat_options(request)
        with self._lock:
            llama = self._loaded()
            try:
                completion = llama.create_chat_completion(messages=messages, **options)
            except ValueError as exc:  # llama-cpp-python's way of saying the prompt does not fit
                error = ContextLengthError if "context" in str(exc) else InvalidRequestError
                raise error(str(exc), provider="llama_cpp") from exc
        return response_from_openai_chat(completion, model=self.model_path.name)

    def stream(self, request: Request) -> Any:
        """Events of the whole answer at once: the answer is short and DSPy only streams on request."""
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        """Free the model's memory; the next request loads it again."""
        with self._lock:
            self._llama = None

    def _loaded(self) -> Any:
        if self._llama is None:
            from dspy.lm15 import ConfigurationError

            try:
                self._llama = self._llama_class(model_path=str(self.model_path), n_ctx=self.n_ctx, verbose=False)
            except (OSError, ValueError) as exc:
                raise ConfigurationError(f"cannot load the GGUF model {self.model_path}: {exc}") from exc
        return self._llama


def text_chat_messages(request: Request, engine: str) -> list[dict[str, str]]:
    """The request as chat-completion messages for an `engine` that reads text only (llama.cpp's chat templates, an
    Azure ML online deployment); tools and other parts are refused as features it lacks."""
    from dspy.lm15 import UnsupportedFeatureError

    if request.tools:
        raise UnsupportedFeatureError(f"the {engine} engine does not call tools", feature="tools")
    messages = []
    if request.system is not None:
        system = request.system if isinstance(request.system, str) else _text_of(request.system, "system", engine)
        messages.append({"role": "system", "content": system})
    for index, message in enumerate(request.messages):
        if message.text is None or message.role == "tool":
            raise UnsupportedFeatureError(f"the {engine} engine reads text messages only", feature=f"messages[{index}]")
        role = "system" if message.role == "developer" else message.role
        messages.append({"role": role, "content": message.text})
    return messages


def _text_of(parts: tuple[Any, ...], where: str, engine: str) -> str:
    from dspy.lm15 import TextPart, UnsupportedFeatureError

    if not all(isinstance(part, TextPart) for part in parts):
        raise UnsupportedFeatureError(f"the {engine} engine reads text only", feature=where)
    return "".join(part.text for part in parts)


def _chat_options(request: Request) -> dict[str, Any]:
    """Generation settings llama-cpp-python's `create_chat_completion` takes, leaving its defaults for the rest."""
    config = request.config
    options = {
        "max_tokens": config.max_tokens,
        "temperature": config.temperature,
        "top_p": config.top_p,
        "top_k": config.top_k,
        "seed": config.seed,
        "frequency_penalty": config.frequency_penalty,
        "presence_penalty": config.presence_penalty,
        "stop": list(config.stop) or None,
    }
    if config.response_format:
        # llama-cpp-python constrains the output with a grammar built from the schema, when there is one.
        schema = config.response_format.get("schema")
        options["response_format"] = {"type": "json_object", **({"schema": schema} if schema else {})}
    return {name: value for name, value in options.items() if value is not None}
