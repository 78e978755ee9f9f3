"""The hooks an LMSpace plugin may implement (with `@lmspace.plugin.hookimpl`).

Each hook receives a `register` callback and calls it once per thing the plugin adds; the built-in backends, models
and loaders implement these same hooks (`lmspace_core.plugins` says where).
"""

import pluggy

hookspec = pluggy.HookspecMarker("lmspace")


@hookspec
def register_store_backends(register):
    """`register(name, factory, sync_store=None)`: `factory(settings: Settings)` returns `(KnowledgeStore, BlobStore,
    JobStore)`; `sync_store(settings)` a `SyncStore` (without it, sync is not available on that backend); chosen
    with `store.backend: <name>`."""


@hookspec
def register_embedders(register):
    """`register(name, factory, token_counter=None)`: `factory(settings: Settings)` returns an `Embedder`;
    `token_counter(settings)` a `TokenCounter` (default: characters / 4); chosen with `embedder.provider`."""


@hookspec
def register_lm_providers(register):
    """`register(name, factory, describe=None)`: `factory(settings: LMSettings, data_dir: Path)` returns a
    `dspy.LM` (or None for no model); `describe(settings)` one line naming the model; chosen with `lm.provider`."""


@hookspec
def register_loaders(register):
    """`register(extensions, loader)`: `loader(data: bytes, path: str, limits: IngestLimits)` returns a
    `LoadedDocument` for files ending in one of `extensions` (`".note"` or `[".note", ".notes"]`)."""


@hookspec
def register_research_strategies(register):
    """`register(name, executor)`: `executor(workspace, lm)` returns an object whose
    `run(task, question, codebase, files, progress)` returns a `StrategyResult` (findings, summary, lm_calls, tokens);
    a plan runs it with `"strategy": "<name>"` (`lmspace research --plan`, or the plan editor of the dashboard)."""
