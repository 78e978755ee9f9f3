"""Configuration: `load_config` (lmspace.yaml + LMSPACE_* variables) and `ConfigManager`."""

from lmspace_core.config import Settings, load_config
from lmspace_core.config_manager import ConfigManager

__all__ = ["ConfigManager", "Settings", "load_config"]
