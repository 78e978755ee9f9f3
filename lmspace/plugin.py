"""Extending LMSpace with plugins: store backends, embedders, language models, document loaders, research strategies.

    from lmspace import plugin

    @plugin.register
    def register_loaders(register):
        register(".note", load_note)  # load_note(data: bytes, path: str, limits) -> LoadedDocument

A package makes its plugin load on its own by declaring it in the `lmspace.plugins` entry-point group:

    [project.entry-points."lmspace.plugins"]
    notes = "lmspace_notes"   # a module with @plugin.hookimpl functions

The hooks and what each `register` callback takes are documented in `lmspace_core.hookspecs`; `lmspace plugins` lists what is
installed. The built-in backends, models and loaders register through these same hooks.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import TypeVar

from lmspace_core import hookspecs
from lmspace_core import plugins as _plugins
from lmspace_core.domain import Finding
from lmspace_core.errors import PluginError
from lmspace_core.ingest.loaders import LoadedDocument, Section
from lmspace_core.plugins import PluginInfo, Registration, Registry, StrategyResult, hookimpl

__all__ = [
    "Finding",
    "LoadedDocument",
    "PluginError",
    "PluginInfo",
    "Registration",
    "Registry",
    "Section",
    "StrategyResult",
    "hookimpl",
    "installed",
    "register",
    "registry",
    "unregister",
]

T = TypeVar("T")
_HOLDERS: dict[object, SimpleNamespace] = {}  # a function registered on its own -> the plugin object made for it


def register(plugin: T, name: str | None = None) -> T:
    """Register `plugin` and return it, so it also works as a decorator.

    `plugin` is a module or object with `@hookimpl` functions, or a single function named after a hook
    (`register_loaders`, `register_lm_providers`, ...), which is marked as the implementation for you.
    """
    if inspect.isfunction(plugin):
        hooks = [hook for hook in vars(hookspecs) if hook.startswith("register_")]
        if plugin.__name__ not in hooks:
            raise PluginError(
                f"{plugin.__name__} is not an LMSpace hook; a plugin function is named one of: {', '.join(hooks)}."
            )
        holder = SimpleNamespace(**{plugin.__name__: hookimpl(plugin)})
        _plugins.register(holder, name or f"{plugin.__module__}.{plugin.__qualname__}")
        _HOLDERS[plugin] = holder
    else:
        _plugins.register(plugin, name)
    return plugin


def unregister(plugin: object) -> None:
    """Remove a plugin registered with `register`; one that is not registered is ignored."""
    _plugins.unregister(_HOLDERS.pop(plugin, plugin))


def registry() -> Registry:
    """Everything registered now: built-ins, installed plugins and run-time registrations."""
    return _plugins.registry()


def installed() -> list[PluginInfo]:
    """Every plugin, built-ins included, with what it registers."""
    return _plugins.installed()
