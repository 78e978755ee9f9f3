"""Codebases as research reads them: a list of files and a way to read one file at a time.

Research streams: it lists paths and sizes up front (cheap) and reads each file only when it looks at it, so a tree
of tens of megabytes is never held in memory twice. A codebase can be a `{path: content}` mapping, a folder, a `.zip`
or a codebase already ingested into a space (read back from the blob store).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath

from wcmatch import glob

from lmspace_core.domain import Document
from lmspace_core.errors import IngestError, NotFoundError
from lmspace_core.ingest.inputs import memory_source, named_listing
from lmspace_core.ingest.loaders import decode_text
from lmspace_core.ingest.sources import IngestLimits, SourceFile, language_for
from lmspace_core.research.plan import FileSelection
from lmspace_core.stores.base import BlobPlacement, BlobStore


@dataclass(frozen=True)
class CodeFile:
    path: str
    size: int
    language: str | None


class Codebase:
    """Named files with lazy readers; `read` decodes text (and raises `IngestError` for binary content).

    `cached_at` is set for a space's code listed from the local copy while Azure was unreachable: the time that copy
    last matched Azure, which research results then name.
    """

    def __init__(self, name: str, files: Sequence[CodeFile], reader: Callable[[str], bytes],
                 cached_at: datetime | None = None) -> None:
        self.name = name
        self.files = tuple(sorted(files, key=lambda f: f.path))
        self._reader = reader
        self.cached_at = cached_at

    def read(self, path: str) -> str:
        return decode_text(self._reader(path), path)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @classmethod
    def from_sources(cls, name: str, sources: Sequence[SourceFile]) -> Codebase:
        readers = {source.path: source.read for source in sources}
        files = [CodeFile(source.path, source.size, language_for(source.path)) for source in sources]
        return cls(name, files, lambda path: readers[path]())

    @classmethod
    def from_mapping(cls, files: Mapping[str, str | bytes], name: str = "codebase") -> Codebase:
        return cls.from_sources(name, [memory_source(path, content) for path, content in files.items()])

    @classmethod
    def from_path(cls, path: Path, limits: IngestLimits = IngestLimits()) -> Codebase:
        """A folder (recursively, skipping vendored and hidden folders) or a `.zip` archive.

        Its files take the names that ingesting it gives them in a space (`named_listing`: `click/utils.py` for
        `utils.py` in the folder `click`), so a finding names the same file whether the folder, its zip or the space
        holding it was researched.
        """
        if path.is_dir() or path.suffix.lower() == ".zip" and path.is_file():
            name, listing = named_listing(path, limits)
            return cls.from_sources(name, listing.files)
        raise NotFoundError(f"{path} is neither a folder nor a .zip archive.")

    @classmethod
    def from_documents(cls, name: str, documents: Sequence[Document], blobs: BlobStore) -> Codebase:
        """Ingested documents read back from the blob store, under their names in the space."""
        by_source = {doc.source: doc for doc in documents}
        files = [CodeFile(doc.source, doc.size_bytes, language_for(doc.source)) for doc in documents]
        cached_at = min((doc.cached_at for doc in documents if doc.cached_at is not None), default=None)
        return cls(name, files, lambda path: blobs.get(BlobPlacement.of(by_source[path])), cached_at)


def describe(codebase: Codebase, max_paths: int = 200) -> str:
    """A compact description for a planner: counts, languages, top folders and some paths — never the content."""
    languages = Counter(f.language or "other" for f in codebase.files)
    folders = Counter(PurePosixPath(f.path).parts[0] if "/" in f.path else "." for f in codebase.files)
    lines = [
        f"codebase '{codebase.name}': {len(codebase.files)} files, {codebase.total_bytes:,} bytes",
        "languages: " + ", ".join(f"{lang} {count}" for lang, count in languages.most_common()),
        "top-level folders: " + ", ".join(f"{folder}/ ({count})" for folder, count in folders.most_common(20)),
        "files:",
        *(f"  {f.path} ({f.size:,} B)" for f in codebase.files[:max_paths]),
    ]
    if len(codebase.files) > max_paths:
        lines.append(f"  ... and {len(codebase.files) - max_paths} more")
    return "\n".join(lines)


# Globs as people write them: `**` for any depth, `{ts,tsx}` alternatives, `[A-Z]` classes, `!(test_*)` negation,
# dot-files included, and a pattern without a slash (`*.py`) matching the file name at any depth.
_GLOB_FLAGS = glob.GLOBSTAR | glob.BRACE | glob.EXTGLOB | glob.DOTGLOB | glob.MATCHBASE | glob.FORCEUNIX


@lru_cache(maxsize=256)
def _matcher(patterns: tuple[str, ...]) -> glob.WcMatcher:
    return glob.compile([p.removeprefix("./") for p in patterns], flags=_GLOB_FLAGS)


def matches_glob(path: str, pattern: str) -> bool:
    return _matcher((pattern,)).match(path)


def select_files(codebase: Codebase, selection: FileSelection) -> list[CodeFile]:
    """The files a plan's selection names (the content prefilter is applied while reading, not here)."""
    include, exclude = _matcher(selection.include), _matcher(selection.exclude) if selection.exclude else None
    return [
        f for f in codebase.files
        if include.match(f.path)
        and not (exclude and exclude.match(f.path))
        and (not selection.languages or f.language in selection.languages)
    ]


def why_nothing_selected(codebase: Codebase, selection: FileSelection) -> str:
    """Which part of a selection that picked no file ruled everything out, in words a user can act on."""
    if not codebase.files:
        return f"The codebase '{codebase.name}' has no readable files."
    included = [f for f in codebase.files if _matcher(selection.include).match(f.path)]
    if not included:
        return (f"No file of the {len(codebase.files)} in '{codebase.name}' matches the include globs "
                f"{list(selection.include)}; edit `files.include` (e.g. `src/**/*.{{ts,tsx}}`).")
    kept = [f for f in included if not (selection.exclude and _matcher(selection.exclude).match(f.path))]
    if not kept:
        return (f"{len(included)} files match the include globs but the exclude globs {list(selection.exclude)} "
                "remove all of them.")
    present = sorted({f.language or "other" for f in kept})
    return (f"{len(kept)} files match the globs, but none is in the languages {list(selection.languages)} "
            f"(they are: {', '.join(present)}).")


def read_or_none(codebase: Codebase, path: str) -> str | None:
    """The file's text, or None when it cannot be decoded (binary content is skipped by research)."""
    try:
        return codebase.read(path)
    except IngestError:
        return None
