"""Plugins: how store backends, embedders, language models, document loaders and research strategies get in.

The shape is simonw/llm's: `pluggy` hook specs, each hook handed a `register` callback. The built-in implementations
register through the same hooks as third-party packages (`lmspace_core.workspace`, `.lm`, `.ingest.loaders` and
`.agents.research.strategies` are plugins too), so the composition root asks the `Registry` for a name instead of
branching on it.
Installed packages are discovered through the `lmspace.plugins` entry-point group; code can also register a module
or object at run time with `lmspace.plugin.register`.

A name registered twice resolves to the later registration: built-ins first, then installed packages, then run-time
registrations, so a plugin can replace a built-in (an OCR `.pdf` loader) on purpose. `lmspace plugins` lists who
registered what.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from lmspace_core import hookspecs
from lmspace_core.errors import ConfigError, LMSpaceError, PluginError

if TYPE_CHECKING:
    from lmspace_core.domain import Finding

PROJECT = "lmspace"
ENTRY_POINT_GROUP = "lmspace.plugins"
BUILT_IN_MODULES = (
    "lmspace_core.workspace",
    "lmspace_core.lm",
    "lmspace_core.ingest.loaders",
    "lmspace_core.agents.research.strategies",
)

hookimpl = pluggy.HookimplMarker(PROJECT)

Kind = Literal["store_backend", "embedder", "lm_provider", "loader", "research_strategy"]
# What each kind is called where a user picks one, for messages and the `lmspace plugins` listing.
SETTING: Mapping[Kind, str] = {
    "store_backend": "store.backend",
    "embedder": "embedder.provider",
    "lm_provider": "lm.provider",
    "loader": "file extension",
    "research_strategy": "research strategy",
}


_HOOKS: Mapping[Kind, str] = {
    "store_backend": "register_store_backends",
    "embedder": "register_embedders",
    "lm_provider": "register_lm_providers",
    "loader": "register_loaders",
    "research_strategy": "register_research_strategies",
}


@dataclass(frozen=True)
class Registration:
    """One thing a plugin added: its kind, the name settings use (an extension for a loader), and the callable."""

    kind: Kind
    name: str
    target: Callable[..., Any]
    plugin: str
    options: Mapping[str, Callable[..., Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Registry:
    """Everything registered, in registration order; a later registration of a name replaces an earlier one."""

    registrations: tuple[Registration, ...]

    def get(self, kind: Kind, name: str) -> Registration:
        """The registration `name` picks, or a `ConfigError` listing the known names of that kind."""
        found = self._effective(kind).get(name)
        if found is None:
            raise self.unknown(kind, name)
        return found

    def unknown(self, kind: Kind, name: str, where: str = "") -> ConfigError:
        return ConfigError(
            f"{where}{SETTING[kind]}: '{name}' is not known; known: {', '.join(self.names(kind))}. "
            "Plugins add more: `lmspace plugins` lists what is installed."
        )

    def find(self, kind: Kind, name: str) -> Registration | None:
        return self._effective(kind).get(name)

    def names(self, kind: Kind) -> list[str]:
        return sorted(self._effective(kind))

    def _effective(self, kind: Kind) -> dict[str, Registration]:
        return self._by_kind.get(kind, {})

    @cached_property
    def _by_kind(self) -> dict[Kind, dict[str, Registration]]:
        """Computed once: `is_supported` asks for every file of a folder."""
        found: dict[Kind, dict[str, Registration]] = {}
        for registration in self.registrations:
            found.setdefault(registration.kind, {})[registration.name] = registration
        return found


@dataclass(frozen=True)
class StrategyResult:
    """What a research strategy's executor returns (the built-in ones return the same fields); `findings` are
    verified against the files afterwards, so a strategy may report loosely."""

    findings: tuple[Finding, ...]
    summary: str
    lm_calls: int = 0
    tokens: int = 0


@dataclass(frozen=True)
class PluginInfo:
    """An installed plugin as `lmspace plugins` shows it."""

    name: str  # the entry point's name, the module's for built-ins, or the name given to `register`
    package: str | None  # the installed distribution it came from (None: built in or registered at run time)
    version: str | None
    built_in: bool
    registrations: tuple[Registration, ...]

    def to_json_data(self) -> dict[str, Any]:
        registers: dict[str, list[str]] = {}
        for registration in self.registrations:
            registers.setdefault(registration.kind, []).append(registration.name)
        return {"name": self.name, "package": self.package, "version": self.version, "built_in": self.built_in,
                "registers": registers}


class _Plugins:
    """The process's plugin manager, created on first use, and the registry it yields (rebuilt after a change)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._manager: pluggy.PluginManager | None = None
        self._registry: Registry | None = None

    def manager(self) -> pluggy.PluginManager:
        with self._lock:
            if self._manager is None:
                manager = pluggy.PluginManager(PROJECT)
                manager.add_hookspecs(hookspecs)
                for module in BUILT_IN_MODULES:
                    manager.register(importlib.import_module(module), name=module)
                try:
                    manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
                except Exception as exc:  # an installed package's import error, whatever it is
                    raise PluginError(
                        f"An installed LMSpace plugin (entry point group {ENTRY_POINT_GROUP}) failed to load: "
                        f"{type(exc).__name__}: {exc}. Fix or uninstall that package."
                    ) from exc
                self._manager = manager
            return self._manager

    def register(self, plugin: object, name: str | None = None) -> None:
        with self._lock:
            try:
                self.manager().register(plugin, name=name)
            except ValueError as exc:  # pluggy's word for a plugin or name registered already
                raise PluginError(f"Cannot register {name or plugin!r}: {exc}") from None
            self._registry = None

    def unregister(self, plugin: object) -> None:
        with self._lock:
            if self.manager().is_registered(plugin):
                self.manager().unregister(plugin)
                self._registry = None

    def registry(self) -> Registry:
        with self._lock:
            if self._registry is None:
                self._registry = Registry(tuple(self._collect()))
            return self._registry

    def installed(self) -> list[PluginInfo]:
        manager = self.manager()
        registrations = self.registry().registrations
        packages = dict(_distributions(manager))
        return [
            PluginInfo(name, packages[name].metadata["Name"] if name in packages else None,
                       packages[name].version if name in packages else None, name in BUILT_IN_MODULES,
                       tuple(r for r in registrations if r.plugin == name))
            for name, _ in manager.list_name_plugin()
        ]

    def _collect(self) -> Iterable[Registration]:
        manager = self.manager()
        for kind, hook_name in _HOOKS.items():
            # Each implementation is called on its own, so that every registration knows which plugin made it.
            for impl in getattr(manager.hook, hook_name).get_hookimpls():
                collected: list[Registration] = []
                try:
                    impl.function(register=_register_callback(kind, impl.plugin_name, collected))
                except LMSpaceError:
                    raise
                except Exception as exc:
                    raise PluginError(
                        f"Plugin {impl.plugin_name} failed in {hook_name}: {type(exc).__name__}: {exc}"
                    ) from exc
                yield from collected


def _distributions(manager: pluggy.PluginManager) -> list[tuple[str, Any]]:
    names = {id(plugin): name for name, plugin in manager.list_name_plugin()}
    return [(names[id(plugin)], dist) for plugin, dist in manager.list_plugin_distinfo() if id(plugin) in names]


def _register_callback(kind: Kind, plugin: str, into: list[Registration]) -> Callable[..., None]:
    def register(name: str | Iterable[str], target: Callable[..., Any], **options: Callable[..., Any]) -> None:
        if not callable(target):
            raise PluginError(f"Plugin {plugin} registered a {kind} {name!r} that is not callable.")
        names = _extensions(name, plugin) if kind == "loader" else [_setting_name(name, kind, plugin)]
        into.extend(Registration(kind, each, target, plugin, dict(options)) for each in names)

    return register


def _setting_name(name: object, kind: Kind, plugin: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise PluginError(f"Plugin {plugin} registered a {kind} without a name (got {name!r}).")
    return name


def _extensions(names: str | Iterable[str], plugin: str) -> list[str]:
    """Extensions as `is_supported` compares them: lower case with the leading dot."""
    found = []
    for name in [names] if isinstance(names, str) else list(names):
        extension = "." + str(name).lower().lstrip(".")
        if extension == "." or PurePosixPath("x" + extension).suffix != extension:
            raise PluginError(f"Plugin {plugin} registered a loader for {name!r}, which is not a file extension.")
        found.append(extension)
    return found


_PLUGINS = _Plugins()


def registry() -> Registry:
    """What is registered now: built-ins, installed plugins and run-time registrations."""
    return _PLUGINS.registry()


def check_settings(settings: Any) -> None:
    """Raise the `ConfigError` building would raise for a store backend, embedder or LM provider nothing registered,
    so that a typo fails when a workspace opens (and in `lmspace config check`), not at the first question."""
    known = registry()
    for kind, name, key in (
        ("store_backend", settings.store.backend, ("store", "backend")),
        ("embedder", settings.embedder.provider, ("embedder", "provider")),
        ("lm_provider", settings.lm.provider, ("lm", "provider")),
    ):
        if known.find(kind, name) is None:
            raise known.unknown(kind, name, where=f"{settings.where(*key)}: ")


def register(plugin: object, name: str | None = None) -> None:
    """Add a module or object whose `@hookimpl` functions register things (see `lmspace_core.hookspecs`)."""
    _PLUGINS.register(plugin, name)


def unregister(plugin: object) -> None:
    _PLUGINS.unregister(plugin)


def installed() -> list[PluginInfo]:
    """Every plugin, built-ins included, with its version (installed packages) and what it registers."""
    return _PLUGINS.installed()
