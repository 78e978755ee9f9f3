"""The test plugin (tests/plugin_pkg), made discoverable for the tests that ask for it and for nobody else.

It is not a dependency of the project (a user's `uv run` would then list a `.note` loader and a `scripted_notes`
model), so the `notes_plugin` fixture does what installing it would: the package folder and a `*.dist-info` with the
entry points of its pyproject.toml go on `sys.path` (and on PYTHONPATH for subprocesses), where `importlib.metadata`
finds entry points. The process's plugin manager is replaced for the test, so discovery runs again with that path
and the plugin is gone afterwards.
"""

from __future__ import annotations

import importlib
import os
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from lmspace_core import plugins

PACKAGE = Path(__file__).parent / "plugin_pkg"


def write_dist_info(directory: Path) -> Path:
    """The metadata an installer would write for tests/plugin_pkg, from its pyproject.toml."""
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    dist_info = directory / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = [
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entry_points.items())
        for group, entry_points in project["entry-points"].items()
    ]
    (dist_info / "entry_points.txt").write_text("\n".join(lines))
    return directory


@pytest.fixture
def notes_plugin(tmp_path_factory, monkeypatch) -> ModuleType:
    """The plugin installed for this test only; returns its module (its `ANSWER` is what its model says)."""
    paths = [str(PACKAGE), str(write_dist_info(tmp_path_factory.mktemp("notes-plugin-site")))]
    for path in reversed(paths):
        monkeypatch.syspath_prepend(path)  # also invalidates the import system's caches
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    monkeypatch.setattr(plugins, "_PLUGINS", plugins._Plugins())  # discovery again, undone after the test
    return importlib.import_module("lmspace_notes_plugin")
