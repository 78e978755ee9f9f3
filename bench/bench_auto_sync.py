"""What the automatic-sync check adds to every ingest into a `sync.auto_sync` space, by the size of its delta.

    uv run python bench/bench_auto_sync.py [--changes 10 1000 10000] [--repeat 20]

The check (`lmspace_core.sync.auto.after_ingest`) runs after each successful ingest: it opens the sync state, reads
the space's change log since its last sync, collapses it into the delta and, when the delta passed
`sync.auto_sync_items`, puts one request on the queue (folder queue here). Documents are written straight into the
store with placeholder vectors (`bench_sync.populate`), so nothing is embedded. The threshold is set above the delta
(the common case: not due yet) and, on a second line, below it with a request already waiting.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import populate  # noqa: E402

from lmspace_core.config import load_config  # noqa: E402
from lmspace_core.domain import IngestReport  # noqa: E402
from lmspace_core.sync import auto  # noqa: E402
from lmspace_core.workspace import Workspace  # noqa: E402


def per_check_ms(changes: int, threshold: int, repeat: int) -> float:
    with tempfile.TemporaryDirectory() as home:
        config = Path(home) / "lmspace.yaml"
        config.write_text(f"data_dir: {home}/data\nsync:\n  auto_sync: [bench]\n  auto_sync_items: {threshold}\n")
        workspace = Workspace(load_config(config, env={}))
        try:
            space = populate(workspace, changes)
            report = IngestReport(space.id)
            auto.after_ingest(workspace, space, report)  # the first check queues when due; later ones see it waiting
            started = time.perf_counter()
            for _ in range(repeat):
                auto.after_ingest(workspace, space, report)
            return (time.perf_counter() - started) / repeat * 1000
        finally:
            workspace.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, nargs="+", default=[10, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print("| changes in the delta | not due: ms per ingest | due, request waiting: ms per ingest |")
    print("|---:|---:|---:|")
    for changes in args.changes:
        not_due = per_check_ms(changes, changes + 1, args.repeat)
        waiting = per_check_ms(changes, max(1, changes // 2), args.repeat)
        print(f"| {changes:,} | {not_due:.1f} | {waiting:.1f} |")
    print(f"DSPy imported: {'dspy' in sys.modules}; torch imported: {'torch' in sys.modules}")


if __name__ == "__main__":
    main()
