"""The dashboard in a real browser: upload a file through the page, ask in Chat, see the cited passage.

Runs Debian's Chromium through Playwright against `streamlit run Home.py` on a free loopback port and a temporary
data directory (the upload-and-chat test also on the Azure backend, on the emulators). Skipped when Chromium is not
installed, except in CI, where a missing browser is a failure.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect

from lmspace_ui.launch import CHROMIUM, free_port, launch_chromium, start_dashboard, wait_until_ready
from tests.conftest import azure_environment, skip_unless_installed, write_config

PASSAGE = "Visitors must be escorted by a badge holder at all times inside the Lisbon data centre."


@contextmanager
def dashboard_server(directory: Path, env: dict[str, str] | None = None, config: Path | None = None) -> Iterator[str]:
    """The dashboard server on `config` (default: a fresh data directory in `directory`), with the store `env`
    selects; yields its base URL."""
    port = free_port()
    config = config or write_config(directory)
    server = start_dashboard(port, env={"LMSPACE_CONFIG": str(config), **(env or {})}, log=directory / "server.log")
    try:
        wait_until_ready(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    with dashboard_server(tmp_path_factory.mktemp("dashboard")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    skip_unless_installed(Path(CHROMIUM).exists(), "Chromium", "apt-get install chromium")
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


def settle(page) -> None:
    """Wait until Streamlit has finished the rerun an interaction started (its status widget is gone)."""
    page.wait_for_timeout(300)
    page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=60_000)


def test_a_file_uploaded_in_the_page_is_cited_in_chat(dashboard, browser, tmp_path: Path):
    upload_and_ask(dashboard, browser, tmp_path)


def test_on_the_azure_backend_an_uploaded_file_is_cited_in_chat(browser, azure_emulators, tmp_path: Path):
    with dashboard_server(tmp_path, azure_environment(azure_emulators)) as url:
        upload_and_ask(url, browser, tmp_path)


def upload_and_ask(dashboard: str, browser, tmp_path: Path) -> None:
    """Create a space and upload a file on the Upload page, then ask in Chat and open the cited passage."""
    document = tmp_path / "visitor-policy.md"
    document.write_text(f"# Visitor policy\n\n{PASSAGE}\n\nDeliveries go to the loading bay on level -1.\n")
    page = browser.new_page()
    page.goto(f"{dashboard}/upload")
    page.get_by_label("Name of the new space").fill("browser-space")
    page.get_by_label("Name of the new space").press("Enter")
    settle(page)
    page.locator("input[type=file]").set_input_files(str(document))
    page.get_by_text("visitor-policy.md").first.wait_for()  # the uploader lists the file once it is uploaded
    page.get_by_role("button", name="Ingest").click()
    page.get_by_text("ingest · succeeded").first.wait_for(timeout=120_000)

    page.get_by_role("link", name="Chat").click()
    settle(page)
    page.get_by_text("No language model is configured").first.wait_for()  # the notice says answers are quoted
    citation = ask_and_open_first_citation(page, "browser-space", "visitor-policy.md")
    page.get_by_text("escorted by a badge holder").first.wait_for()
    page.reload()  # the conversation is kept: the question and its cited answer come back
    page.get_by_text("Who must escort visitors in the data centre?").first.wait_for(timeout=60_000)
    citation.first.wait_for(timeout=60_000)
    page.close()


def ask_and_open_first_citation(page, space: str, source: str):
    """On the Chat page of `space`, ask who escorts visitors and expand citation [1] (of `source`); return it."""
    chat_input = page.get_by_placeholder(f"Ask {space}")
    chat_input.fill("Who must escort visitors in the data centre?")
    chat_input.press("Enter")
    citation = page.get_by_text(re.compile(rf"\[1\] {re.escape(source)}"))
    citation.first.wait_for(timeout=120_000)
    citation.first.click()
    return citation


PAGES = (("", "LMSpace"), ("spaces", "Spaces"), ("upload", "Upload"), ("chat", "Chat"), ("research", "Research"),
         ("sync_jobs", "Sync Jobs"), ("settings", "Settings"))
LOCAL = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")  # what the dashboard may request
MENU = ["Home", "Spaces", "Upload", "Chat", "Research", "Sync Jobs", "Settings"]


def test_every_page_opens_without_an_error(dashboard, browser):
    page = browser.new_page()
    for path, heading in PAGES:
        page.goto(f"{dashboard}/{path}")
        page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=30_000)
        assert page.locator("[data-testid=stException]").count() == 0
    page.close()


def requests_outside(page) -> list[str]:
    """The addresses beyond this machine that `page` requests from now on (the list grows while it is used)."""
    outside = []
    page.on("request", lambda request: outside.append(request.url) if not request.url.startswith(LOCAL) else None)
    return outside


def sidebar_menu(page) -> list[str]:
    """The labels of the sidebar's page links, or a failure when Streamlit's own page list is in the sidebar too."""
    links = page.locator("[data-testid=stSidebar] [data-testid=stPageLink]")
    links.nth(len(MENU) - 1).wait_for(timeout=10_000)  # the sidebar can draw a moment after the page's heading
    assert page.locator("[data-testid=stSidebarNav]").count() == 0, "Streamlit's page list is shown"
    return [text.split("\n")[-1] for text in links.all_inner_texts()]  # the label follows the icon's name


def test_every_deep_link_shows_only_the_apps_own_menu(browser, tmp_path: Path):
    """A fresh server whose first visits are deep links runs `pages/<page>.py` without Home.py (Streamlit's legacy
    mode for a `pages/` folder): each page still shows the app's menu, once, no menu listing the files, and asks
    nothing from outside the machine."""
    deep_links = [(path, heading) for path, heading in PAGES if path]
    with dashboard_server(tmp_path) as url:
        page = browser.new_page()
        outside = requests_outside(page)
        page.goto(f"{url}/chat")
        page.locator("[data-testid=stSidebar]").get_by_role("link", name="Settings").click()  # a menu link works
        page.get_by_role("heading", name="Settings", exact=True).first.wait_for(timeout=30_000)
        for path, heading in [*deep_links, PAGES[0], *deep_links]:  # legacy mode until Home.py runs, then not
            page.goto(f"{url}/{path}")
            page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=30_000)
            settle(page)
            assert sidebar_menu(page) == MENU, path
            assert page.title() == "LMSpace", path  # the page settings apply whichever way the page was reached
            assert page.locator("[data-testid=stException]").count() == 0, path
        page.close()
    assert outside == []


def test_no_page_requests_anything_outside_the_machine(dashboard, browser):
    """The dashboard works offline: favicon, fonts and icons are served by the dashboard itself."""
    page = browser.new_page()
    outside = requests_outside(page)
    for path, heading in PAGES:
        page.goto(f"{dashboard}/{path}")
        page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=30_000)
        settle(page)
    page.close()
    assert outside == []


def test_a_pattern_task_on_an_uploaded_zip_shows_the_findings_table(dashboard, browser, tmp_path: Path):
    archive = tmp_path / "tool.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("tool/main.py", 'def main():\n    print("hello")\n    # print("no")\n')
        zipped.writestr("tool/util.py", "def shout(text):\n    print(\n        text.upper(),\n    )\n")
    page = browser.new_page()
    page.goto(f"{dashboard}/research")
    page.get_by_text("Upload a .zip").click()
    settle(page)
    page.locator("input[type=file]").set_input_files(str(archive))
    page.get_by_text("tool.zip").first.wait_for()
    page.get_by_label("Task").fill("Find print statements")
    page.get_by_label("Task").press("Enter")
    settle(page)
    page.get_by_role("button", name="Plan").click()
    settle(page)
    page.get_by_role("button", name="Run").click()
    page.get_by_text("research · succeeded").first.wait_for(timeout=60_000)
    page.get_by_text("2 findings in 2 of 2 files").first.wait_for()
    page.locator("[data-testid=stDataFrame]").first.wait_for(timeout=30_000)  # the findings table
    page.close()


def test_the_first_space_created_on_the_spaces_page_replaces_the_empty_state(browser, tmp_path: Path):
    """Creating a space redraws the page; saving its settings stays on the Settings tab; no widget warns."""
    with dashboard_server(tmp_path) as url:
        page = browser.new_page()
        page.goto(f"{url}/spaces")
        page.get_by_text("There are no spaces yet").first.wait_for(timeout=30_000)
        page.get_by_label("Name", exact=True).first.fill("contracts")
        page.get_by_role("button", name="Create space").click()
        page.get_by_text("Created space 'contracts'").first.wait_for(timeout=30_000)
        settle(page)
        assert page.get_by_text("There are no spaces yet").count() == 0
        page.get_by_role("tab", name="Settings").click()
        settle(page)
        page.locator("[class*=st-key-description_] input").fill("Signed contracts")
        page.get_by_role("button", name="Save changes").click()
        page.get_by_text("Saved the settings of 'contracts'").first.wait_for(timeout=30_000)
        settle(page)
        assert page.get_by_role("tab", name="Settings").get_attribute("aria-selected") == "true"
        assert page.get_by_role("button", name="Save changes").is_visible()
        page.close()
    assert "created with a default value" not in (tmp_path / "server.log").read_text()


def test_an_opened_document_downloads_as_it_was_uploaded(browser, tmp_path: Path):
    from lmspace_core.config import load_config
    from lmspace_core.workspace import Workspace

    original = f"# Visitor policy\n\n{PASSAGE}\n".encode()
    workspace = Workspace(load_config(write_config(tmp_path), env={}))
    workspace.ingest(workspace.create_space("policies"), {"visitor-policy.md": original})
    workspace.close()
    with dashboard_server(tmp_path) as url:
        page = browser.new_page()
        page.goto(f"{url}/spaces")
        page.get_by_role("heading", name="Spaces", exact=True).first.wait_for(timeout=30_000)
        chooser = page.get_by_label("Open a document")
        chooser.click()
        chooser.fill("visitor-policy")
        chooser.press("Enter")
        settle(page)
        with page.expect_download(timeout=30_000) as download:
            page.get_by_role("button", name="Download the original").click()
        assert download.value.suggested_filename == "visitor-policy.md"
        assert Path(download.value.path()).read_bytes() == original
        page.close()


def test_a_citation_expands_to_its_whole_passage_and_opens_it_among_the_documents_chunks(browser, tmp_path: Path):
    """Ask without a model: citation [1] shows the whole passage with the quote highlighted, and its link opens the
    Spaces page on the document, at the page of chunks that holds it, marked as the cited passage and scrolled to."""
    from lmspace_core.config import load_config
    from lmspace_core.workspace import Workspace

    steps = [f"## Step {n}\n\nTurn valve {n} a quarter clockwise and wait for the gauge to settle." for n in range(1, 24)]
    steps[16] = f"## Visitors\n\nThe site office keeps the visitor log. {PASSAGE} Badges are returned at the exit."
    workspace = Workspace(load_config(write_config(tmp_path), env={}))
    space = workspace.create_space("manual")
    workspace.ingest(space, {"site-manual.md": "# Site manual\n\n" + "\n\n".join(steps) + "\n"})
    document = workspace.document(space, "site-manual.md")
    [cited] = [chunk for chunk in workspace.chunks(space, document) if PASSAGE in chunk.text]
    workspace.close()
    assert cited.ordinal >= 10, "the cited chunk is not on the chunk viewer's first page"
    with dashboard_server(tmp_path) as url:
        page = browser.new_page()
        page.goto(f"{url}/chat")
        ask_and_open_first_citation(page, "manual", "site-manual.md")
        expander = page.locator("[data-testid=stExpander]").first
        expander.get_by_text("The site office keeps the visitor log.").wait_for()  # the whole passage
        quote = expander.locator("span", has_text="escorted by a badge holder").last
        assert quote.evaluate("node => getComputedStyle(node).backgroundColor") not in ("rgba(0, 0, 0, 0)", "")
        assert "site office" not in quote.inner_text(), "only the quoted sentence is highlighted"

        expander.get_by_role("link", name=f"Open chunk {cited.ordinal + 1} of site-manual.md").click()
        page.get_by_role("heading", name="Spaces", exact=True).first.wait_for(timeout=30_000)
        settle(page)
        assert f"document={document.id}" in page.url and f"chunk={cited.ordinal + 1}" in page.url
        page.get_by_text(f"Opened from a citation: chunk {cited.ordinal + 1} of site-manual.md").first.wait_for()
        page.get_by_text("Cited passage").first.wait_for(timeout=30_000)
        page.get_by_text(f"Chunk {cited.ordinal + 1} ·").first.wait_for()
        assert page.get_by_text("page 2 of 3").count() == 1
        expect(page.get_by_text(f"Chunk {cited.ordinal + 1} ·").first).to_be_in_viewport(timeout=30_000)  # scrolled to
        assert page.locator("[data-testid=stException]").count() == 0
        page.close()


def test_questions_go_on_in_a_conversation_last_continued_in_an_earlier_minute(browser, tmp_path: Path):
    """The picker labelled a conversation with the time it was last continued: each answer changed that label
    under the open select box, which then took its own old label for the chosen conversation, and the third
    question failed with "There is no conversation <label>"."""
    from lmspace_core.config import load_config
    from lmspace_core.conversations import ConversationStore
    from lmspace_core.stores.local.database import Database
    from lmspace_core.workspace import Workspace

    workspace = Workspace(load_config(write_config(tmp_path), env={}))
    space = workspace.create_space("policies")
    workspace.ingest(space, {"visitor-policy.md": f"# Visitor policy\n\n{PASSAGE}\n"})
    database = Database(workspace.settings.data_dir / "lmspace.db")
    earlier = ConversationStore(database).start(space.scope, "Who escorts visitors?")
    with database.write() as connection:  # yesterday's conversation, the one a fresh session opens
        connection.execute("UPDATE conversations SET updated_at = ? WHERE id = ?",
                           ("2026-01-01T09:00:00+00:00", earlier.id))
    workspace.close()
    questions = ["Who escorts visitors?", "who escorts visitors in lisbon", "what about the data centre?"]
    with dashboard_server(tmp_path) as url:
        page = browser.new_page()
        page.goto(f"{url}/chat")
        for answered, question in enumerate(questions, start=1):
            chat_input = page.get_by_placeholder("Ask policies")
            chat_input.fill(question)
            chat_input.press("Enter")
            failed = page.locator("[data-testid=stAlertContentError]")
            page.get_by_text("Extracted passages").nth(answered - 1).or_(failed).first.wait_for(timeout=120_000)
            settle(page)
            assert failed.count() == 0, failed.all_inner_texts()
        asked = page.locator("[data-testid=stChatMessage]:has([data-testid=stChatMessageAvatarUser]) "
                             "[data-testid=stChatMessageContent]")
        assert asked.all_inner_texts() == questions
        page.close()
