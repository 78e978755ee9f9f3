"""`lmspace migrate SPACE --to azure|embedded`: copy a space to the other backend and verify the copy."""

from __future__ import annotations

from typing import Annotated

import typer

from lmspace_core.cli import JsonFlag, SpaceArg, _handles_errors, _print_json, _progress_bar, _workspace, console
from lmspace_core.domain import to_json_data
from lmspace_core.errors import LMSpaceError


@_handles_errors
def migrate(
    space: SpaceArg,
    to: Annotated[str, typer.Option("--to", help="Target backend: azure or embedded.")],
    as_json: JsonFlag = False,
) -> None:
    """Copy a space (documents at their versions with the change history, chunks, vectors, raw files) to the other
    store backend as stored, without embedding anything again, then verify counts, versions, the history, vectors and
    a few searches. The source is left as it is; a copy that fails part-way is removed again."""
    from lmspace_core.migrate import migrate_space

    if to not in ("azure", "embedded"):
        raise LMSpaceError(f"--to must be azure or embedded, not '{to}'.")
    with _workspace() as workspace, _progress_bar(not as_json) as progress:
        report = migrate_space(workspace, workspace.space(space), to, progress)  # type: ignore[arg-type]
    if as_json:
        _print_json({**to_json_data(report), "verified": report.verified})
    else:
        console.print(
            f"Copied '{report.space}' from {report.source} to {report.target}: {report.documents} documents, "
            f"{report.chunks} chunks with their vectors (nothing re-embedded), {report.blobs} raw files, "
            f"{report.changes} entries of version history. Target holds {report.target_documents} documents "
            f"({report.matching_versions} at their original's version), {report.target_chunks} chunks and "
            f"{report.target_changes} history entries ({report.identical_changes} identical to the originals), "
            f"{report.identical_vectors} vectors identical to the originals; {report.sample_matches} of "
            f"{report.sample_searches} sample searches found the same best document."
        )
    if not report.verified:
        raise typer.Exit(1)
