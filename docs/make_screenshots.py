"""Screenshots of every dashboard page for the README, taken in Debian's Chromium.

    uv run python docs/make_screenshots.py [--only sync_jobs ...]

Builds a throwaway data directory with the shipped sample space and LMSpace's own `lmspace_core` folder as a code
space, starts the dashboard, asks one question in Chat and runs one research task, and writes
`docs/screenshots/<page>.png`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from lmspace_core.config import load_config
from lmspace_core.sync.manager import SyncManager
from lmspace_core.samples import SAMPLE_DESCRIPTION, SAMPLE_INSTRUCTIONS, SAMPLE_SPACE, sample_documents
from lmspace_core.workspace import Workspace
from lmspace_ui.launch import free_port, launch_chromium, start_dashboard, wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("home", "spaces", "upload", "sync_jobs", "settings", "chat", "research")
OUT = ROOT / "docs" / "screenshots"


def populate(config: Path, with_code: bool) -> None:
    workspace = Workspace(load_config(config, env={}))
    sample = workspace.create_space(SAMPLE_SPACE, SAMPLE_DESCRIPTION, SAMPLE_INSTRUCTIONS)
    workspace.ingest(sample, {name: data for name, data in sample_documents()})
    manager = SyncManager(workspace)
    manager.sync_to_llm(space=sample, wait=True)  # a finished local sync for the Sync Jobs page
    manager.close()
    if with_code:
        code = workspace.create_space("lmspace-code", "LMSpace's own core library, as a codebase")
        workspace.ingest(code, ROOT / "lmspace_core", as_codebase=True)
    workspace.close()


def settle(page) -> None:
    """Wait for the script run to end and for lazily drawn parts (tables, links, charts) to replace their skeletons."""
    page.wait_for_timeout(500)
    page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=120_000)
    page.wait_for_function("document.querySelectorAll('[data-testid=stSkeleton]').length === 0", timeout=30_000)
    page.wait_for_timeout(1000)


def main() -> None:
    parser = argparse.ArgumentParser(description="Screenshots of the dashboard pages for the README.")
    parser.add_argument("--only", nargs="+", choices=PAGES, default=PAGES, help="take only these pages")
    only = parser.parse_args().only
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lmspace-screens-") as home:
        config = Path(home) / "lmspace.yaml"
        config.write_text(f"data_dir: {home}/data\nsync:\n  local:\n    epochs: 2\n")
        populate(config, with_code="research" in only)
        port = free_port()
        server = start_dashboard(port, env={"LMSPACE_CONFIG": str(config)})
        try:
            wait_until_ready(port)
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                base = f"http://127.0.0.1:{port}"
                for name in [page_name for page_name in PAGES[:5] if page_name in only]:
                    page.goto(f"{base}/{'' if name == 'home' else name}")
                    page.get_by_role("heading").first.wait_for(timeout=60_000)
                    settle(page)
                    page.screenshot(path=OUT / f"{name}.png")
                if "chat" not in only:
                    browser.close()
                    return
                page.goto(f"{base}/chat")
                settle(page)
                question = page.get_by_placeholder(f"Ask {SAMPLE_SPACE}")
                question.fill("How long are financial records kept?")
                question.press("Enter")
                page.get_by_text("[1] ").first.wait_for(timeout=120_000)
                page.get_by_text("[1] ").first.click()
                page.wait_for_timeout(800)
                page.screenshot(path=OUT / "chat.png")
                if "research" not in only:
                    browser.close()
                    return
                page.goto(f"{base}/research")
                settle(page)
                page.get_by_label("Space", exact=True).click()
                page.get_by_role("option", name="lmspace-code").click()
                settle(page)
                page.get_by_label("Task").fill("where is class Workspace defined")
                page.get_by_label("Task").press("Enter")
                settle(page)
                page.get_by_role("button", name="Plan").click()
                settle(page)
                page.get_by_role("button", name="Run").click()
                page.get_by_text("research · succeeded").first.wait_for(timeout=120_000)
                settle(page)
                # The page scrolls inside Streamlit's main container, not the window: scroll the findings into view.
                page.get_by_role("heading", name="Research jobs").evaluate("heading => heading.scrollIntoView()")
                page.wait_for_timeout(800)
                page.screenshot(path=OUT / "research.png")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print("\n".join(str(path.relative_to(ROOT)) for path in sorted(OUT.glob("*.png"))))


if __name__ == "__main__":
    main()
