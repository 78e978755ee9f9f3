"""Settings: `lmspace.yaml` merged with `LMSPACE_*` environment variables, validated once at start-up.

Settings are read by people before they are read by code, so every mistake becomes one `ConfigError` that says
where it is (the file and line, or the environment variable), which key, and what would be accepted. This module
must not import dspy: `prepare_runtime_environment` sets variables that dspy and LiteLLM read when imported.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import core_schema

from lmspace_core.errors import ConfigError
from lmspace_core.names import enterprise_id_problem, space_name_problem

ENV_PREFIX = "LMSPACE_"
CONFIG_ENV = "LMSPACE_CONFIG"
HOME_ENV = "LMSPACE_HOME"
DEFAULT_CONFIG_FILE = "lmspace.yaml"
_SET_BY_LOADER = "source"

KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class SecretRef:
    """A secret as written in the settings: a literal, `env:VAR_NAME` or `keyvault://<vault>/<secret>`.

    It stays unresolved so that loading settings never reads the environment or calls Key Vault (that happens in
    `lmspace_core.lm.resolve_secret` when a client is built), and it never shows a literal key: `str()`, `repr()`
    and settings dumps all print `masked()`.
    """

    reference: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.reference.strip():
            raise ValueError("a secret must not be empty")
        if self.kind == "env" and not self.reference.removeprefix("env:"):
            raise ValueError("env: needs a variable name, e.g. env:AZURE_OPENAI_API_KEY")
        if self.kind == "keyvault":
            vault, _, name = self.reference.removeprefix("keyvault://").partition("/")
            if not vault or not name or "/" in name:
                raise ValueError(f"{self.reference} is not keyvault://<vault-name>/<secret-name>")

    @property
    def kind(self) -> Literal["literal", "env", "keyvault"]:
        if self.reference.startswith("env:"):
            return "env"
        if self.reference.startswith("keyvault://"):
            return "keyvault"
        return "literal"

    def masked(self) -> str:
        """The reference as it may be shown: references in full, a literal as its first 3 and last 4 characters."""
        if self.kind != "literal":
            return self.reference
        if len(self.reference) < 12:
            return "…"
        return f"{self.reference[:3]}…{self.reference[-4:]}"

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"SecretRef({self.masked()!r})"

    @classmethod
    def _coerce(cls, value: object) -> SecretRef:
        if isinstance(value, SecretRef):
            return value
        if isinstance(value, str):
            return cls(value)
        raise ValueError("must be a string: a key, env:VAR_NAME or keyvault://<vault-name>/<secret-name>")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._coerce,
            json_schema_input_schema=core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(cls.masked),
        )


_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^@/\s]*@")
_URL_SECRET_PARAMETER = re.compile(r"(?P<head>[?&](?:sig|api-key|api_key|key|token|access_token|password|code)=)[^&#\s]+",
                                   re.IGNORECASE)


def mask_url_credentials(url: str) -> str:
    """The URL as it may be shown: a password in it (`https://user:pw@host`) and secret query values masked."""
    return _URL_SECRET_PARAMETER.sub(r"\g<head>…", _URL_PASSWORD.sub(r"\g<head>:…@", url))


def _http_url(value: str) -> str:
    """Refuse what no HTTP client can reach, here rather than at the first request: an endpoint without a scheme or
    host failed there as 'unavailable or throttling after retries'. The value is not repeated (it may hold a key)."""
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host, e.g. https://<account>.documents.azure.com/")
    return value


# A URL setting: used as written, shown (settings dumps, `config check`, the Settings page) with credentials masked.
Url = Annotated[str, AfterValidator(_http_url), PlainSerializer(mask_url_credentials, return_type=str)]


class _KeyProblems(ValueError):
    """Raised by a validator about keys other than the one it validates (usually missing ones).

    `problems` maps key paths relative to the model that raised to what is wrong, so the loader can name each key
    and its line instead of the section.
    """

    def __init__(self, problems: Mapping[KeyPath, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{'.'.join(path)}: {text}" for path, text in self.problems.items()))


def _require(model: BaseModel, names: tuple[str, ...], reason: str) -> None:
    missing = {(name,): f"required {reason}" for name in names if getattr(model, name) is None}
    if missing:
        raise _KeyProblems(missing)


def _expand_path(path: Path) -> Path:
    return Path(os.path.expandvars(path.expanduser()))


def _empty_section_as_defaults(value: object) -> object:
    # `lm:` with every line below it commented out is YAML null; it means "the defaults", not an error.
    return {} if value is None else value


ExpandedPath = Annotated[Path, AfterValidator(_expand_path)]
Section = BeforeValidator(_empty_section_as_defaults)


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AzureStoreSettings(_Settings):
    """Where the Azure backend lives. Without `cosmos_key` / `connection_string`, clients use Entra ID
    (`DefaultAzureCredential`); `connection_string` is the Storage account's (Blob and Table)."""

    cosmos_endpoint: Url | None = None
    cosmos_database: str = "lmspace"
    cosmos_key: SecretRef | None = None
    vector_index: Literal["quantizedFlat", "diskANN", "flat"] = "quantizedFlat"
    blob_account_url: Url | None = None
    blob_container: str = Field("lmspace", pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
    table_account_url: Url | None = None
    jobs_table: str = Field("lmspacejobs", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")
    connection_string: SecretRef | None = None
    credential: Literal["default", "key", "connection_string"] = "default"
    read_cache_mb: int = Field(256, ge=0)  # recently used spaces kept on disk to search while Azure is unreachable


class StoreSettings(_Settings):
    backend: str = "embedded"  # a registered store backend (plugins add more); checked when the stores are built
    azure: AzureStoreSettings | None = None

    @model_validator(mode="after")
    def _azure_is_complete(self) -> StoreSettings:
        if self.backend != "azure":
            return self
        reason = "when store.backend is azure"
        if self.azure is None:
            raise _KeyProblems({("azure",): f"section required {reason} (cosmos_endpoint, blob_account_url)"})
        missing: dict[KeyPath, str] = {}
        if self.azure.cosmos_endpoint is None:
            missing[("azure", "cosmos_endpoint")] = f"required {reason}"
        if self.azure.blob_account_url is None and self.azure.connection_string is None:
            missing[("azure", "blob_account_url")] = f"required {reason} (or give azure.connection_string)"
        if self.azure.table_account_url is None and self.azure.connection_string is None:
            missing[("azure", "table_account_url")] = f"required {reason} (or give azure.connection_string)"
        if self.azure.credential == "connection_string" and self.azure.connection_string is None:
            missing[("azure", "connection_string")] = "required when azure.credential is connection_string"
        if self.azure.credential == "key" and self.azure.cosmos_key is None:
            missing[("azure", "cosmos_key")] = "required when azure.credential is key"
        if missing:
            raise _KeyProblems(missing)
        return self


class EmbedderSettings(_Settings):
    provider: str = "onnx_int8"  # a registered embedder (plugins add more); checked when it is built
    model: str = "all-MiniLM-L6-v2"
    batch_size: int = Field(32, ge=1, le=1024)
    device: str = "cpu"
    ingest_threads: int | None = Field(None, ge=1, le=256)  # onnx_int8; None: all cores (but one at nice 0)
    ingest_nice: int = Field(10, ge=0, le=19)  # onnx_int8: passages are embedded at this nice, so queries win a core
    cache_dir: ExpandedPath | None = None  # where onnx_int8 keeps its built model; None: <data_dir>/models
    endpoint: Url | None = None
    deployment: str | None = None
    api_version: str | None = None
    auth: Literal["key", "entra"] = "key"  # azure_openai: api_key, or an Entra ID token (DefaultAzureCredential)
    api_key: SecretRef | None = None

    @model_validator(mode="after")
    def _azure_is_complete(self) -> EmbedderSettings:
        if self.provider == "azure_openai":
            reason = "when embedder.provider is azure_openai"
            missing = {(name,): f"required {reason}" for name in ("endpoint", "deployment", "api_version")
                       if getattr(self, name) is None}
            if self.auth == "key" and self.api_key is None:
                missing[("api_key",)] = f"required {reason} and embedder.auth is key (or set embedder.auth: entra)"
            if missing:
                raise _KeyProblems(missing)
        return self


class LMSettings(_Settings):
    provider: str = "none"  # a registered LM provider (plugins add more); checked when the model is built
    model: str | None = None
    endpoint: Url | None = None
    deployment: str | None = None
    api_version: str | None = None
    auth: Literal["key", "entra"] = "key"
    api_key: SecretRef | None = None
    api_base: Url | None = None
    model_path: ExpandedPath | None = None
    n_ctx: int = Field(4096, ge=256)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, ge=1)
    timeout_s: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _provider_is_complete(self) -> LMSettings:
        reason = f"when lm.provider is {self.provider}"
        if self.provider == "azure_openai":
            _require(self, ("endpoint", "deployment", "api_version"), reason)
            if self.auth == "key":
                _require(self, ("api_key",), f"{reason} and lm.auth is key (or set lm.auth: entra)")
        elif self.provider in ("openai", "litellm"):
            _require(self, ("model",), reason)
        elif self.provider == "llama_cpp":
            _require(self, ("model_path",), reason)
        return self


class IngestSettings(_Settings):
    max_file_mb: int = Field(50, ge=1)
    max_zip_total_mb: int = Field(500, ge=1)
    max_zip_entries: int = Field(20000, ge=1)
    max_compression_ratio: float = Field(200.0, gt=1.0)
    chunk_tokens: int = Field(250, ge=16)
    chunk_overlap: int = Field(40, ge=0)

    @model_validator(mode="after")
    def _overlap_fits_in_chunk(self) -> IngestSettings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise _KeyProblems({("chunk_overlap",): f"must be smaller than chunk_tokens ({self.chunk_tokens})"})
        return self


class ApproximateSettings(_Settings):
    """An HNSW index for spaces of at least `min_chunks` vectors (embedded store), built by a background job after
    a change and used only once it finds `min_recall` of the exact top 10 on a sample; exact search answers until
    then, and for filtered queries."""

    enabled: bool = True
    min_chunks: int = Field(100_000, ge=1)
    m: int = Field(32, ge=2, le=256)  # graph degree: more is better recall, more memory, slower builds
    ef_construction: int = Field(80, ge=1)
    ef_search: int = Field(128, ge=1)
    min_recall: float = Field(0.99, gt=0, le=1)
    build_threads: int | None = Field(None, ge=1, le=256)  # None: all cores (the build runs at a lowered priority)


class RetrievalSettings(_Settings):
    top_k: int = Field(5, ge=1, le=50)
    # Fuse a keyword ranking (SQLite FTS5) with the vector ranking. Off by default: on the QA set it did not raise
    # recall@1 by source and lowered recall@5 of the evidence chunk (bench/RESULTS.md). The embedded store only.
    hybrid: bool = False
    approximate: Annotated[ApproximateSettings, Section] = Field(default_factory=ApproximateSettings)


class ResearchSettings(_Settings):
    parallelism: int = Field(4, ge=1, le=64)  # subagents running at once
    context_tokens: int = Field(6000, ge=1000)  # the model's context a subagent's prompt must fit
    sandbox_memory_mb: int = Field(512, ge=128)  # what code in the explore sandbox may allocate
    sandbox_output_mb: float = Field(1.0, gt=0)  # what one execution in the sandbox may print or submit
    pyodide_dir: ExpandedPath | None = None  # Pyodide's files; default: node_modules/pyodide of a checkout


class LocalSyncSettings(_Settings):
    epochs: int = Field(3, ge=1, le=100)
    batch_size: int = Field(16, ge=2, le=512)
    learning_rate: float = Field(2e-5, gt=0, le=1)


class AzureOpenAIDeploySettings(_Settings):
    """Where `sync` deploys a fine-tuned Azure OpenAI model (`azure-mgmt-cognitiveservices`): the resource of
    `sync.azure_openai.endpoint`. Each job gets its own deployment, `<name>-<fine-tuning job id>`, so the model the
    space uses now stays deployed to compare with and to roll back to."""

    subscription_id: str
    resource_group: str
    account: str  # the Azure OpenAI (Cognitive Services) account name: <account>.openai.azure.com
    name: str = Field("lmspace", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,15}$")
    sku: str = "Standard"  # Standard, GlobalStandard or Developer, as the region offers for fine-tuned models
    capacity: int = Field(1, ge=1)  # thousands of tokens per minute
    management_endpoint: Url | None = None  # Azure Resource Manager; None: the public cloud's
    timeout_s: float = Field(1800.0, gt=0)  # how long a sync waits for the deployment to serve before giving up
    keep_losers: bool = False  # keep the deployment of a model that scored worse (it is billed while it exists)


class AzureOpenAISyncSettings(_Settings):
    endpoint: str | None = None
    api_version: str = "2025-04-01-preview"
    auth: Literal["key", "entra"] = "key"
    api_key: SecretRef | None = None
    base_model: str = "gpt-4o-mini-2024-07-18"
    suffix: str = "lmspace"
    epochs: int | None = Field(None, ge=1, le=50)
    deploy: AzureOpenAIDeploySettings | None = None  # None: the job says how to deploy the model by hand

    @model_validator(mode="after")
    def _is_complete(self) -> AzureOpenAISyncSettings:
        _require(self, ("endpoint",), "for the azure_openai sync backend")
        if self.auth == "key":
            _require(self, ("api_key",), "when sync.azure_openai.auth is key (or set auth: entra)")
        return self


class AzureMLDeploySettings(_Settings):
    """`sync` deploys each fine-tuned Azure ML model itself (`azure-ai-ml`): the space's managed online endpoint is
    created once, then one managed online deployment per model, so the current model stays deployed to compare
    with. `deploy: {}` deploys with these defaults."""

    timeout_s: float = Field(3600.0, gt=0)  # how long a sync waits for the deployment to serve before giving up
    keep_losers: bool = False  # keep the deployment of a model that scored worse (it is billed while it exists)


class AzureMLSyncSettings(_Settings):
    subscription_id: str | None = None
    resource_group: str | None = None
    workspace: str | None = None
    model: str = "azureml://registries/azureml/models/Phi-4-mini-instruct/labels/latest"
    task: Literal["chat_completion", "text_completion"] = "chat_completion"
    experiment: str = "lmspace-sync"
    # The managed online endpoint serving the space's fine-tuned models (None: lmspace-<space id>), and what each
    # model's deployment runs on, whether LMSpace deploys it (`deploy`) or the user does with the commands it gives.
    endpoint: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")
    instance_type: str = "Standard_NC24ads_A100_v4"
    instance_count: int = Field(1, ge=1)
    # How a deployment is asked a question: `azureml_chat` ({"input_data": {"input_string": [messages]}} to the
    # scoring URI, what fine-tuned catalog models serve), or `openai_chat` (/v1/chat/completions, vLLM-served models).
    request_format: Literal["azureml_chat", "openai_chat"] = "azureml_chat"
    deploy: AzureMLDeploySettings | None = None  # None: the job gives the commands that deploy the model by hand

    @model_validator(mode="after")
    def _is_complete(self) -> AzureMLSyncSettings:
        _require(self, ("subscription_id", "resource_group", "workspace"), "for the azure_ml sync backend")
        return self


class SyncSettings(_Settings):
    backend: Literal["local", "azure_openai", "azure_ml"] = "local"
    min_examples: int = Field(10, ge=1)
    max_example_tokens: int = Field(4096, ge=64)
    validation_share: float = Field(0.2, gt=0, lt=1)
    poll_s: float = Field(30.0, gt=0)  # how often a remote job is asked for its status
    evaluation_examples: int = Field(50, ge=1)  # held-out questions a new remote model and the current one answer
    auto_sync: list[str] = []  # spaces synced automatically when their delta passes a threshold below
    event_sources: list[str] = []  # Event Grid topics (prefixes) whose model events `lmspace serve-events` acts on
    event_key: SecretRef | None = None  # `serve-events` answers only requests carrying `?key=<this>`
    auto_sync_items: int = Field(20, ge=1)  # changed documents since the last sync
    auto_sync_age_h: float = Field(24.0, gt=0)  # hours since the oldest unsynced change
    auto_sync_backoff_h: float = Field(0.5, gt=0)  # wait after a failed automatic sync, doubled per failure in a row
    auto_sync_backoff_max_h: float = Field(24.0, gt=0)  # the longest such wait
    queue: Literal["folder", "azure_storage"] = "folder"  # where sync requests wait for `lmspace sync worker`
    queue_name: str = "lmspace-sync"
    queue_connection_string: SecretRef | None = None  # for queue: azure_storage
    local: Annotated[LocalSyncSettings, Section] = Field(default_factory=LocalSyncSettings)
    azure_openai: AzureOpenAISyncSettings | None = None
    azure_ml: AzureMLSyncSettings | None = None

    @model_validator(mode="after")
    def _backend_is_configured(self) -> SyncSettings:
        if self.backend != "local" and getattr(self, self.backend) is None:
            raise _KeyProblems({(self.backend,): f"section required when sync.backend is {self.backend}"})
        if self.queue == "azure_storage":
            _require(self, ("queue_connection_string",), "when sync.queue is azure_storage")
        return self


class Settings(_Settings):
    """Everything LMSpace reads from its configuration; `source` says where it came from."""

    enterprise: str = Field("default", min_length=1)
    default_space: str = Field("default", min_length=1)
    data_dir: ExpandedPath = Field(default_factory=lambda: Path.home() / ".lmspace")
    store: Annotated[StoreSettings, Section] = Field(default_factory=StoreSettings)
    embedder: Annotated[EmbedderSettings, Section] = Field(default_factory=EmbedderSettings)
    lm: Annotated[LMSettings, Section] = Field(default_factory=LMSettings)
    ingest: Annotated[IngestSettings, Section] = Field(default_factory=IngestSettings)
    retrieval: Annotated[RetrievalSettings, Section] = Field(default_factory=RetrievalSettings)
    research: Annotated[ResearchSettings, Section] = Field(default_factory=ResearchSettings)
    sync: Annotated[SyncSettings, Section] = Field(default_factory=SyncSettings)
    source: str = "defaults"
    # The file, its key lines and the variables that set keys, for `where`: set by `read_config`.
    _provenance: tuple[Path | None, Mapping[KeyPath, int], Mapping[KeyPath, str]] = PrivateAttr((None, {}, {}))

    def where(self, *key: str) -> str:
        """What set the setting `key` (`"lm", "provider"`), for error messages: the variable, or the file and line."""
        file, lines, origins = self._provenance
        return _where(key, file, lines, origins) if file or origins else self.source

    @model_validator(mode="after")
    def _names_follow_the_rules(self) -> Settings:
        """Checked here so that `config check` rejects a name that every command would reject."""
        problems = {
            (key,): problem
            for key, problem in (
                ("enterprise", enterprise_id_problem(self.enterprise)),
                ("default_space", space_name_problem(self.default_space)),
            )
            if problem
        }
        if problems:
            raise _KeyProblems(problems)
        return self

    @model_validator(mode="after")
    def _local_model_exists(self) -> Settings:
        if self.lm.provider == "llama_cpp" and self.lm.model_path is not None:
            path = self.data_dir / self.lm.model_path
            if not path.is_file():
                problem = f"no model file at {path} (relative paths start at data_dir)"
                raise _KeyProblems({("lm", "model_path"): problem})
        return self

    def masked_dict(self) -> dict[str, Any]:
        """The settings as plain data for display: secrets masked, paths as strings."""
        return self.model_dump(mode="json")


# The design's flat keys, accepted where they name one setting unambiguously, with a note pointing at the nested key.
FLAT_ALIASES: Mapping[str, KeyPath] = {
    "cosmos_endpoint": ("store", "azure", "cosmos_endpoint"),
    "cosmos_key": ("store", "azure", "cosmos_key"),
    "cosmos_database": ("store", "azure", "cosmos_database"),
    "blob_account_url": ("store", "azure", "blob_account_url"),
    "table_account_url": ("store", "azure", "table_account_url"),
    "storage_connection_string": ("store", "azure", "connection_string"),
    "openai_endpoint": ("lm", "endpoint"),
    "openai_key": ("lm", "api_key"),
    "openai_api_version": ("lm", "api_version"),
    "openai_deployment": ("lm", "deployment"),
    "embedding_deployment": ("embedder", "deployment"),
}


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from a YAML file and `LMSPACE_*` variables (which win), or raise one `ConfigError`.

    Args:
        path: the YAML file; None means `$LMSPACE_CONFIG`, else `./lmspace.yaml` if present, else defaults only.
        env: the environment to read (default `os.environ`). `LMSPACE_LM__PROVIDER=openai` sets `lm.provider`;
            `LMSPACE_HOME` sets `data_dir`.
    """
    return read_config(path, env)[0]


def read_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> tuple[Settings, tuple[str, ...]]:
    """`load_config`, plus the deprecation notes for flat keys (`cosmos_endpoint: ...`) that were translated."""
    env = os.environ if env is None else env
    file = _config_file(path, env)
    data, lines = _read_yaml(file) if file else ({}, {})
    if _SET_BY_LOADER in data:
        raise ConfigError(f"{file}:{lines[(_SET_BY_LOADER,)]}: {_SET_BY_LOADER}: unknown key (LMSpace records it)")
    notes = _translate_flat_keys(data, file, lines)
    origins = _apply_env(data, env)
    try:
        settings = Settings.model_validate({**data, _SET_BY_LOADER: str(file) if file else "defaults"})
        settings._provenance = (file, lines, origins)
        return settings, notes
    except ValidationError as exc:
        problems = (
            f"{_where(key_path, file, lines, origins)}: {'.'.join(key_path)}: {problem}"
            for error in exc.errors()
            for key_path, problem in _problems(error)
        )
        raise ConfigError("\n".join(dict.fromkeys(problems))) from None


def _translate_flat_keys(data: dict[str, Any], file: Path | None, lines: dict[KeyPath, int]) -> tuple[str, ...]:
    """Move each flat alias in `data` to its nested key (recording the line there); return one note per alias."""
    notes = []
    for flat, nested in FLAT_ALIASES.items():
        if flat not in data:
            continue
        where = f"{file}:{lines.get((flat,), 0)}"
        section = data
        for key in nested[:-1]:
            section = section.setdefault(key, {}) if isinstance(section.get(key, {}), dict) else {}
        if nested[-1] in section:
            raise ConfigError(f"{where}: {flat}: also set as {'.'.join(nested)}; keep only the nested key")
        section[nested[-1]] = data.pop(flat)
        if (flat,) in lines:
            lines[nested] = lines[(flat,)]
        notes.append(f"{where}: {flat} is deprecated; write it as {'.'.join(nested)}")
    return tuple(notes)


def prepare_runtime_environment(settings: Settings) -> None:
    """Set the variables dspy, LiteLLM and Hugging Face read at import, unless the user set them.

    LiteLLM otherwise downloads a price map on first use, DSPy caches into the home directory, and the Hub
    libraries look for model updates online; LMSpace works offline and keeps its files in `data_dir`.
    """
    defaults = {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "DSPY_CACHEDIR": str(settings.data_dir / "dspy_cache"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ORT_DISABLE_TELEMETRY": "1",  # else onnxruntime writes a device id under ~/.cache/Microsoft/
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)


def _config_file(path: str | Path | None, env: Mapping[str, str]) -> Path | None:
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    if path is None:
        default = Path(DEFAULT_CONFIG_FILE)
        return default if default.is_file() else None
    file = Path(path).expanduser()
    if file.is_dir():
        raise ConfigError(f"{file} is a folder, not a settings file; give the path of the lmspace.yaml in it")
    if not file.is_file():
        raise ConfigError(f"config file not found: {file}")
    return file


def _read_yaml(file: Path) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """The file's data and the line of every key in it, for error messages."""
    try:
        text = file.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read the config file: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else str(file)
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: invalid YAML: {exc}") from None
    if root is None:
        return {}, {}
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(
            f"{file}:{root.start_mark.line + 1}: the top level must be a mapping of settings (key: value), "
            f"not a {type(data).__name__}"
        )
    lines: dict[KeyPath, int] = {}
    _record_key_lines(root, (), lines, file)
    return data, lines


def _record_key_lines(node: yaml.MappingNode, prefix: KeyPath, lines: dict[KeyPath, int], file: Path) -> None:
    for key_node, value_node in node.value:
        path = (*prefix, str(key_node.value))
        line = key_node.start_mark.line + 1
        if path in lines:
            # yaml.safe_load keeps the last one silently; a user editing the first would wonder why nothing changes.
            raise ConfigError(f"{file}:{line}: {'.'.join(path)}: duplicate key (first on line {lines[path]})")
        lines[path] = line
        if isinstance(value_node, yaml.MappingNode):
            _record_key_lines(value_node, path, lines, file)


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[KeyPath, str]:
    """Write `LMSPACE_*` values into `data`; return which variable set each key path.

    Variables are applied in sorted order, so `LMSPACE_HOME` wins over `LMSPACE_DATA_DIR`.
    """
    origins: dict[KeyPath, str] = {}
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        path = ("data_dir",) if name == HOME_ENV else _env_key_path(name)
        section = data
        for key in path[:-1]:
            if not isinstance(section.get(key), dict):
                section[key] = {}
            section = section[key]
        section[path[-1]] = env[name]
        origins[path] = name
    return origins


def _env_key_path(name: str) -> KeyPath:
    keys = tuple(name.removeprefix(ENV_PREFIX).lower().split("__"))
    model: type[BaseModel] | None = Settings
    for depth, key in enumerate(keys):
        fields = _settable_fields(model)
        if key not in fields:
            hint = _closest(key, fields)
            suggestion = f" (did you mean {ENV_PREFIX}{'__'.join((*keys[:depth], hint)).upper()}?)" if hint else ""
            raise ConfigError(f"{name}: unknown setting {'.'.join(keys)}{suggestion}")
        model = _section_model(model, key)
    return keys


def _problems(error: Mapping[str, Any]) -> list[tuple[KeyPath, str]]:
    """One pydantic error as (key path, what is wrong) pairs, in words for the person editing the file."""
    loc = tuple(str(part) for part in error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, _KeyProblems):
        return [((*loc, *path), text) for path, text in cause.problems.items()]
    if isinstance(cause, ValueError):
        return [(loc, str(cause))]
    if error["type"] == "extra_forbidden":
        hint = _closest(loc[-1], _settable_fields(_model_at(loc[:-1])))
        return [(loc, "unknown key" + (f" (did you mean {'.'.join((*loc[:-1], hint))}?)" if hint else ""))]
    value = error.get("input")
    got = f" (got {value!r})" if isinstance(value, (str, int, float, bool)) else ""
    return [(loc, error["msg"] + got)]


def _where(path: KeyPath, file: Path | None, lines: Mapping[KeyPath, int], origins: Mapping[KeyPath, str]) -> str:
    """The variable that set a key, or its line in the file; for a missing key, the line of its section."""
    for depth in range(len(path), 0, -1):
        if path[:depth] in origins:
            return origins[path[:depth]]
        if path[:depth] in lines:
            return f"{file}:{lines[path[:depth]]}"
    return str(file) if file else f"{ENV_PREFIX}* environment"


def _section_model(model: type[BaseModel] | None, name: str) -> type[BaseModel] | None:
    if model is None or name not in model.model_fields:
        return None
    annotation = model.model_fields[name].annotation
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _model_at(path: KeyPath) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Settings
    for key in path:
        model = _section_model(model, key)
    return model


def _settable_fields(model: type[BaseModel] | None) -> list[str]:
    return [name for name in (model.model_fields if model else {}) if name != _SET_BY_LOADER]


def _closest(name: str, candidates: list[str]) -> str | None:
    matches = difflib.get_close_matches(name, candidates, n=1)
    return matches[0] if matches else None
