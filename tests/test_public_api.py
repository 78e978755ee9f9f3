"""The `lmspace` package as its users import it: the design's example, entities, PersistenceManager, ConfigManager."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from lmspace.agents import BaseAgent, KnowledgeAgent, SubAgent
from lmspace.config import ConfigManager, load_config
from lmspace.persistence import PersistenceManager
from lmspace.sync import SyncManager
from lmspace_core.domain import SearchFilter
from lmspace_core.errors import ConfigError, IngestError
from lmspace_core.samples import sample_documents
from lmspace_core.workspace import Workspace
from tests.conftest import write_config

# The design's example, verbatim (README's first Python example).
DESIGN_EXAMPLE = """\
from lmspace.agents import KnowledgeAgent
from lmspace.config import load_config

config = load_config('lmspace.yaml')
agent = KnowledgeAgent(config)
agent.ingest({'content': 'Policy: Data retention 7 years', 'metadata': {'type': 'policy'}})
print(agent.query('What is the data retention policy?'))
codebase = {'file1.py': 'def foo(): print("hello")', 'file2.py': 'import os'}
print(agent.research('Find print statements', codebase))
agent.sync_to_llm()
"""


def test_the_readme_opens_with_the_design_example():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    python_section = readme[readme.index("## From Python"):]
    assert python_section[python_section.index("```python") + len("```python\n"):].startswith(DESIGN_EXAMPLE)


def test_the_design_example_runs_verbatim_and_prints_what_a_person_reads(tmp_path):
    config = write_config(tmp_path, "sync:\n  local:\n    epochs: 1\n")
    seeded = Workspace(load_config(config, env={}))  # the default space already holds the sample policies
    seeded.ingest(seeded.space(), {name: data for name, data in sample_documents()})
    seeded.close()
    (tmp_path / "example.py").write_text(DESIGN_EXAMPLE)
    env = {name: value for name, value in os.environ.items() if not name.startswith("LMSPACE_")}
    run = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    answer, research = run.stdout.split("\n1 finding", 1)
    assert "Data retention 7 years" in answer and "[1]" in answer
    assert "Answer(" not in run.stdout and "ResearchResult(" not in run.stdout
    assert "file1.py:1:12" in research and 'print("hello")' in research
    workspace = Workspace(load_config(config, env={}))
    try:
        [job] = SyncManager(workspace).jobs()
        assert job.status.finished, job.status  # the script waited for its sync job; nothing left running
    finally:
        workspace.close()


@pytest.fixture
def agent(settings):
    agent = KnowledgeAgent(settings)
    yield agent
    agent.workspace.close()


def test_entities_are_stored_with_their_metadata_and_return_their_ids(agent):
    ids = agent.ingest([
        {"id": "retention", "content": "Invoices are kept for seven years.", "metadata": {"type": "policy"}},
        {"content": "Laptops use full-disk encryption.", "metadata": {"type": "rule", "owner": "IT", "level": 2}},
    ])
    assert ids[0] == "retention" and ids[1].startswith("entity-")
    documents = {d.source: d for d in agent.workspace.documents(agent.space())}
    assert documents["retention"].metadata == {"type": "policy"}
    assert documents[ids[1]].metadata == {"type": "rule", "owner": "IT", "level": 2}


def test_search_filters_on_metadata_before_ranking(agent):
    agent.ingest([
        {"id": "p", "content": "Invoices are kept for seven years.", "metadata": {"type": "policy"}},
        {"id": "r", "content": "Invoices are archived by the finance team.", "metadata": {"type": "rule"}},
    ])
    hits = agent.retrieve(agent.space(), "How long are invoices kept?", SearchFilter.where(type="rule"))
    assert [hit.document.source for hit in hits] == ["r"]
    answer = agent.query("How long are invoices kept?", search_filter=SearchFilter.where(type="policy"))
    assert {c.source for c in answer.citations} == {"p"}


def test_reingesting_a_file_keeps_an_entitys_metadata_and_new_metadata_is_a_new_version(agent):
    agent.ingest({"id": "badges.md", "content": "Badges are renewed in January.", "metadata": {"type": "rule"}})
    agent.ingest({"id": "badges.md", "content": "Badges are renewed in January.", "metadata": {"type": "policy"}})
    [document] = agent.workspace.documents(agent.space())
    assert (document.version, document.metadata) == (2, {"type": "policy"})
    agent.workspace.ingest(agent.space(), {"badges.md": "Badges are renewed in February."})
    [document] = agent.workspace.documents(agent.space())
    assert (document.version, document.metadata) == (3, {"type": "policy"})


def test_an_entity_with_its_own_embedding_is_stored_with_that_vector(agent):
    vector = np.random.default_rng(7).normal(size=agent.workspace.embedder.dimension)
    agent.ingest({"id": "own", "content": "Anything at all.", "embeddings": vector.tolist()})
    [hit] = PersistenceManager(agent.workspace).query_knowledge(vector, k=1)
    assert hit["id"] == "own" and hit["score"] == pytest.approx(1.0, abs=1e-5)


def test_an_entity_with_the_wrong_embedding_size_is_refused_with_its_reason(agent):
    with pytest.raises(IngestError, match="3 dimensions"):
        agent.ingest({"id": "bad", "content": "Text.", "embeddings": [0.1, 0.2, 0.3]})


@pytest.mark.parametrize("bad", [{"content": "x", "meta": {}}, {"notes.txt": 3}, {"title": {"a": 1}}])
def test_a_dict_that_is_neither_form_is_refused_naming_both(agent, bad):
    with pytest.raises(IngestError) as refused:
        agent.ingest(bad)
    assert "knowledge entity" in str(refused.value) and "{path: content}" in str(refused.value)


def test_the_path_mapping_form_still_works(agent):
    report = agent.ingest({"policies/retention.md": "# Retention\n\nInvoices are kept for seven years."})
    assert [f.outcome.value for f in report.files] == ["added"]


def test_persistence_manager_persists_and_queries_json_ready_entities(settings):
    manager = PersistenceManager(settings)
    try:
        entity_id = manager.persist_knowledge({"content": "Data retention is 7 years.", "metadata": {"type": "policy"}})
        manager.persist_knowledge({"id": "other", "content": "Data retention is 7 years.", "metadata": {"type": "x"}})
        query = manager.workspace.embedder.embed_query("data retention")
        [found] = manager.query_knowledge(query, k=5, filter={"metadata.type": "policy"})
        assert found["id"] == entity_id and found["metadata"] == {"type": "policy"} and 0 < found["score"] <= 1
        assert found["content"] == "Data retention is 7 years."
        import json

        json.dumps(found)
    finally:
        manager.close()


def test_config_manager_accepts_the_designs_flat_keys_with_a_note_and_masks_secrets(tmp_path):
    config = write_config(
        tmp_path,
        "lm:\n  provider: azure_openai\n  deployment: gpt-4o\n"
        "openai_endpoint: https://acme.openai.azure.com\nopenai_key: sk-0123456789abcdef\n"
        "openai_api_version: '2025-01-01'\n",
    )
    manager = ConfigManager(config, env={})
    assert manager.get("lm.endpoint") == "https://acme.openai.azure.com"
    assert manager.settings.lm.api_key.reference == "sk-0123456789abcdef"
    assert any("openai_key is deprecated; write it as lm.api_key" in note for note in manager.deprecations)
    assert "0123456789" not in str(manager.effective())


def test_a_flat_key_given_twice_is_a_configuration_error(tmp_path):
    config = write_config(tmp_path, "lm:\n  endpoint: https://a\nopenai_endpoint: https://b\n")
    with pytest.raises(ConfigError, match="keep only the nested key"):
        ConfigManager(config, env={})


def test_an_agent_copy_gets_its_own_predictors_and_shares_the_workspace(agent):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        copied = agent.deepcopy()
        deep = copy.deepcopy(agent)
    assert copied.workspace is agent.workspace and deep.workspace is agent.workspace
    assert copied.respond is not agent.respond
    assert isinstance(agent, BaseAgent) and issubclass(SubAgent, BaseAgent.__mro__[1])


def test_the_spaces_page_table_shows_an_entitys_metadata(agent):
    from lmspace_ui.documents import documents_frame

    agent.ingest({"id": "p", "content": "Invoices are kept for seven years.", "metadata": {"type": "policy", "v": 2}})
    frame = documents_frame(agent.workspace.documents(agent.space()))
    assert frame.loc[0, "metadata"] == 'type="policy", v=2'


def test_the_cli_filters_on_entity_metadata(tmp_path):
    import json as json_module

    from typer.testing import CliRunner

    from lmspace_core.cli import app

    config = write_config(tmp_path)
    agent = KnowledgeAgent(load_config(config, env={}))
    agent.ingest([{"id": "p", "content": "Invoices are kept for seven years.", "metadata": {"type": "policy"}},
                  {"id": "r", "content": "Invoices are archived monthly.", "metadata": {"type": "rule", "level": 2}}])
    agent.workspace.close()
    runner = CliRunner()
    listed = runner.invoke(app, ["--config", str(config), "docs", "list", "default", "--where", "level=2", "--json"])
    assert [d["source"] for d in json_module.loads(listed.stdout)] == ["r"]
    asked = runner.invoke(app, ["--config", str(config), "ask", "default", "How long are invoices kept?",
                                "-w", "type=policy", "--json"])
    assert {c["source"] for c in json_module.loads(asked.stdout)["citations"]} == {"p"}
