"""`ConfigManager`, the design's name for configuration: load once, read settings, show them safely."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lmspace_core.config import Settings, read_config


class ConfigManager:
    """`lmspace.yaml` plus `LMSPACE_*` variables, validated, with the effective settings masked for display.

    The design's flat keys (`cosmos_endpoint`, `openai_key`, ...) are accepted as aliases of their nested keys;
    `deprecations` says which were used and what to write instead.
    """

    def __init__(self, path: str | Path | None = None, env: Mapping[str, str] | None = None) -> None:
        self.settings, self.deprecations = read_config(path, env)

    @property
    def source(self) -> str:
        """Where the settings came from: the YAML file's path, or `defaults`."""
        return self.settings.source

    def effective(self) -> dict[str, Any]:
        """The settings in effect as plain data, secrets and URL credentials masked."""
        return self.settings.masked_dict()

    def get(self, dotted_key: str) -> Any:
        """One setting by its dotted key, e.g. `lm.provider`; raises `KeyError` naming an unknown key."""
        value: Any = self.settings
        for part in dotted_key.split("."):
            if not hasattr(value, part):
                raise KeyError(f"no setting {dotted_key}")
            value = getattr(value, part)
        return value
