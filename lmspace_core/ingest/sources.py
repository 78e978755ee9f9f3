"""Where input bytes come from: a single file, a folder or a zip archive, read safely.

Nothing here trusts what it is given. Sizes are checked before anything is read and every read is bounded, so a
huge file or a lying zip header cannot exhaust memory; a zip archive is validated as a whole (unsafe paths, too many
entries, too much declared content, zip bombs) before a single entry is handed out. Nothing is ever extracted to
disk: entries are read straight from the archive.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from lmspace_core.errors import IngestError

_MIB = 1024 * 1024


@dataclass(frozen=True)
class IngestLimits:
    """Bounds that protect the process from oversized or malicious inputs."""

    max_file_bytes: int = 50 * _MIB
    max_zip_total_bytes: int = 500 * _MIB
    max_zip_entries: int = 20_000
    max_compression_ratio: float = 200.0


@dataclass(frozen=True)
class SourceFile:
    """One input: a display path (relative path inside a folder/zip, or the file name), its size, and how to read it."""

    path: str
    size: int
    read: Callable[[], bytes]


_DOC_TYPES = {
    **dict.fromkeys((".txt", ".text", ".log", ".rst"), "text"),
    **dict.fromkeys((".md", ".markdown"), "markdown"),
    ".pdf": "pdf",
    ".docx": "docx",
    **dict.fromkeys((".html", ".htm"), "html"),
    ".csv": "csv",
    ".json": "json",
}

_LANGUAGES = {
    ".py": "python",
    **dict.fromkeys((".js", ".jsx", ".mjs"), "javascript"),
    **dict.fromkeys((".ts", ".tsx"), "typescript"),
    ".java": "java",
    ".go": "go",
    ".rs": "rust",
    **dict.fromkeys((".c", ".h"), "c"),
    **dict.fromkeys((".cpp", ".cc", ".hpp"), "cpp"),
    ".cs": "csharp",
    ".rb": "ruby",
    **dict.fromkeys((".sh", ".bash"), "shell"),
    ".sql": "sql",
    **dict.fromkeys((".yaml", ".yml"), "yaml"),
    ".toml": "toml",
    ".kt": "kotlin",
    ".swift": "swift",
    ".php": "php",
    ".scala": "scala",
    ".r": "r",
    ".lua": "lua",
    ".pl": "perl",
    **dict.fromkeys((".ini", ".cfg"), "ini"),
}

# Folders that hold tooling, dependencies or build output rather than a project's own knowledge. `__MACOSX` holds the
# resource forks macOS adds to zip archives (binary files named like the real ones).
_SKIPPED_DIRS = frozenset(
    {".git", "node_modules", "__pycache__", ".venv", "venv", "dist", "build", ".tox", "__MACOSX"}
)
_CODEBASE_MARKERS = frozenset(
    {"pyproject.toml", "package.json", "go.mod", "Cargo.toml", "pom.xml", "setup.py", "Makefile", ".git"}
)
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


def _suffix(path: str) -> str:
    return PurePosixPath(path).suffix.lower()


def is_supported(path: str) -> bool:
    """Whether `path` has an extension LMSpace can turn into text."""
    suffix = _suffix(path)
    return suffix in _DOC_TYPES or suffix in _LANGUAGES


def doc_type_for(path: str) -> str:
    """The document type of a supported path: text, markdown, pdf, docx, html, csv, json or code."""
    suffix = _suffix(path)
    if suffix in _DOC_TYPES:
        return _DOC_TYPES[suffix]
    if suffix in _LANGUAGES:
        return "code"
    raise IngestError(f"{path} is not a supported file type (supported: {', '.join(supported_extensions())})")


def language_for(path: str) -> str | None:
    """The programming (or configuration) language of a code file, None for documents."""
    return _LANGUAGES.get(_suffix(path))


def supported_extensions() -> list[str]:
    """Every extension `is_supported` accepts, sorted, for messages and file pickers."""
    return sorted({*_DOC_TYPES, *_LANGUAGES})


def _megabytes(size: int) -> str:
    return f"{size / _MIB:.1f} MB"


def _too_large(path: str, size: int | None, limits: IngestLimits) -> IngestError:
    actual = f"is {_megabytes(size)}" if size is not None else "is larger than that"
    return IngestError(
        f"{path} {actual}, over the {limits.max_file_bytes / _MIB:g} MB limit per file (ingest.max_file_mb); "
        "split it or raise the limit"
    )


def _read_bounded(stream: BinaryIO, path: str, limits: IngestLimits) -> bytes:
    """Read a whole stream, but never more than one byte past the limit, whatever its size claimed to be."""
    data = stream.read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        raise _too_large(path, None, limits)
    return data


def file_source(path: Path, limits: IngestLimits) -> SourceFile:
    """A single file on disk, shown by its file name."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise IngestError(f"{path} does not exist") from None
    except OSError as exc:
        raise IngestError(f"{path} cannot be read: {exc.strerror}") from None
    if path.is_dir():
        raise IngestError(f"{path} is a folder, not a file; ingest it as a folder instead")
    if not path.is_file():
        raise IngestError(f"{path} is not a regular file")
    return _disk_source(path, path.name, size, limits)


def _disk_source(path: Path, display: str, size: int, limits: IngestLimits) -> SourceFile:
    def read() -> bytes:
        if size > limits.max_file_bytes:
            raise _too_large(display, size, limits)
        try:
            with path.open("rb") as stream:
                return _read_bounded(stream, display, limits)
        except OSError as exc:
            raise IngestError(f"{display} cannot be read: {exc.strerror}") from None

    return SourceFile(display, size, read)


def _is_skipped_dir(name: str) -> bool:
    return name in _SKIPPED_DIRS or name.startswith(".")


def folder_sources(root: Path, limits: IngestLimits) -> Iterator[SourceFile]:
    """Every supported file under `root`, sorted by relative POSIX path.

    Tooling, dependency, build and hidden folders are skipped. Symbolic links are skipped too: following them could
    ingest files from outside the folder the user chose.
    """
    if not root.is_dir():
        raise IngestError(f"{root} is not a folder")
    found: list[tuple[str, Path, int]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not _is_skipped_dir(d)]
        for name in filenames:
            file = Path(dirpath, name)
            if not is_supported(name):
                continue
            try:
                info = file.lstat()
            except FileNotFoundError:  # removed while we walked: nothing left to ingest
                continue
            if stat.S_ISREG(info.st_mode):
                found.append((file.relative_to(root).as_posix(), file, info.st_size))
    for display, file, size in sorted(found):
        yield _disk_source(file, display, size, limits)


def _unsafe_reason(name: str) -> str | None:
    if name.startswith("/"):
        return "an absolute path"
    if _DRIVE_LETTER.match(name):
        return "a drive letter"
    if "\\" in name:
        return "a backslash"
    if ".." in name.split("/"):
        return "a '..' component"
    return None


def _check_entry_paths(archive: zipfile.ZipFile, name: str) -> None:
    for info in archive.infolist():
        reason = _unsafe_reason(info.filename)
        if reason:
            raise IngestError(f"{name} is unsafe: entry {info.filename!r} has {reason}; nothing was ingested from it")


def check_zip_sizes(archive: zipfile.ZipFile, name: str, limits: IngestLimits) -> None:
    """Refuse an archive (a zip, or a zip-based format such as .docx) with too many entries, too much declared
    content, or an entry that expands suspiciously far (a zip bomb), before anything is decompressed."""
    entries = archive.infolist()
    if len(entries) > limits.max_zip_entries:
        raise IngestError(
            f"{name} has {len(entries)} entries, over the limit of {limits.max_zip_entries} (max_zip_entries)"
        )
    total = sum(info.file_size for info in entries)
    if total > limits.max_zip_total_bytes:
        raise IngestError(
            f"{name} declares {_megabytes(total)} uncompressed, over the {limits.max_zip_total_bytes / _MIB:g} MB "
            "limit for an archive (max_zip_total_bytes)"
        )
    for info in entries:
        # Small entries are skipped: tiny, highly repetitive files compress far beyond any sane ratio legitimately.
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _MIB and ratio > limits.max_compression_ratio:
            raise IngestError(
                f"{name} looks like a zip bomb: entry {info.filename!r} expands {ratio:.0f}x, over the "
                f"{limits.max_compression_ratio:g}x limit (max_compression_ratio)"
            )


def _is_ingestible_entry(info: zipfile.ZipInfo) -> bool:
    parts = PurePosixPath(info.filename).parts
    if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
        return False
    return is_supported(info.filename) and not any(_is_skipped_dir(part) for part in parts[:-1])


def zip_sources(zip_path: Path, limits: IngestLimits) -> list[SourceFile]:
    """The supported files inside a zip archive, after validating the whole archive.

    Any unsafe entry path, too many entries, too much declared content or a zip bomb refuses the whole archive.
    Directories, symbolic links, unsupported files and files in skipped folders are left out.
    """
    name = zip_path.name
    try:
        with zipfile.ZipFile(zip_path) as archive:
            _check_entry_paths(archive, name)
            check_zip_sizes(archive, name, limits)
            entries = [info for info in archive.infolist() if _is_ingestible_entry(info)]
    except FileNotFoundError:
        raise IngestError(f"{zip_path} does not exist") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise IngestError(f"{name} is not a readable zip archive ({exc})") from None
    return [_zip_entry_source(zip_path, info, limits) for info in sorted(entries, key=lambda i: i.filename)]


def _zip_entry_source(zip_path: Path, info: zipfile.ZipInfo, limits: IngestLimits) -> SourceFile:
    display = PurePosixPath(info.filename).as_posix()

    def read() -> bytes:
        if info.file_size > limits.max_file_bytes:
            raise _too_large(display, info.file_size, limits)
        if info.flag_bits & 0x1:
            raise IngestError(f"{display} is encrypted inside {zip_path.name}; add it to the archive unencrypted")
        try:
            with zipfile.ZipFile(zip_path) as archive, archive.open(info) as stream:
                return _read_bounded(stream, display, limits)
        except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError, EOFError) as exc:
            raise IngestError(f"{display} cannot be read from {zip_path.name}: {exc}") from None

    return SourceFile(display, info.file_size, read)


def looks_like_codebase(paths: Iterable[str]) -> bool:
    """Whether a set of paths is a codebase: a project marker file exists, or most supported files are code."""
    supported = code = 0
    for path in paths:
        parts = PurePosixPath(path).parts
        if any(part in _CODEBASE_MARKERS for part in parts):
            return True
        if is_supported(path):
            supported += 1
            code += language_for(path) is not None
    return code * 2 > supported
