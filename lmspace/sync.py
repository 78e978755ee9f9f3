"""LLM sync: `SyncManager` turns a space's changes into fine-tuning jobs and switches to better models."""

from lmspace_core.sync.manager import SyncManager

__all__ = ["SyncManager"]
