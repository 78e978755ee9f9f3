"""Where input bytes come from: a single file, a folder or a zip archive, read safely.

Nothing here trusts what it is given. Sizes are checked before anything is read and every read is bounded, so a
huge file or a lying zip header cannot exhaust memory; a zip archive is validated as a whole (unsafe paths, too many
entries, too much declared content, zip bombs) before a single entry is handed out. Nothing is ever extracted to
disk: entries are read straight from the archive, opened once. A folder or archive is listed with every entry it
leaves out for safety (links, special files), cannot name (not UTF-8) or cannot read (a type LMSpace does not read),
so nothing vanishes silently.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import stat
import struct
import threading
import weakref
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from lmspace_core.errors import IngestError
from lmspace_core.plugins import registry

if TYPE_CHECKING:
    from lmspace_core.ingest.loaders import LoadedDocument

_MIB = 1024 * 1024


@dataclass(frozen=True)
class IngestLimits:
    """Bounds that protect the process from oversized or malicious inputs."""

    max_file_bytes: int = 50 * _MIB
    max_zip_total_bytes: int = 500 * _MIB
    max_zip_entries: int = 20_000
    max_compression_ratio: float = 200.0


# How a file type becomes text: `loader(data, path, limits)`; registered per extension through the plugin hooks.
DocumentLoader = Callable[[bytes, str, IngestLimits], "LoadedDocument"]


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
NOT_UTF8_NAME = "its name is not valid UTF-8; rename it (e.g. with `convmv`) and ingest it again"


# Plain-text documents that by convention carry no extension, or a distribution's suffix instead of one
# (`README`, `copyright`, `README.Debian`, `changelog.Debian.gz`): most of what /usr/share/doc holds.
_TEXT_DOCUMENT_NAMES = frozenset({
    "readme", "news", "changelog", "changes", "history", "copyright", "copying", "license", "licence", "authors",
    "contributors", "credits", "thanks", "todo", "install", "notice", "bugs", "faq",
})
# Formats a conventional name may come in that are not text (`README.doc`, `LICENSE.png`): still unsupported.
_FORMATS = frozenset({
    ".doc", ".xls", ".ppt", ".odt", ".rtf", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".zip", ".tar", ".tgz",
    ".bz2", ".xz", ".7z", ".exe", ".dll", ".so", ".bin",
})
GZIP_SUFFIX = ".gz"
# The number an upload gets when its name repeats (`copyright (2)`, `README (2).Debian`: see inputs.upload_names).
_UPLOAD_NUMBER = re.compile(r" \(\d+\)$")
_QUALIFIER = re.compile(r"[-_]")  # what joins a well-known name to its qualifier: LICENSE-MIT, README_zh


def _suffix(path: str) -> str:
    """The extension that says what `path` holds: the one inside a `.gz`."""
    return PurePosixPath(PurePosixPath(path).name.lower().removesuffix(GZIP_SUFFIX)).suffix


def _conventional_text(path: str) -> bool:
    """A conventional text name whose suffix, if any, qualifies it (`.Debian`, `.amd64`) rather than a format.

    Conventional: a well-known name, also with a qualifier (`LICENSE-MIT`, `README_zh`), or an upper-case word
    (`COMPAT`, `INTRO`, `RBASH`), as Unix projects name notes; also when numbered as a repeated upload name (the
    `copyright` files of three packages uploaded together).
    """
    stem = _UPLOAD_NUMBER.sub("", PurePosixPath(path).name.split(".")[0])
    known = _QUALIFIER.split(stem, maxsplit=1)[0].lower() in _TEXT_DOCUMENT_NAMES
    conventional = known or (len(stem) >= 3 and stem.isalpha() and stem.isupper())
    return conventional and _suffix(path) not in _FORMATS


def _loader_key(path: str) -> str:
    """The extension whose loader reads `path`: its own when one is registered, `.txt` for a conventional name."""
    suffix = _suffix(path)
    if registry().find("loader", suffix) is None and _conventional_text(path):
        return ".txt"
    return suffix


def gunzipped(data: bytes, path: str, max_bytes: int) -> bytes:
    """The content of a gzip-compressed file, never more than `max_bytes` of it (a small file can expand hugely)."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as compressed:
            content = compressed.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(f"{path} is not a valid gzip file ({exc}); decompress it or upload the original") from None
    if len(content) > max_bytes:
        raise IngestError(f"{path} decompresses to more than {max_bytes // _MIB} MB (the ingest.max_file_mb limit)")
    return content


def is_supported(path: str) -> bool:
    """Whether `path` has an extension LMSpace can turn into text (a built-in type or one a plugin registered)."""
    return registry().find("loader", _loader_key(path)) is not None


def loader_for(path: str) -> DocumentLoader:
    """The loader registered for `path`'s extension, or an `IngestError` listing the supported ones."""
    found = registry().find("loader", _loader_key(path))
    if found is None:
        raise IngestError(f"{path} is not a supported file type (supported: {supported_description()})")
    return found.target


def doc_type_for(path: str) -> str:
    """The document type of a supported path: text, markdown, pdf, docx, html, csv, json or code."""
    suffix = _suffix(path)
    if suffix in _DOC_TYPES:
        return _DOC_TYPES[suffix]
    if suffix in _LANGUAGES:
        return "code"
    if _conventional_text(path):
        return "text"
    raise IngestError(f"{path} is not a supported file type (supported: {supported_description()})")


def language_for(path: str) -> str | None:
    """The programming (or configuration) language of a code file, None for documents."""
    return _LANGUAGES.get(_suffix(path))


def supported_extensions() -> list[str]:
    """Every extension `is_supported` accepts, sorted, for messages and file pickers."""
    return registry().names("loader")


def supported_description() -> str:
    """What `is_supported` accepts, in words for error messages."""
    return (f"{' '.join(supported_extensions())}, text files named like README, NEWS, changelog or copyright, "
            f"and any of these compressed with gzip ({GZIP_SUFFIX})")


def built_in_extensions() -> list[str]:
    """The extensions LMSpace reads without plugins."""
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
    shown = printable_name(str(path))
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise IngestError(f"{shown} does not exist") from None
    except OSError as exc:
        raise IngestError(f"{shown} cannot be read: {exc.strerror}") from None
    if path.is_dir():
        raise IngestError(f"{shown} is a folder, not a file; ingest it as a folder instead")
    if not path.is_file():
        raise IngestError(f"{shown} is not a regular file")
    return _disk_source(path, printable_name(path.name), size, limits)


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


@dataclass(frozen=True)
class LeftOut:
    """An entry of a folder or archive that is not read, and why: `failed` when the user meant it to be read but it
    cannot be (a name that is not UTF-8), otherwise it was skipped by a safety rule (a link, a special file) or, when
    `unsupported`, for its type."""

    path: str
    reason: str
    failed: bool = False
    unsupported: bool = False


UNSUPPORTED_REASON = "skipped: LMSpace does not read "


def _unsupported(path: str) -> LeftOut:
    suffix = PurePosixPath(path).suffix
    what = f"'{suffix}' files" if suffix else "files without an extension unless named like README, NEWS or copyright"
    return LeftOut(path, f"{UNSUPPORTED_REASON}{what} (`lmspace ingest --help` lists the types it reads)",
                   unsupported=True)


@dataclass(frozen=True)
class SourceListing:
    """What a folder or archive holds: the files to read, and every entry left out with its reason."""

    files: tuple[SourceFile, ...]
    left_out: tuple[LeftOut, ...] = ()


def printable_name(name: str) -> str:
    """`name` as a string any store and terminal can hold: bytes that are not UTF-8 (which `os` hands over as lone
    surrogates) are shown as `\\xNN` escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _not_utf8(path: str) -> LeftOut:
    return LeftOut(path, NOT_UTF8_NAME, failed=True)


_SPECIAL_FILES = (
    (stat.S_ISLNK, "a symbolic link; links are not followed, so nothing outside the folder is read"),
    (stat.S_ISFIFO, "a named pipe (FIFO), not a regular file"),
    (stat.S_ISCHR, "a character device, not a regular file"),
    (stat.S_ISBLK, "a block device, not a regular file"),
    (stat.S_ISSOCK, "a socket, not a regular file"),
)
_HARD_LINK = (
    "a hard link to a file that also has a name outside the folder (or in a skipped folder); copy the file in to "
    "ingest it"
)


def _special_kind(mode: int) -> str | None:
    return next((kind for test, kind in _SPECIAL_FILES if test(mode)), None)


def folder_listing(root: Path, limits: IngestLimits) -> SourceListing:
    """Every supported file under `root`, sorted by relative POSIX path, and what was left out.

    Tooling, dependency, build and hidden folders and hidden files are not read (and not listed: there can be
    thousands); files of a type LMSpace does not read are listed as such. Anything that could make the ingest read
    something other than a file of this folder is
    skipped and listed with its reason: symbolic links (to files or folders), FIFOs, devices and sockets, and hard
    links. A hard link has no "real" location to compare with the folder, so the rule is its link count: a file
    with several names is read only when all of them are supported files of this folder, otherwise one of its names
    is elsewhere (say, a link to `/etc/hostname`) and it is skipped. Names that are not valid UTF-8 fail.
    """
    if not root.is_dir():
        raise IngestError(f"{printable_name(str(root))} is not a folder")
    candidates: list[tuple[str, Path, os.stat_result]] = []
    left_out: list[LeftOut] = []
    names_inside: Counter[tuple[int, int]] = Counter()
    for dirpath, dirnames, filenames in os.walk(root):
        folder = Path(dirpath)
        kept = []
        for name in dirnames:
            if _is_skipped_dir(name):
                continue
            if (folder / name).is_symlink():  # os.walk lists links to folders but never enters them
                left_out.append(LeftOut(printable_name((folder / name).relative_to(root).as_posix()),
                                        f"skipped: {_SPECIAL_FILES[0][1]}"))
            else:
                kept.append(name)
        dirnames[:] = kept
        for name in filenames:
            file = folder / name
            try:
                info = file.lstat()
            except FileNotFoundError:  # removed while we walked: nothing left to ingest
                continue
            relative = file.relative_to(root).as_posix()
            if kind := _special_kind(info.st_mode):
                left_out.append(LeftOut(printable_name(relative), f"skipped: {kind}"))
            elif stat.S_ISREG(info.st_mode) and is_supported(name):
                candidates.append((relative, file, info))
                names_inside[(info.st_dev, info.st_ino)] += 1
            elif stat.S_ISREG(info.st_mode) and not name.startswith("."):
                left_out.append(_unsupported(printable_name(relative)))
    files = []
    for relative, file, info in sorted(candidates):
        display = printable_name(relative)
        if display != relative:
            left_out.append(_not_utf8(display))
        elif info.st_nlink > names_inside[(info.st_dev, info.st_ino)]:
            left_out.append(LeftOut(display, f"skipped: {_HARD_LINK}"))
        else:
            files.append(_disk_source(file, display, info.st_size, limits))
    return SourceListing(tuple(files), tuple(sorted(left_out, key=lambda entry: entry.path)))


def folder_sources(root: Path, limits: IngestLimits) -> list[SourceFile]:
    """The files `folder_listing` reads, for callers that do not report what was left out."""
    return list(folder_listing(root, limits).files)


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


def _check_ratio(name: str, what: str, declared: int, compressed: int, limits: IngestLimits) -> None:
    # Less than a megabyte is harmless however far it expands, and tiny repetitive files legitimately expand far.
    ratio = declared / max(compressed, 1)
    if declared > _MIB and ratio > limits.max_compression_ratio:
        raise IngestError(
            f"{name} looks like a zip bomb: {what} expands {ratio:.0f}x, over the "
            f"{limits.max_compression_ratio:g}x limit (ingest.max_compression_ratio)"
        )


def check_zip_sizes(archive: zipfile.ZipFile, name: str, limits: IngestLimits, archive_bytes: int) -> None:
    """Refuse an archive (a zip, or a zip-based format such as .docx) with too many entries, too much declared
    content, or content that expands suspiciously far (a zip bomb), before anything is decompressed.

    The expansion is checked per entry and over the whole archive: many entries that each stay under the per-entry
    floor can still add up to a bomb. The archive's compressed size is what its entries declare, but never more
    than its `archive_bytes`, so lying headers cannot dilute the ratio.
    """
    entries = archive.infolist()
    if len(entries) > limits.max_zip_entries:
        raise IngestError(
            f"{name} has {len(entries)} entries, over the limit of {limits.max_zip_entries} (ingest.max_zip_entries)"
        )
    total = sum(info.file_size for info in entries)
    if total > limits.max_zip_total_bytes:
        raise IngestError(
            f"{name} declares {_megabytes(total)} uncompressed, over the {limits.max_zip_total_bytes / _MIB:g} MB "
            "limit for an archive (ingest.max_zip_total_mb)"
        )
    for info in entries:
        _check_ratio(name, f"entry {info.filename!r}", info.file_size, info.compress_size, limits)
    compressed = min(sum(info.compress_size for info in entries), archive_bytes)
    _check_ratio(name, "the archive as a whole", total, compressed, limits)


def _is_tooling_entry(info: zipfile.ZipInfo) -> bool:
    """An entry in a skipped folder, or a hidden file: left out without a word, as in a folder."""
    *folders, name = PurePosixPath(info.filename).parts
    return name.startswith(".") or any(_is_skipped_dir(part) for part in folders)


_UTF8_NAME_FLAG = 0x800
_CENTRAL_HEADER = b"PK\x01\x02"
_CENTRAL_HEADER_SIZE = 46


def _unflag_invalid_utf8_names(directory: bytes) -> tuple[bytes, frozenset[bytes]]:
    """The central directory with the UTF-8 flag cleared on entries whose names are not UTF-8, and those names.

    `zipfile` decodes a flagged name strictly and aborts the whole archive on one bad name; unflagged, the name is
    read as cp437 (never fails), so the archive opens and that one entry can be reported.
    """
    data, position, invalid = bytearray(directory), 0, set()
    while data[position:position + 4] == _CENTRAL_HEADER and position + _CENTRAL_HEADER_SIZE <= len(data):
        (flags,) = struct.unpack_from("<H", data, position + 8)
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, position + 28)
        start = position + _CENTRAL_HEADER_SIZE
        raw_name = bytes(data[start:start + name_length])
        if flags & _UTF8_NAME_FLAG:
            try:
                raw_name.decode("utf-8")
            except UnicodeDecodeError:
                struct.pack_into("<H", data, position + 8, flags & ~_UTF8_NAME_FLAG)
                invalid.add(raw_name)
        position = start + name_length + extra_length + comment_length
    return bytes(data), frozenset(invalid)


class _DirectoryFixingFile:
    """A read-only file for `zipfile.ZipFile` that repairs false UTF-8 flags in the central directory while the
    archive is being opened (`zipfile` reads the whole directory in one `read`, starting at its first header)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self._opening = True
        self.invalid_names: frozenset[bytes] = frozenset()

    def opened(self) -> None:
        self._opening = False

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        if self._opening and data.startswith(_CENTRAL_HEADER):
            data, invalid = _unflag_invalid_utf8_names(data)
            self.invalid_names |= invalid
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()


class _OpenArchive:
    """A zip archive opened once, then listed, validated and read from that one open file.

    Reopening the archive per entry re-parses the whole central directory each time (quadratic: 5,000 entries took
    over two minutes). The file closes when the last source reading from it is gone.
    """

    def __init__(self, path: Path) -> None:
        file = _DirectoryFixingFile(path)
        try:
            self.zip = zipfile.ZipFile(file)
        except BaseException:
            file.close()
            raise
        file.opened()
        self.name = printable_name(path.name)
        self.invalid_names = frozenset(raw.decode("cp437") for raw in file.invalid_names)
        self._lock = threading.Lock()
        weakref.finalize(self, file.close)

    def read(self, info: zipfile.ZipInfo, display: str, limits: IngestLimits) -> bytes:
        if info.file_size > limits.max_file_bytes:
            raise _too_large(display, info.file_size, limits)
        if info.flag_bits & 0x1:
            raise IngestError(f"{display} is encrypted inside {self.name}; add it to the archive unencrypted")
        try:
            with self._lock, self.zip.open(info) as stream:
                return _read_bounded(stream, display, limits)
        except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError, EOFError) as exc:
            raise IngestError(f"{display} cannot be read from {self.name}: {exc}") from None


def zip_listing(zip_path: Path, limits: IngestLimits) -> SourceListing:
    """The supported files inside a zip archive, after validating the whole archive, and what was left out.

    Any unsafe entry path, too many entries, too much declared content or a zip bomb refuses the whole archive, and
    so does an archive with no entries at all. Directories, hidden files and files in skipped folders are left out
    silently; symbolic links and files of unsupported types are skipped and entries whose names are not UTF-8 fail,
    each listed with its reason.
    """
    name = printable_name(zip_path.name)
    try:
        archive = _OpenArchive(zip_path)
        _check_entry_paths(archive.zip, name)
        check_zip_sizes(archive.zip, name, limits, zip_path.stat().st_size)
    except FileNotFoundError:
        raise IngestError(f"{printable_name(str(zip_path))} does not exist") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise IngestError(f"{name} is not a readable zip archive ({exc})") from None
    entries = [info for info in archive.zip.infolist() if not info.is_dir()]
    if not entries:
        raise IngestError(f"{name} has no files in it (the archive is empty)")
    files, left_out = [], []
    for info in sorted(entries, key=lambda i: i.filename):
        if stat.S_ISLNK(info.external_attr >> 16):
            left_out.append(LeftOut(info.filename, "skipped: a symbolic link; links inside archives are not followed"))
        elif _is_tooling_entry(info):
            continue
        elif info.orig_filename in archive.invalid_names:
            shown = info.orig_filename.encode("cp437").decode("utf-8", "backslashreplace")
            left_out.append(_not_utf8(shown) if is_supported(info.filename) else _unsupported(shown))
        elif not is_supported(info.filename):
            left_out.append(_unsupported(info.filename))
        else:
            files.append(_zip_entry_source(archive, info, limits))
    return SourceListing(tuple(files), tuple(left_out))


def zip_sources(zip_path: Path, limits: IngestLimits) -> list[SourceFile]:
    """The files `zip_listing` reads, for callers that do not report what was left out."""
    return list(zip_listing(zip_path, limits).files)


def _zip_entry_source(archive: _OpenArchive, info: zipfile.ZipInfo, limits: IngestLimits) -> SourceFile:
    display = PurePosixPath(info.filename).as_posix()
    return SourceFile(display, info.file_size, lambda: archive.read(info, display, limits))


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
