"""Probe: a tenant can touch its own spaces only, however the tenant was set.

The enterprise in effect comes from `--enterprise`, from `enterprise:` in lmspace.yaml, or from `LMSPACE_ENTERPRISE`
(and, in Python, from the settings a `KnowledgeAgent` is built with). Whichever it is, a call naming another
enterprise's space must fail as if the space did not exist, leave that space untouched, and never name the other
enterprise. Cross-enterprise lookup is the explicit `lmspace admin locate` only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmspace_core.cli import app
from lmspace_core.config import load_config
from lmspace_core.errors import NotFoundError
from lmspace_core.workspace import Workspace
from tests.conftest import write_config

OWNER, INTRUDER = "alpha-corp", "beta-corp"
SECRET = "Payroll runs on the 25th; the vault code is 4711."


@pytest.fixture
def owner_space(tmp_path: Path) -> Path:
    """A data directory where enterprise alpha-corp owns a space 'ledger' with one document."""
    config = write_config(tmp_path)
    workspace = Workspace(load_config(config, env={}), OWNER)
    try:
        space = workspace.create_space("ledger", description="alpha's books")
        workspace.ingest_text(space, "payroll", SECRET)
    finally:
        workspace.close()
    return config


def owner_state(config: Path) -> tuple:
    """What an intrusion could change: alpha's space, its description and its documents."""
    workspace = Workspace(load_config(config, env={}), OWNER)
    try:
        [space] = workspace.list_spaces()
        return space.name, space.description, [d.source for d in workspace.documents(space)]
    finally:
        workspace.close()


def intruder_invocation(how: str, config: Path) -> tuple[list[str], dict[str, str], Path]:
    """CLI arguments and environment that make beta-corp the enterprise in effect, set the way `how` names."""
    if how == "flag":
        return ["--config", str(config), "--enterprise", INTRUDER], {}, config
    if how == "yaml":
        tenant_config = config.parent / "beta.yaml"
        tenant_config.write_text(config.read_text() + f"enterprise: {INTRUDER}\n")
        return ["--config", str(tenant_config)], {}, config
    return ["--config", str(config)], {"LMSPACE_ENTERPRISE": INTRUDER}, config


COMMANDS = {
    "spaces show": ["spaces", "show", "ledger"],
    "spaces rename": ["spaces", "rename", "ledger", "stolen"],
    "spaces edit": ["spaces", "edit", "ledger", "-d", "defaced"],
    "spaces delete": ["spaces", "delete", "ledger", "--yes"],
    "spaces reembed": ["spaces", "reembed", "ledger"],
    "ingest": ["ingest", "ledger", "--text", "planted", "--title", "planted"],
    "ask": ["ask", "ledger", "What is the vault code?"],
    "docs list": ["docs", "list", "ledger"],
    "docs show": ["docs", "show", "ledger", "payroll.md"],
    "docs delete": ["docs", "delete", "ledger", "payroll.md", "--yes"],
    "research": ["research", "ledger", "Find print statements"],
}


@pytest.mark.parametrize("how", ["flag", "yaml", "env"])
@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_reaches_another_enterprises_space(owner_space, how, command):
    args, env, config = intruder_invocation(how, owner_space)
    result = CliRunner().invoke(app, [*args, *COMMANDS[command], "--json"], env=env)
    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output
    assert OWNER not in result.output and "4711" not in result.output
    assert owner_state(config) == ("ledger", "alpha's books", ["payroll.md"])


@pytest.mark.parametrize("how", ["flag", "yaml", "env"])
def test_a_shared_space_name_resolves_to_the_own_enterprise_and_names_no_other(owner_space, how):
    args, env, config = intruder_invocation(how, owner_space)
    runner = CliRunner()
    assert runner.invoke(app, [*args, "spaces", "create", "ledger"], env=env).exit_code == 0
    listed = json.loads(runner.invoke(app, [*args, "docs", "list", "ledger", "--json"], env=env).stdout)
    assert listed == []
    deleted = runner.invoke(app, [*args, "spaces", "delete", "ledger", "--yes"], env=env)
    assert deleted.exit_code == 0 and OWNER not in deleted.output
    assert owner_state(config) == ("ledger", "alpha's books", ["payroll.md"])


def test_the_python_api_is_scoped_by_the_configured_enterprise(owner_space):
    from lmspace_core.agents.knowledge import KnowledgeAgent

    tenant_config = owner_space.parent / "beta.yaml"
    tenant_config.write_text(owner_space.read_text() + f"enterprise: {INTRUDER}\n")
    agent = KnowledgeAgent(load_config(tenant_config, env={}))
    try:
        for attempt in (
            lambda: agent.query("What is the vault code?", space="ledger"),
            lambda: agent.ingest({"planted.md": "planted"}, space="ledger"),
            lambda: agent.research("Find print statements", space="ledger"),
            lambda: agent.workspace.space("ledger"),
        ):
            with pytest.raises(NotFoundError) as refused:
                attempt()
            assert OWNER not in str(refused.value)
        assert agent.workspace.list_spaces() == []
    finally:
        agent.workspace.close()
    assert owner_state(owner_space) == ("ledger", "alpha's books", ["payroll.md"])


def test_the_environment_sets_the_enterprise_for_the_python_api(owner_space):
    workspace = Workspace(load_config(owner_space, env={"LMSPACE_ENTERPRISE": INTRUDER}))
    try:
        assert workspace.enterprise_id == INTRUDER
        with pytest.raises(NotFoundError):
            workspace.space("ledger")
    finally:
        workspace.close()


def test_only_the_admin_locate_command_looks_across_enterprises(owner_space):
    args, env, _ = intruder_invocation("env", owner_space)
    result = CliRunner().invoke(app, [*args, "admin", "locate", "ledger", "--json"], env=env)
    assert result.exit_code == 0, result.output
    [found] = json.loads(result.stdout)
    assert (found["enterprise"], found["name"]) == (OWNER, "ledger")
