"""Raw source files on disk, one per document: `blobs/<enterprise>/<space>/<document>/<hash>`.

The content hash in the file name makes a replacement safe: a document's new raw file is written beside the old one
before the new version is committed, and the old one is removed after. Files of the earlier content-addressed layout
(`<space>/<hash[:2]>/<hash>`) are still read; `lmspace doctor` moves them to their documents' folders.

A kill can leave files here that nothing refers to (the raw file of a document just deleted, a temporary file of an
unfinished write, the folder of a deleted space); `inventory()` lists them for `lmspace doctor`, which removes them.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from lmspace_core.domain import Scope
from lmspace_core.errors import NotFoundError
from lmspace_core.stores.base import BlobPlacement, StoredBlob

_CONTENT_HASH = re.compile(r"[0-9a-f]{64}")
_READ_SIZE = 1024 * 1024


class LocalBlobStore:
    """Writes go to a temporary file and are renamed into place, so a crash never leaves half a blob."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def put(self, placement: BlobPlacement, data: bytes | Iterable[bytes]) -> None:
        path = self._path(placement)
        if path.exists():
            # Touched so that `lmspace doctor` sees it as in use: the document naming it is about to be committed.
            os.utime(path)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            for piece in [data] if isinstance(data, bytes) else data:
                tmp.write(piece)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, path)

    def get(self, placement: BlobPlacement) -> bytes:
        return self._existing(placement).read_bytes()

    def stream(self, placement: BlobPlacement) -> Iterator[bytes]:
        return self._pieces(self._existing(placement))

    @staticmethod
    def _pieces(path: Path) -> Iterator[bytes]:
        with path.open("rb") as file:
            while piece := file.read(_READ_SIZE):
                yield piece

    def delete(self, placement: BlobPlacement) -> None:
        path = self._path(placement)
        path.unlink(missing_ok=True)
        self._prune(path.parent)

    def delete_space(self, scope: Scope) -> None:
        shutil.rmtree(self._space_folder(scope), ignore_errors=True)

    def inventory(self) -> Iterator[StoredBlob]:
        for enterprise in sorted(self._root.glob("*")):
            for space in sorted(enterprise.glob("*")):
                scope = Scope(enterprise.name, space.name)
                for path in sorted(space.rglob("*")):
                    if path.is_file():
                        yield self._stored(scope, path)

    @staticmethod
    def _stored(scope: Scope, path: Path) -> StoredBlob:
        try:
            modified = path.stat().st_mtime
        except FileNotFoundError:
            modified = 0.0
        if not _CONTENT_HASH.fullmatch(path.name):
            return StoredBlob(str(path), scope, None, None, modified)
        legacy = path.parent.name == path.name[:2]
        return StoredBlob(str(path), scope, None if legacy else path.parent.name, path.name, modified)

    def remove(self, blob: StoredBlob) -> None:
        path = Path(blob.name)
        path.unlink(missing_ok=True)
        self._prune(path.parent)

    def _prune(self, folder: Path) -> None:
        """Remove emptied folders up to the enterprise's, so that a deleted space or document leaves no folder."""
        while folder.parent != self._root and folder.is_relative_to(self._root):
            try:
                folder.rmdir()
            except OSError:  # not empty, or already gone
                return
            folder = folder.parent

    def _existing(self, placement: BlobPlacement) -> Path:
        for path in (self._path(placement), self._legacy_path(placement)):
            if path.is_file():
                return path
        raise NotFoundError(f"The raw file of '{placement.source}' is missing from space {placement.scope.space_id}; "
                            "ingest it again to restore it.")

    def _space_folder(self, scope: Scope) -> Path:
        return self._root / scope.enterprise_id / scope.space_id

    def _path(self, placement: BlobPlacement) -> Path:
        return self._space_folder(placement.scope) / placement.document_id / placement.content_hash

    def _legacy_path(self, placement: BlobPlacement) -> Path:
        return self._space_folder(placement.scope) / placement.content_hash[:2] / placement.content_hash
