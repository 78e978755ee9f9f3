"""Turn what a user hands to `ingest` (paths, folders, zips, `{path: content}` mappings) into named inputs.

Naming rules, shared by the CLI, the Python API and the dashboard: a single file is named by its file name; the
files of a folder or zip are named `<folder-or-zip-name>/<relative path>`; the entries of a mapping keep their keys.
A folder, zip or mapping whose files are mostly code (or that carries a project marker such as `pyproject.toml`)
becomes a *codebase*: its documents remember the codebase name, so research can rebuild `{path: content}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lmspace_core.errors import IngestError
from lmspace_core.ingest.sources import (
    IngestLimits,
    SourceFile,
    file_source,
    folder_sources,
    is_supported,
    looks_like_codebase,
    supported_extensions,
    zip_sources,
)


@dataclass(frozen=True)
class IngestItem:
    """One document-to-be: its name in the space, its codebase (if any), and its bytes, or why it cannot be read."""

    source: str
    codebase: str | None
    file: SourceFile | None
    error: str = ""


def _failed(source: str, reason: str) -> IngestItem:
    return IngestItem(source=source, codebase=None, file=None, error=reason)


def _grouped(name: str, files: Iterable[SourceFile], as_codebase: bool | None) -> list[IngestItem]:
    files = list(files)
    is_codebase = looks_like_codebase(f.path for f in files) if as_codebase is None else as_codebase
    codebase = name if is_codebase else None
    return [IngestItem(source=f"{name}/{f.path}", codebase=codebase, file=f) for f in files]


def items_from_path(path: Path, limits: IngestLimits, as_codebase: bool | None = None) -> list[IngestItem]:
    """Resolve one path: a file, a folder (recursively) or a `.zip` archive."""
    if path.is_dir():
        return _grouped(path.resolve().name, folder_sources(path, limits), as_codebase)
    if not path.exists():
        return [_failed(str(path), "no such file or folder")]
    if path.suffix.lower() == ".zip":
        try:
            return _grouped(path.stem, zip_sources(path, limits), as_codebase)
        except IngestError as error:
            return [_failed(path.name, str(error))]
    if not is_supported(path.name):
        return [_failed(path.name, f"unsupported file type '{path.suffix or path.name}' "
                                   f"(supported: {' '.join(supported_extensions())} and .zip)")]
    try:
        return [IngestItem(source=path.name, codebase=None, file=file_source(path, limits))]
    except IngestError as error:
        return [_failed(path.name, str(error))]


def memory_source(path: str, content: str | bytes) -> SourceFile:
    """A source held in memory (pasted text, a mapping entry, an uploaded file)."""
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    return SourceFile(path=path, size=len(data), read=lambda: data)


def items_from_mapping(
    files: Mapping[str, str | bytes], name: str = "codebase", as_codebase: bool | None = None
) -> list[IngestItem]:
    """Resolve a `{path: content}` mapping; keys must be relative POSIX paths."""
    items = []
    for key in files:
        parts = PurePosixPath(key).parts
        if not key or key.startswith("/") or ".." in parts or "\\" in key:
            items.append(_failed(key, "paths in a mapping must be relative and stay inside it"))
    if items:
        return items
    sources = [memory_source(path, content) for path, content in files.items()]
    is_codebase = looks_like_codebase(files) if as_codebase is None else as_codebase
    if not is_codebase:
        return [IngestItem(source=s.path, codebase=None, file=s) for s in sources]
    return [IngestItem(source=f"{name}/{s.path}", codebase=name, file=s) for s in sources]
