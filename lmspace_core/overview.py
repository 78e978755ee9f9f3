"""What a space holds and when it last changed, computed once for every page and command that shows it.

The Home and Spaces pages used to compute "last update" each their own way (one ignored edits of the space itself)
and showed different figures for the same space.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lmspace_core.domain import Space, SpaceStats
from lmspace_core.workspace import Workspace


@dataclass(frozen=True)
class SpaceSummary:
    """A space with its counts; `last_update` is its latest change, to a document or to the space's settings."""

    space: Space
    documents: int
    chunks: int
    bytes: int
    last_update: datetime

    @classmethod
    def of(cls, space: Space, stats: SpaceStats) -> SpaceSummary:
        changes = [space.updated_at, *([stats.last_update] if stats.last_update else [])]
        return cls(space, stats.documents, stats.chunks, stats.bytes, max(changes))


def space_summaries(workspace: Workspace) -> list[SpaceSummary]:
    """Every space of the workspace's enterprise with its counts, in the store's order."""
    return [SpaceSummary.of(space, workspace.space_stats(space)) for space in workspace.list_spaces()]
