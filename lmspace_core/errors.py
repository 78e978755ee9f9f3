"""The few exceptions LMSpace raises on purpose.

Every message is written for the person who has to act on it: it names the thing that is wrong and, where there is
one, the command or setting that fixes it. The CLI prints the message and exits with `exit_code`; the dashboard shows
it with `st.error`. Nothing else should need a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lmspace_core.domain import IngestReport


class LMSpaceError(Exception):
    """Base of every error LMSpace raises for a user to read."""

    exit_code = 1


class ConfigError(LMSpaceError):
    """`lmspace.yaml` or an `LMSPACE_*` variable is malformed, unknown or incomplete."""

    exit_code = 3


class InvalidNameError(LMSpaceError):
    """A space or enterprise name breaks the naming rules: a usage error, like a bad option."""

    exit_code = 2


class NotFoundError(LMSpaceError):
    """A space, document or job that was named does not exist (in this enterprise)."""

    exit_code = 4


class AlreadyExistsError(LMSpaceError):
    """A name that must be unique (a space in an enterprise) is taken."""

    exit_code = 5


class IngestError(LMSpaceError):
    """One input could not be turned into text: corrupt, encrypted, binary, empty, too large or unsafe."""

    exit_code = 6


class EmbedderMismatchError(LMSpaceError):
    """A space was built with another embedding model than the one configured now."""

    exit_code = 7


class ModelError(LMSpaceError):
    """The language model could not be built or called."""

    exit_code = 8


class NotAvailableYetError(LMSpaceError):
    """A feature whose issue has not landed yet (codebase research, LLM sync)."""

    exit_code = 9


class SandboxUnavailableError(LMSpaceError):
    """Deno or Pyodide, which the sandbox for model-written code needs, is not installed."""

    exit_code = 10


class BackendError(LMSpaceError):
    """A storage service (Cosmos DB, Blob or Table Storage) refused a request or stayed unreachable."""

    exit_code = 11


class PluginError(LMSpaceError):
    """An installed plugin failed to load, or registered something malformed."""

    exit_code = 12


class IngestCancelledError(LMSpaceError):
    """An ingest was stopped on request (Ctrl+C, a cancelled job); `report` has the inputs finished before it stopped.

    What they stored stays stored: running the same ingest again skips those files as unchanged and goes on.
    """

    exit_code = 130  # what shells report for a command ended by Ctrl+C

    def __init__(self, report: IngestReport) -> None:
        self.report = report
        super().__init__(
            f"Ingest cancelled after {len(report.files)} input(s); what was stored stays stored. "
            "Run the same ingest again to continue: stored files are skipped as unchanged."
        )


class SandboxLimitError(LMSpaceError):
    """Code in the research sandbox passed one of its limits (memory, output, time); the message names the setting."""
