"""Turn what a user hands to `ingest` (paths, folders, zips, `{path: content}` mappings) into named inputs.

Naming rules, shared by the CLI, the Python API, the dashboard and research: a single file is named by its file
name; the files of a folder or zip are named `<name>/<path under its root>` (`named_listing`); the entries of a
mapping keep their keys.
A folder, zip or mapping whose files are mostly code (or that carries a project marker such as `pyproject.toml`)
becomes a *codebase*: its documents remember the codebase name, so research can rebuild `{path: content}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from lmspace_core.errors import IngestError
from lmspace_core.ingest.sources import (
    GZIP_SUFFIX,
    NOT_UTF8_NAME,
    IngestLimits,
    SourceFile,
    SourceListing,
    file_source,
    folder_listing,
    is_supported,
    looks_like_codebase,
    printable_name,
    supported_description,
    zip_listing,
)


@dataclass(frozen=True)
class IngestItem:
    """One document-to-be: its name in the space, its codebase (if any), and its bytes, or why it cannot be read.

    `skipped` marks an input left out on purpose by a safety rule (a link, a special file): reported with its
    reason, but not a failure.

    Knowledge entities also bring their metadata, optionally their own vector, and a content hash that covers the
    metadata (see `ingest.entities`).
    """

    source: str
    codebase: str | None
    file: SourceFile | None
    error: str = ""
    skipped: bool = False
    metadata: Mapping[str, Any] | None = None
    vector: np.ndarray | None = None
    content_hash: str | None = None


def _failed(source: str, reason: str) -> IngestItem:
    return IngestItem(source=source, codebase=None, file=None, error=reason)


def _unread_type(name: str) -> str:
    """The type of a file LMSpace does not read as its owner knows it: inside a `.gz`, the compressed file's (the
    list of what is read says gzip is)."""
    inner = name[: -len(GZIP_SUFFIX)] if name.lower().endswith(GZIP_SUFFIX) else name
    kind = f"'{PurePosixPath(inner).suffix or inner}'"
    return kind if inner == name else f"{kind} (compressed with gzip)"


def supported_list() -> str:
    """What an ingest reads, as failure messages end with it in parentheses (the dashboard says it once instead)."""
    return f"supported: {supported_description()}; and .zip"


def _grouped(name: str, listing: SourceListing, as_codebase: bool | None) -> list[IngestItem]:
    files = listing.files
    is_codebase = looks_like_codebase(f.path for f in files) if as_codebase is None else as_codebase
    codebase = name if is_codebase else None
    items = [IngestItem(source=f.path, codebase=codebase, file=f) for f in files]
    items += [IngestItem(source=entry.path, codebase=None, file=None, error=entry.reason,
                         skipped=not entry.failed) for entry in listing.left_out]
    unsupported = [PurePosixPath(entry.path).name for entry in listing.left_out if entry.unsupported]
    if len(unsupported) == len(items):
        held = f"it holds {len(unsupported)} file{'s' * (len(unsupported) != 1)} LMSpace does not read: " \
               f"{', '.join(unsupported[:5])}{', ...' * (len(unsupported) > 5)}; " if unsupported else ""
        return [_failed(name, f"has no files of a supported type ({held}{supported_list()})")]
    return sorted(items, key=lambda item: item.source)


def _single_top_folder(listing: SourceListing) -> str | None:
    """The one folder every listed entry of an archive sits in, if there is one (what zipping a folder makes).

    Files of types LMSpace does not read do not count: a `logo.png` beside the folder leaves its name as it was.
    """
    paths = [f.path for f in listing.files] + [entry.path for entry in listing.left_out if not entry.unsupported]
    tops = {path.split("/", 1)[0] for path in paths}
    return tops.pop() if len(tops) == 1 and all("/" in path for path in paths) else None


def named_listing(path: Path, limits: IngestLimits) -> tuple[str, SourceListing]:
    """A folder's or zip's name, and its entries named as the documents of a space: `<name>/<path under the root>`.

    The root of a folder is the folder. The root of a zip is the one top-level folder all its entries sit in, when
    there is one, else the archive: so `requests.zip` holding `requests/models.py` names it `requests/models.py`,
    as ingesting the folder itself would, not `requests/requests/models.py`. Ingest names files this way, and so
    does research on a zip, so a finding's path is the name of a document in the space. Raises `IngestError` for an
    unreadable or unsafe archive.
    """
    if path.is_dir():
        name = printable_name(path.resolve().name)
        return name, _prefixed(folder_listing(path, limits), f"{name}/")
    listing = zip_listing(path, limits)
    if top := _single_top_folder(listing):
        return top, listing
    name = printable_name(path.stem)
    return name, _prefixed(listing, f"{name}/")


def _prefixed(listing: SourceListing, prefix: str) -> SourceListing:
    return SourceListing(
        tuple(replace(f, path=prefix + f.path) for f in listing.files),
        tuple(replace(entry, path=prefix + entry.path) for entry in listing.left_out),
    )


def items_from_path(path: Path, limits: IngestLimits, as_codebase: bool | None = None) -> list[IngestItem]:
    """Resolve one path: a file, a folder (recursively) or a `.zip` archive.

    Names that are not UTF-8 are shown escaped (`\\xNN`); such a file fails on its own, its neighbours go on.
    """
    if path.is_dir():
        return _grouped(*named_listing(path, limits), as_codebase)
    name = printable_name(path.name)
    if not path.exists():
        return [_failed(printable_name(str(path)), "no such file or folder")]
    if path.suffix.lower() == ".zip":
        try:
            return _grouped(*named_listing(path, limits), as_codebase)
        except IngestError as error:
            return [_failed(name, str(error))]
    if not is_supported(path.name):
        return [_failed(name, f"unsupported file type {_unread_type(name)} ({supported_list()})")]
    if name != path.name:
        return [_failed(name, NOT_UTF8_NAME)]
    try:
        return [IngestItem(source=name, codebase=None, file=file_source(path, limits))]
    except IngestError as error:
        return [_failed(name, str(error))]


_MAX_NAME_BYTES = 255  # the longest file name common file systems hold


def upload_names(names: Sequence[str]) -> list[str]:
    """The document name of each uploaded file, in order: its base name (a browser may send a path), numbered when
    it repeats within one upload (`notes.txt`, `notes (2).txt`), so that no upload overwrites another.

    A name with nothing usable in it (`""`, `/`, `.`, `..`), a NUL byte or more than 255 bytes is refused.
    """
    taken: set[str] = set()
    unique = []
    for name in names:
        base = PurePosixPath(name.replace("\\", "/")).name
        if base in ("", ".", "..") or "\0" in base or len(base.encode("utf-8", "surrogatepass")) > _MAX_NAME_BYTES:
            raise IngestError(
                f"An uploaded file is named {printable_name(name)[:80]!r}, which cannot name a document; rename it "
                "(a file name of at most 255 bytes, not '.' or '..') and upload it again. Nothing was ingested."
            )
        stem, suffix = PurePosixPath(base).stem, PurePosixPath(base).suffix
        candidate, number = base, 1
        while candidate in taken:
            number += 1
            candidate = f"{stem} ({number}){suffix}"
        taken.add(candidate)
        unique.append(candidate)
    return unique


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
