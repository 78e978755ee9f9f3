"""Where log records go: a file in the data directory, never the terminal a person or a script is reading.

Libraries warn through `logging` (pypdf about a malformed PDF) or `warnings`; with no handler configured, Python
prints such records to stderr, in the middle of a progress bar or beside `--json` output. The CLI routes them here.
"""

from __future__ import annotations

import logging
from pathlib import Path

LOG_FILE_NAME = "lmspace.log"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def route_logs_to_data_dir(data_dir: Path) -> Path:
    """Send every log record and Python warning to `<data_dir>/logs/lmspace.log`; return the file's path."""
    path = data_dir / "logs" / LOG_FILE_NAME
    root = logging.getLogger()
    if not any(getattr(handler, "baseFilename", None) == str(path) for handler in root.handlers):
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
        if root.level == logging.NOTSET or root.level > logging.INFO:
            root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    return path
