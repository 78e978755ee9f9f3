"""Raw source files on disk, content-addressed: `blobs/<enterprise>/<space>/<hash[:2]>/<hash>`."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from lmspace_core.domain import Scope
from lmspace_core.errors import NotFoundError


class LocalBlobStore:
    """Writes go to a temporary file and are renamed into place, so a crash never leaves half a blob."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def put(self, scope: Scope, content_hash: str, data: bytes) -> None:
        path = self._path(scope, content_hash)
        if path.exists():
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

    def _path(self, scope: Scope, content_hash: str) -> Path:
        return self._root / scope.enterprise_id / scope.space_id / content_hash[:2] / content_hash
