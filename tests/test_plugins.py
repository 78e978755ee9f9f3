"""Plugins: the test plugin (tests/plugin_pkg, installed for a test by the `notes_plugin` fixture and found by its
`lmspace.plugins` entry point) adds a `.note` loader and a scripted LM provider; built-ins register through the same
hooks; unknown names list the known ones; the project's own environment has no test plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmspace import plugin
from lmspace_core.cli import app
from lmspace_core.config import load_config
from lmspace_core.errors import ConfigError, IngestError, LMSpaceError
from lmspace_core.ingest.sources import is_supported, supported_extensions
from lmspace_core.lm import build_lm, describe_lm
from lmspace_core.workspace import Workspace
from tests.conftest import write_config
from tests.notes_plugin import notes_plugin  # noqa: F401 (a fixture)

NOTE = "Team offsite\nThe 2027 team offsite is in Lisbon, from 12 to 14 May.\n"


def lmspace(config: Path, *args: str):
    result = CliRunner().invoke(app, ["--config", str(config), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_a_note_file_is_ingested_through_the_installed_plugin_loader(tmp_path, notes_plugin):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "offsite.note").write_text(NOTE)
    workspace = Workspace(load_config(write_config(tmp_path), env={}))
    try:
        space = workspace.space()
        report = workspace.ingest(space, folder)
        assert [f.outcome.value for f in report.files] == ["added"]
        [document] = workspace.documents(space)
        assert (document.source, document.title) == ("notes/offsite.note", "Team offsite")
        [chunk] = workspace.chunks(space, document)
        assert "Lisbon" in chunk.text and "Team offsite" not in chunk.text  # the plugin's loader split off the title
        assert chunk.location.start_line == 2
        assert workspace.search(space, "Where is the offsite?")[0].document.title == "Team offsite"
    finally:
        workspace.close()


def test_the_plugin_extension_is_listed_among_supported_ones(notes_plugin):
    assert is_supported("minutes.NOTE")
    assert ".note" in supported_extensions() and ".pdf" in supported_extensions()


def test_lm_provider_from_the_plugin_answers_questions(tmp_path, notes_plugin):
    config = write_config(tmp_path, "lm:\n  provider: scripted_notes\n")
    (tmp_path / "offsite.note").write_text(NOTE)
    assert lmspace(config, "spaces", "create", "team").exit_code == 0
    assert lmspace(config, "ingest", "team", str(tmp_path / "offsite.note")).exit_code == 0
    result = lmspace(config, "ask", "team", "Where is the offsite?", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["text"].startswith(notes_plugin.ANSWER.removesuffix(" [1]."))
    assert describe_lm(load_config(config, env={}).lm) == "scripted notes model (test plugin)"


def test_lmspace_plugins_lists_the_installed_plugin_and_the_built_ins(tmp_path, notes_plugin):
    result = lmspace(write_config(tmp_path), "plugins", "--json")
    assert result.exit_code == 0, result.output
    plugins = {entry["name"]: entry for entry in json.loads(result.output)}
    notes = plugins["notes"]
    assert (notes["package"], notes["version"], notes["built_in"]) == ("lmspace-notes-plugin", "0.1.0", False)
    assert notes["registers"] == {"loader": [".note"], "lm_provider": ["scripted_notes"],
                                  "research_strategy": ["word_lines"]}
    assert plugins["lmspace_core.agents.research.strategies"]["registers"]["research_strategy"] == ["map", "explore"]
    assert plugins["lmspace_core.workspace"]["registers"]["store_backend"] == ["embedded", "azure"]
    assert "onnx_int8" in plugins["lmspace_core.workspace"]["registers"]["embedder"]
    assert "llama_cpp" in plugins["lmspace_core.lm"]["registers"]["lm_provider"]
    assert ".pdf" in plugins["lmspace_core.ingest.loaders"]["registers"]["loader"]
    table = lmspace(write_config(tmp_path), "plugins").output
    assert "lmspace-notes-plugin" in table and "scripted_notes" in table


def test_an_unknown_lm_provider_names_the_known_ones(tmp_path, notes_plugin):
    config = write_config(tmp_path, "lm:\n  provider: anthropic\n")
    result = lmspace(config, "spaces", "list")
    assert result.exit_code == ConfigError.exit_code
    message = " ".join(result.output.split())
    assert f"{config}:3: lm.provider: 'anthropic' is not known; known: azure_openai, litellm, llama_cpp, none, " \
           "openai, scripted_notes." in message
    assert "`lmspace plugins`" in message
    assert lmspace(config, "config", "check").exit_code == ConfigError.exit_code


def test_an_unknown_store_backend_or_embedder_names_the_known_ones(tmp_path):
    settings = load_config(write_config(tmp_path, "store:\n  backend: postgres\n"), env={})
    with pytest.raises(ConfigError, match="store.backend: 'postgres' is not known; known: azure, embedded"):
        Workspace(settings)
    settings = load_config(write_config(tmp_path), env={"LMSPACE_EMBEDDER__PROVIDER": "cohere"})
    with pytest.raises(ConfigError, match="embedder.provider: 'cohere' is not known; known: azure_openai, onnx_int8"):
        Workspace(settings)


def test_a_function_registered_at_run_time_adds_and_then_removes_a_loader(tmp_path):
    def load_memo(data: bytes, path: str, limits) -> plugin.LoadedDocument:
        return plugin.LoadedDocument(path, "text", None, "memo", (plugin.Section(data.decode().upper()),))

    @plugin.register
    def register_loaders(register):
        register([".memo"], load_memo)

    try:
        assert is_supported("q3.memo")
        assert plugin.registry().get("loader", ".memo").plugin.endswith("register_loaders")
    finally:
        plugin.unregister(register_loaders)
    assert not is_supported("q3.memo")


def test_a_plugin_can_replace_a_built_in_loader(tmp_path):
    replaced = plugin.LoadedDocument("a.txt", "text", None, "replaced", (plugin.Section("from the plugin"),))

    class Shouting:
        @plugin.hookimpl
        def register_loaders(self, register):
            register(".txt", lambda data, path, limits: replaced)

    instance = plugin.register(Shouting())
    try:
        (tmp_path / "a.txt").write_text("original")
        from lmspace_core.ingest import file_source, load

        assert load(file_source(tmp_path / "a.txt", plugin_limits())).title == "replaced"
    finally:
        plugin.unregister(instance)


def plugin_limits():
    from lmspace_core.ingest import IngestLimits

    return IngestLimits()


def test_a_function_not_named_after_a_hook_is_refused():
    def add_loaders(register):
        pass

    with pytest.raises(plugin.PluginError, match="register_loaders"):
        plugin.register(add_loaders)


def test_a_plugin_registering_something_that_is_not_an_extension_is_refused():
    @plugin.register
    def register_loaders(register):
        register("not/an extension", lambda data, path, limits: None)

    try:
        with pytest.raises(plugin.PluginError, match="not a file extension"):
            plugin.registry()
    finally:
        plugin.unregister(register_loaders)


def test_the_none_provider_builds_no_model(tmp_path):
    assert build_lm(load_config(write_config(tmp_path), env={}).lm, tmp_path) is None


def test_an_unsupported_file_still_names_the_supported_types(tmp_path, notes_plugin):
    from lmspace_core.ingest import file_source, load

    (tmp_path / "a.xyz").write_text("x")
    with pytest.raises(IngestError, match=r"a.xyz is not a supported file type \(supported: .*\.note"):
        load(file_source(tmp_path / "a.xyz", plugin_limits()))


def test_a_plan_naming_the_plugin_strategy_runs_its_executor_and_verifies_the_findings(tmp_path, notes_plugin):
    from lmspace_core.agents.research.researcher import CodebaseResearcher
    from lmspace_core.research.codebase import Codebase
    from lmspace_core.research.plan import ResearchPlan

    plan = ResearchPlan.from_json(json.dumps({"task": "Where is retry?", "strategy": "word_lines", "question": "retry"}))
    assert plan.strategy == "word_lines"
    codebase = Codebase.from_mapping({"net.py": "import time\ndef fetch():\n    retry(3)\n", "io.py": "x = 1\n"})
    workspace = Workspace(load_config(write_config(tmp_path), env={}))
    try:
        result = CodebaseResearcher(workspace).run(plan, codebase)
    finally:
        workspace.close()
    assert [(f.path, f.line, f.verified) for f in result.findings] == [("net.py", 3, True)]
    assert result.summary == "1 lines mention retry."


def test_a_plan_naming_an_unknown_strategy_lists_the_known_ones(notes_plugin):
    from lmspace_core.research.plan import ResearchPlan

    with pytest.raises(LMSpaceError, match="strategy 'grep' is not known; known: explore, map, pattern, search, "
                                           "word_lines"):
        ResearchPlan.from_json(json.dumps({"task": "t", "strategy": "grep"}))


def test_registering_the_same_plugin_twice_is_a_plugin_error():
    @plugin.register
    def register_loaders(register):
        register(".twice", lambda data, path, limits: None)

    try:
        with pytest.raises(plugin.PluginError, match="Cannot register"):
            plugin.register(register_loaders)
    finally:
        plugin.unregister(register_loaders)


def test_an_unknown_name_set_by_a_variable_is_blamed_on_the_variable_and_one_in_the_file_on_its_line(tmp_path):
    """`LMSPACE_LM__PROVIDER=nope` was reported as 'lmspace.yaml: lm.provider: ...', a file that does not say it."""
    settings = load_config(write_config(tmp_path), env={"LMSPACE_LM__PROVIDER": "nope"})
    with pytest.raises(ConfigError, match=r"^LMSPACE_LM__PROVIDER: lm\.provider: 'nope' is not known"):
        Workspace(settings)
    config = write_config(tmp_path, "lm:\n  provider: anthropic\n")
    line = config.read_text().splitlines().index("  provider: anthropic") + 1
    with pytest.raises(ConfigError, match=rf"^{config}:{line}: lm\.provider: 'anthropic' is not known"):
        Workspace(load_config(config, env={}))


def test_the_projects_own_environment_has_no_test_plugin(tmp_path):
    """The test plugin was a dev dependency, so a fresh clone's `uv run lmspace plugins` (and the dashboard) offered
    `.note` files, a `scripted_notes` model and a `word_lines` strategy."""
    with pytest.raises(PackageNotFoundError):
        distribution("lmspace-notes-plugin")
    assert not is_supported("minutes.note")
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    plugins = installed_plugins(tmp_path, env)
    assert [entry["name"] for entry in plugins if not entry["built_in"]] == []
    registered = json.dumps([entry["registers"] for entry in plugins])
    assert ".note" not in registered and "scripted_notes" not in registered and "word_lines" not in registered


def test_a_subprocess_of_a_test_finds_the_plugin_the_fixture_installed(tmp_path, notes_plugin):
    plugins = installed_plugins(tmp_path, dict(os.environ))
    assert [entry["package"] for entry in plugins if not entry["built_in"]] == ["lmspace-notes-plugin"]


def installed_plugins(tmp_path: Path, env: dict[str, str]) -> list[dict]:
    """What the environment's own `lmspace plugins --json` lists, run as a user runs it."""
    command = [str(Path(sys.executable).parent / "lmspace"), "--config", str(write_config(tmp_path)), "plugins", "--json"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
