"""Shared fixtures: real settings files, real SQLite data directories, the real embedding model (loaded once)."""

from __future__ import annotations

import html
import os
import re
import sys
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

# Read by LiteLLM and DSPy when first imported: no price-map download, no cache in the user's home.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("DSPY_CACHEDIR", tempfile.mkdtemp(prefix="lmspace-dspy-cache-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from lmspace_core.config import Settings, load_config
from lmspace_core.workspace import Workspace

DATA = Path(__file__).parent / "data"
# The int8 embedding model is built once (tens of seconds) and shared by every test's data directory; its folder
# is keyed by the model's hash and recipe, so a stale one is never reused.
MODEL_CACHE = Path(tempfile.gettempdir()) / "lmspace-test-models"


def write_config(directory: Path, extra: str = "") -> Path:
    """An lmspace.yaml in `directory` whose data directory is `directory/home` (the embedder's cache is shared)."""
    path = directory / "lmspace.yaml"
    extra = extra if not extra or extra.endswith("\n") else f"{extra}\n"
    # Last, so that the lines of `extra` keep their numbers for tests of error messages.
    path.write_text(f"data_dir: {directory / 'home'}\n{extra}embedder:\n  cache_dir: {MODEL_CACHE}\n")
    return path


def skip_unless_installed(present: bool, what: str, install: str) -> None:
    """Skip a test that needs a system part `uv sync` does not install (Debian's Chromium, Pyodide from npm).

    `.ci/run` installs them and sets REQUIRE_ALL_TEST_PARTS=1, so in CI a missing part fails instead of skipping.
    """
    if present:
        return
    message = f"{what} is not installed ({install})"
    if os.environ.get("REQUIRE_ALL_TEST_PARTS"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _caller_settings_ignored(monkeypatch):
    """The caller's `LMSPACE_*` variables (LMSPACE_HOME, LMSPACE_ENTERPRISE, ...) must not change any test."""
    for name in [name for name in os.environ if name.startswith("LMSPACE_")]:
        monkeypatch.delenv(name)


def start_test_emulators(workdir: Path | None = None):
    """Azurite and the Cosmos DB emulator on free loopback ports (data kept in `workdir` across restarts, if given);
    the test is skipped, or fails in CI, when Azurite is not installed."""
    from lmspace_core.emulators.launch import azurite_command, start_emulators

    skip_unless_installed(azurite_command() is not None, "Azurite", "npm ci")
    return start_emulators(workdir)


@pytest.fixture(scope="session")
def azure_emulators():
    """Azurite and the Cosmos DB emulator for the whole session (about 3 s to start), on free loopback ports."""
    emulators = start_test_emulators()
    yield emulators
    emulators.stop()


def azure_environment(emulators) -> dict[str, str]:
    """Settings for the emulators, with a fresh database, blob container and job table: tests do not share data."""
    name = f"t{uuid.uuid4().hex[:12]}"
    return {
        **emulators.environment(),
        "LMSPACE_STORE__AZURE__COSMOS_DATABASE": name,
        "LMSPACE_STORE__AZURE__BLOB_CONTAINER": name,
        "LMSPACE_STORE__AZURE__JOBS_TABLE": name,
    }


def unreachable_environment(emulators, online: dict[str, str]) -> dict[str, str]:
    """`online`'s settings with every Azure endpoint a closed loopback port: Azure as an outage shows it."""
    storage = online["LMSPACE_STORE__AZURE__CONNECTION_STRING"]
    for port in (emulators.blob_port, emulators.queue_port, emulators.table_port):
        storage = storage.replace(f":{port}/", ":9/")
    return {**online, "LMSPACE_STORE__AZURE__COSMOS_ENDPOINT": "https://127.0.0.1:9/",
            "LMSPACE_STORE__AZURE__CONNECTION_STRING": storage}


@contextmanager
def offline_dashboard(monkeypatch, config: Path, emulators, online: dict[str, str]):
    """The dashboard's own workspace (`get_workspace`) on `config`, every Azure endpoint of `online` unreachable."""
    import streamlit as st

    from lmspace_ui.resources import get_workspace

    monkeypatch.setenv("LMSPACE_CONFIG", str(config))
    for name, value in unreachable_environment(emulators, online).items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    workspace = get_workspace()
    try:
        yield workspace
    finally:
        st.cache_resource.clear()
        workspace.close()


@pytest.fixture(params=["embedded", "azure"])
def backend(request) -> str:
    """Run a test once per store backend: the embedded default and Azure on the emulators."""
    return request.param


@pytest.fixture(autouse=True)
def _keep_the_main_module():
    """Streamlit's AppTest installs each script it runs as `__main__` and leaves it there, so a process started later
    with multiprocessing's spawn would run that script again (and fail); put pytest's own back after each test."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture
def backend_environment(request) -> dict[str, str]:
    """The `LMSPACE_*` settings of the test's store: none for the embedded default, the emulators' (with fresh
    names) when the test asks for the `backend` parameter and it is `azure`."""
    if "backend" in request.fixturenames and request.getfixturevalue("backend") == "azure":
        return azure_environment(request.getfixturevalue("azure_emulators"))
    return {}


@pytest.fixture
def settings(tmp_path: Path, backend_environment) -> Settings:
    """Embedded settings, or Azure ones on the emulators when the test also asks for the `backend` parameter."""
    return load_config(write_config(tmp_path), env=backend_environment)


@pytest.fixture
def workspace(settings: Settings):
    opened = Workspace(settings)
    yield opened
    opened.close()


@pytest.fixture
def app_workspace(tmp_path: Path, monkeypatch, backend_environment):
    """The workspace the dashboard pages use, on a fresh data directory (LMSPACE_CONFIG points at it); on the
    emulators when the test asks for the `backend` parameter and it is `azure`."""
    import streamlit as st

    from lmspace_ui.resources import get_workspace

    monkeypatch.setenv("LMSPACE_CONFIG", str(write_config(tmp_path)))
    for name, value in backend_environment.items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    workspace = get_workspace()
    yield workspace
    st.cache_resource.clear()
    workspace.close()


APP = str(Path(__file__).parent.parent / "Home.py")


def read(markdown: str) -> str:
    """What a person reads of a string the dashboard renders as markdown (pages escape user text for markdown)."""
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)
    return html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip()
