"""The Home page: what is configured, what each space holds, what to do next, and the one-click sample space."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from lmspace_core.domain import IngestReport, Outcome
from lmspace_core.samples import SAMPLE_SPACE, sample_documents
from tests.conftest import APP


def open_home() -> AppTest:
    return AppTest.from_file(APP, default_timeout=30).run()


def links(at: AppTest) -> list[str]:
    return [link.value for link in at.page_link]


def test_home_renders_on_an_empty_data_directory_and_names_the_language_model(app_workspace):
    at = open_home()
    assert not at.exception
    assert any("**Language model**: none" in markdown.value for markdown in at.markdown)


def test_home_introduces_sync_as_a_feature_that_exists(app_workspace):
    intro = next(text.value for text in open_home().markdown if "keeps an organisation's knowledge" in text.value)
    assert "Sync Jobs" in intro and "coming" not in intro


def test_home_on_an_empty_data_directory_links_to_creating_a_space_and_uploading(app_workspace):
    at = open_home()
    assert "Create a space" in links(at)
    assert "Upload documents" in links(at)


def test_home_with_only_empty_spaces_points_to_upload(app_workspace):
    app_workspace.create_space("empty")
    at = open_home()
    assert not at.exception
    assert "Your spaces are empty" in at.info[0].value
    assert "Upload documents" in links(at)


def test_home_shows_documents_and_chunks_per_space_and_points_to_chat(app_workspace):
    space = app_workspace.create_space("handbook")
    app_workspace.ingest(space, {"leave.md": "# Leave\n\nEmployees get 25 days of paid leave per year.\n"})
    at = open_home()
    assert not at.exception
    [row] = at.dataframe[0].value.to_dict("records")
    assert (row["name"], row["documents"], row["chunks"]) == ("handbook", 1, 1)
    assert "Open Chat" in links(at)


def test_sample_space_button_creates_the_space_and_ingests_every_sample_document(app_workspace):
    at = open_home()
    at.button[0].click().run()
    assert not at.exception
    sample = app_workspace.space(SAMPLE_SPACE)
    [job] = app_workspace.job_store.list_jobs(app_workspace.enterprise_id, sample.id, kind="ingest")
    finished = app_workspace.jobs.wait(app_workspace.enterprise_id, job.id, timeout=120)
    assert IngestReport.from_json_data(finished.result).count(Outcome.ADDED) == len(sample_documents())
    at.run()
    assert at.metric[0].label == "Added"
    assert at.metric[0].value == str(len(sample_documents()))
    assert f"Ask the {SAMPLE_SPACE} space" in links(at)


def test_sample_space_that_exists_already_is_linked_to_chat_instead_of_created_again(app_workspace):
    app_workspace.create_space(SAMPLE_SPACE)
    at = open_home()
    assert not at.exception
    assert not [button for button in at.button if button.label == "Create the sample space"]
    assert f"Ask the {SAMPLE_SPACE} space" in links(at)


def test_every_page_says_how_many_changes_wait_for_azure(tmp_path, monkeypatch, azure_emulators):
    import streamlit as st

    from lmspace_ui.resources import get_workspace
    from tests.conftest import azure_environment, write_config

    monkeypatch.setenv("LMSPACE_CONFIG", str(write_config(tmp_path)))
    for name, value in azure_environment(azure_emulators).items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    workspace = get_workspace()
    try:
        assert not [w.value for w in open_home().warning if "Offline" in w.value]
        for n in range(2):  # what the outbox holds after two uploads made while Azure was unreachable
            workspace.store.outbox.file.queue("blobs", "put", f"acme/s: upload h{n}", ())
        warnings = [w.value for w in open_home().warning]
        assert "Offline — 2 changes waiting for Azure." in warnings[0]
        workspace.store.outbox.file.set_aside(workspace.store.outbox.file.pending()[0].seq, "It cannot be sent.")
        warnings = [w.value for w in open_home().warning]
        assert "Offline — 1 change waiting for Azure." in warnings[0]
        assert warnings[1].startswith("1 change made while Azure was unreachable could not be sent and was set aside")
    finally:
        st.cache_resource.clear()
        workspace.close()


def test_the_banner_counts_space_edits_and_deletions_made_offline(tmp_path, monkeypatch, azure_emulators):
    import streamlit as st

    from lmspace_core.config import load_config
    from lmspace_core.workspace import Workspace
    from lmspace_ui.resources import get_workspace
    from tests.conftest import azure_environment, write_config

    config = write_config(tmp_path)
    online = azure_environment(azure_emulators)
    monkeypatch.setenv("LMSPACE_CONFIG", str(config))
    for name, value in online.items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    workspace = get_workspace()
    space = workspace.create_space("policies")
    workspace.ingest_text(space, "leave", "Employees get 25 days of paid leave a year.")
    workspace.list_spaces()
    # The same machine while Azure is unreachable (every endpoint a closed port): its changes wait in the outbox.
    offline = Workspace(load_config(config, env={**online, "LMSPACE_STORE__AZURE__COSMOS_ENDPOINT":
                                                 "https://127.0.0.1:9/"}))
    try:
        [leave] = offline.documents(space)  # from the read cache: the space was created and filled here
        offline.delete_document(space, leave)
        offline.update_space(space, instructions="Answer briefly.")
        offline.create_space("drafts")
        # The document, its raw file, the space's instructions, the new space.
        assert len(offline.store.outbox.file.pending()) == 4
        warnings = [w.value for w in open_home().warning]
        assert "Offline — 4 changes waiting for Azure." in warnings[0]
    finally:
        offline.close()
        st.cache_resource.clear()
        workspace.close()
