"""Time to first paint of the dashboard's Home and Chat pages, measured in a real browser.

    uv run python bench/bench_ui.py [--chunks 10000] [--repeats 5]

"Cold" starts a fresh dashboard server and opens the page in a new browser tab: it includes the server's first
script run (imports, workspace, SQLite). "Warm" reloads the same page (median of `--repeats`). First paint is the
moment the page's own content is visible: the Home heading, or Chat's question box for the selected space. The data
directory holds one space of `--chunks` chunks (synthetic vectors), so Chat renders a large space. Targets: cold
<= 3 s, warm <= 1 s. "First answer" asks one question on the Chat page of a fresh server and waits for the answer:
it includes loading the embedding model, and in a new data directory building its int8 form first (once). `--busy` keeps one core busy with another process throughout, as a
user's other work would.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_retrieval import fill_space  # noqa: E402

from lmspace_core.config import load_config  # noqa: E402
from lmspace_core.workspace import Workspace  # noqa: E402
from lmspace_ui.launch import free_port, launch_chromium, start_dashboard, wait_until_ready  # noqa: E402

SPACE = "big-space"


def first_paint(page, url: str, ready) -> float:
    started = time.perf_counter()
    page.goto(url)
    ready(page).wait_for(timeout=60_000)
    return time.perf_counter() - started


def chat_ready(page):
    return page.get_by_placeholder(f"Ask {SPACE}")


def first_answer(page) -> float:
    """Seconds from sending a question to the answer on screen (the embedder loads on the way)."""
    started = time.perf_counter()
    box = page.get_by_placeholder(f"Ask {SPACE}")
    box.fill("what does synthetic chunk 7 say?")
    box.press("Enter")
    # The synthetic space's random vectors match no sentence of the question: the answer is the extractive "not found"
    page.get_by_text(re.compile("Extracted passages|Not found in this space")).first.wait_for(timeout=120_000)
    return time.perf_counter() - started


def measure(browser, config: Path, path: str, ready, repeats: int) -> tuple[float, float, float | None]:
    port = free_port()
    server = start_dashboard(port, env={"LMSPACE_CONFIG": str(config)})
    try:
        wait_until_ready(port)
        page = browser.new_page()
        url = f"http://127.0.0.1:{port}/{path}"
        cold = first_paint(page, url, ready)
        answer = first_answer(page) if path == "chat" else None
        warm = statistics.median(first_paint(page, url, ready) for _ in range(repeats))
        page.close()
        return cold, warm, answer
    finally:
        server.terminate()
        server.wait(timeout=30)


def busy_core(busy: bool) -> subprocess.Popen | None:
    """Another process spinning on one core for the whole measurement, or None when measuring an idle machine."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--busy", action="store_true", help="keep one core busy with another process")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="lmspace-ui-bench-") as home:
        config = Path(home) / "lmspace.yaml"
        config.write_text(f"data_dir: {home}/data\n")
        workspace = Workspace(load_config(config, env={}))
        fill_space(workspace, SPACE, args.chunks, np.random.default_rng(3))
        workspace.close()
        pages = (
            ("Home", "", lambda page: page.get_by_role("heading", name="LMSpace", exact=True)),
            # The first question of a new data directory builds the int8 model (once), later servers only load it.
            (f"Chat ({args.chunks:,}-chunk space), new data directory", "chat", chat_ready),
            (f"Chat ({args.chunks:,}-chunk space), int8 model already built", "chat", chat_ready),
        )
        rows = []
        spinner = busy_core(args.busy)
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                for name, path, ready in pages:
                    rows.append((name, *measure(browser, config, path, ready, args.repeats)))
                browser.close()
        finally:
            if spinner:
                spinner.kill()
    print("| page | cold first paint (target <= 3 s) | warm first paint (target <= 1 s) | first answer (model load) |")
    print("|------|----------------------------------|----------------------------------|---------------------------|")
    for name, cold, warm, answer in rows:
        shown = f"{answer:.2f} s" if answer is not None else "-"
        print(f"| {name} | {cold:.2f} s | {warm:.2f} s | {shown} |")


if __name__ == "__main__":
    main()
