"""The agent switches models with sync: an activated fine-tuned deployment answers in its space only."""

from __future__ import annotations

from lmspace_core.agents.knowledge import KnowledgeAgent
from lmspace_core.config import load_config
from tests.conftest import write_config


def test_an_activated_deployment_answers_in_its_space_and_rollback_restores_the_configured_one(
        tmp_path, backend, backend_environment):
    settings = load_config(write_config(tmp_path, """lm:
  provider: azure_openai
  endpoint: http://127.0.0.1:9
  deployment: gpt-4o-mini
  api_version: "2024-10-21"
  api_key: test-key-0123456789
"""), env=backend_environment)
    agent = KnowledgeAgent(settings)
    try:
        space = agent.workspace.create_space("travel")
        other = agent.workspace.create_space("hr")
        assert agent.language_model(space).model == "azure/gpt-4o-mini"
        agent.pull_llm_updates("gpt-4o-mini-2024-07-18.ft-travel", space, force=True)
        assert agent.language_model(space).model == "azure/gpt-4o-mini-2024-07-18.ft-travel"
        assert agent.language_model(other).model == "azure/gpt-4o-mini"
        agent.sync_manager.rollback(space, to="base")
        assert agent.language_model(space).model == "azure/gpt-4o-mini"
    finally:
        agent.sync_manager.close()
        agent.workspace.close()
