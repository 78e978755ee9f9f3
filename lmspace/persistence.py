"""Persistence: `PersistenceManager` stores and queries knowledge entities on the configured backend."""

from lmspace_core.persistence import PersistenceManager

__all__ = ["PersistenceManager"]
