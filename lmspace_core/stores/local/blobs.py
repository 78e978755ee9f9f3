"""Raw source files on disk, content-addressed: `blobs/<enterprise>/<space>/<hash[:2]>/<hash>`.

A kill can leave files here that nothing refers to (a blob whose document was just deleted, a temporary file of an
unfinished write, the folder of a deleted space); `files()` lists them for `lmspace doctor`, which removes them.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lmspace_core.domain import Scope
from lmspace_core.errors import NotFoundError

_CONTENT_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class BlobFile:
    """A file in the blob tree: a blob (`content_hash` set) or a leftover temporary file (`content_hash` None)."""

    scope: Scope
    path: Path
    content_hash: str | None


class LocalBlobStore:
    """Writes go to a temporary file and are renamed into place, so a crash never leaves half a blob."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def put(self, scope: Scope, content_hash: str, data: bytes) -> None:
        path = self._path(scope, content_hash)
        if path.exists():
            # Touched so that `lmspace doctor` sees it as in use: the document naming it is about to be committed.
            os.utime(path)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, path)

    def get(self, scope: Scope, content_hash: str) -> bytes:
        try:
            return self._path(scope, content_hash).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"No stored content {content_hash[:12]}… in space {scope.space_id}.") from None

    def delete(self, scope: Scope, content_hash: str) -> None:
        self._path(scope, content_hash).unlink(missing_ok=True)

    def delete_space(self, scope: Scope) -> None:
        shutil.rmtree(self._root / scope.enterprise_id / scope.space_id, ignore_errors=True)

    def space_folders(self) -> Iterator[tuple[Scope, Path]]:
        """The folder of every space that has blobs here."""
        for enterprise in sorted(self._root.glob("*")):
            for folder in sorted(enterprise.glob("*")):
                if folder.is_dir():
                    yield Scope(enterprise.name, folder.name), folder

    def files(self, scope: Scope) -> Iterator[BlobFile]:
        """Every file in a space's folder, blob or not."""
        for path in sorted((self._root / scope.enterprise_id / scope.space_id).rglob("*")):
            if path.is_file():
                is_blob = _CONTENT_HASH.fullmatch(path.name) and path.parent.name == path.name[:2]
                yield BlobFile(scope, path, path.name if is_blob else None)

    def _path(self, scope: Scope, content_hash: str) -> Path:
        return self._root / scope.enterprise_id / scope.space_id / content_hash[:2] / content_hash
