"""An installed wheel, not a checkout: the CLI, the dashboard and the research sandbox work from site-packages.

The wheel is built from this tree and installed into a fresh virtual environment; every command runs from a
folder outside the checkout, so nothing can be found by accident beside the sources.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from lmspace_ui.launch import free_port
from tests.conftest import skip_unless_installed
from tests.test_browser import MENU, browser, settle, sidebar_menu  # noqa: F401  (browser: the Chromium fixture)

ROOT = Path(__file__).parent.parent
PYODIDE = ROOT / "node_modules" / "pyodide"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The `bin` folder of a fresh virtual environment holding only the wheel and its dependencies."""
    uv = os.environ.get("UV") or shutil.which("uv")
    skip_unless_installed(uv is not None, "uv", "python -m pip install uv")
    build = tmp_path_factory.mktemp("wheel")
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(build), str(ROOT)], check=True, capture_output=True)
    [wheel] = build.glob("lmspace-*.whl")
    venv = build / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, capture_output=True)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(wheel)], check=True,
                   capture_output=True)
    return venv / "bin"


@pytest.fixture
def outside(tmp_path) -> tuple[Path, dict[str, str]]:
    """A working folder away from the checkout, with its own lmspace.yaml, and an environment without LMSPACE_*."""
    (tmp_path / "lmspace.yaml").write_text(f"data_dir: {tmp_path / 'home'}\n")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("LMSPACE_", "VIRTUAL_ENV"))}
    return tmp_path, env


def lmspace(installed: Path, outside, *args: str) -> subprocess.CompletedProcess:
    folder, env = outside
    return subprocess.run([str(installed / "lmspace"), *args], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=600)


def test_the_installed_package_is_imported_from_site_packages(installed, outside):
    folder, env = outside
    where = subprocess.run([str(installed / "python"), "-c", "import lmspace_core, lmspace; print(lmspace_core.__file__)"],
                           cwd=folder, env=env, capture_output=True, text=True, check=True).stdout
    assert "site-packages" in where and str(ROOT) not in where


def test_every_cli_command_works_from_the_wheel(installed, outside):
    folder, _ = outside
    (folder / "docs").mkdir()
    (folder / "docs" / "retention.md").write_text("# Retention\n\nInvoices are kept for seven years.\n")
    (folder / "code").mkdir()
    (folder / "code" / "app.py").write_text("def run():\n    print('hi')\n")
    assert lmspace(installed, outside, "--help").returncode == 0
    assert lmspace(installed, outside, "spaces", "create", "docs").returncode == 0
    ingested = lmspace(installed, outside, "ingest", "docs", "docs", "--json")
    assert ingested.returncode == 0, ingested.stderr
    answer = json.loads(lmspace(installed, outside, "ask", "docs", "How long are invoices kept?", "--json").stdout)
    assert answer["citations"] and "seven years" in answer["citations"][0]["quote"]
    [document] = json.loads(lmspace(installed, outside, "docs", "list", "docs", "--json").stdout)
    assert document["source"] == "docs/retention.md"
    found = json.loads(lmspace(installed, outside, "research", "code", "Find print statements", "--json").stdout)
    assert [(f["path"], f["line"]) for f in found["findings"]] == [("code/app.py", 2)]
    assert lmspace(installed, outside, "config", "check").returncode == 0
    assert lmspace(installed, outside, "spaces", "delete", "docs", "--yes").returncode == 0


def test_the_dashboard_starts_from_the_wheel_and_serves_its_pages(installed, outside, browser):
    folder, env = outside
    port = free_port()
    server = subprocess.Popen([str(installed / "lmspace"), "ui", "--port", str(port)], cwd=folder, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as health:
                    assert health.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the installed dashboard did not start"
                time.sleep(0.5)
        page = browser.new_page()  # a deep link as the server's first visit: the page runs without Home.py
        page.goto(f"http://127.0.0.1:{port}/sync_jobs")
        page.get_by_role("heading", name="Sync Jobs", exact=True).first.wait_for(timeout=60_000)
        settle(page)
        assert sidebar_menu(page) == MENU
        page.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    with pytest.raises(OSError):  # stopping `lmspace ui` stopped the dashboard: nothing serves its port any more
        urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)


SANDBOX_PROBE = """
import sys
from lmspace_core.errors import SandboxUnavailableError
from lmspace_core.research.sandbox import Sandbox, find_pyodide
try:
    find_pyodide()
except SandboxUnavailableError as error:
    print("missing:", error)
sandbox = Sandbox(pyodide_dir=sys.argv[1])
try:
    print("ran:", sandbox.execute("print(6 * 7)"))
finally:
    sandbox.shutdown()
"""


def test_the_research_sandbox_says_how_to_install_pyodide_and_runs_with_it(installed, outside):
    skip_unless_installed(PYODIDE.is_dir(), "Pyodide", "npm ci")
    folder, env = outside
    run = subprocess.run([str(installed / "python"), "-c", SANDBOX_PROBE, str(PYODIDE)], cwd=folder, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "npm install pyodide@0.29.4" in run.stdout and "research.pyodide_dir" in run.stdout
    assert "ran: 42" in run.stdout
