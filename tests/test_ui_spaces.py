"""The Spaces page: create, list and inspect spaces; filter, open and delete documents; edit or delete a space."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lmspace_core.domain import Space
from lmspace_core.errors import NotFoundError
from lmspace_core.stores.base import BlobPlacement
from tests.conftest import APP, read

REFUNDS = "# Refunds\n\nCustomers get a refund within 30 days.\n\n## Exceptions\n\nGift cards are never refunded.\n"
ONBOARDING = "# Onboarding\n\nNew staff receive a laptop on their first day.\n"


def open_spaces_page() -> AppTest:
    at = AppTest.from_file(APP).run(timeout=30)
    return at.switch_page("pages/spaces.py").run(timeout=30)


def click(at: AppTest, label: str) -> AppTest:
    """Click the only button with this label and rerun the page."""
    (button,) = [button for button in at.button if button.label == label]
    return button.click().run(timeout=30)


def shown_sources(at: AppTest) -> list[str]:
    return list(at.dataframe[1].value["source"])


@pytest.fixture
def handbook(app_workspace) -> Space:
    """A space with a policy document (two chunks) and an HR document (one chunk)."""
    space = app_workspace.create_space("handbook", "Company rules")
    app_workspace.ingest(space, {"refunds.md": REFUNDS}, tags=["policy"])
    app_workspace.ingest(space, {"onboarding.md": ONBOARDING}, tags=["hr"])
    return space


def test_an_empty_data_directory_shows_the_empty_state_and_the_create_form(app_workspace):
    at = open_spaces_page()

    assert not at.exception
    assert "There are no spaces yet" in at.info[0].value
    assert at.text_input(key="new_space_name") is not None
    assert not at.dataframe


def test_a_populated_workspace_renders_the_spaces_table_documents_and_charts(handbook):
    at = open_spaces_page()

    assert not at.exception
    spaces = at.dataframe[0].value
    assert list(spaces["name"]) == ["handbook"]
    assert (spaces["documents"][0], spaces["chunks"][0]) == (2, 3)
    assert len(at.get("plotly_chart")) == 2, "documents written on one day draw no growth chart"
    assert any("written on one day" in caption.value for caption in at.caption)


def test_creating_a_space_through_the_form_adds_and_selects_it(app_workspace):
    at = open_spaces_page()

    at.text_input(key="new_space_name").input("contracts")
    at.text_area(key="new_space_instructions").input("Quote clause numbers.")
    at = click(at, "Create space")

    assert not at.exception
    assert app_workspace.space("contracts").instructions == "Quote clause numbers."
    assert list(at.dataframe[0].value["name"]) == ["contracts"]
    assert at.selectbox(key="spaces_page_space").value == "contracts"
    assert not any("There are no spaces yet" in info.value for info in at.info), "the empty state reacts"
    assert "Created space 'contracts'" in read(at.success[0].value)


def test_creating_a_space_with_a_taken_name_shows_the_core_error(handbook, app_workspace):
    at = open_spaces_page()

    at.text_input(key="new_space_name").input("handbook")
    at = click(at, "Create space")

    assert not at.exception
    assert "already exists" in at.error[0].value
    assert len(app_workspace.list_spaces()) == 1


def test_the_documents_table_lists_ingested_documents_with_their_chunk_counts(handbook):
    at = open_spaces_page()

    documents = at.dataframe[1].value
    assert dict(zip(documents["source"], documents["chunks"], strict=True)) == {"onboarding.md": 1, "refunds.md": 2}


def test_the_documents_table_filters_by_tag(handbook):
    at = open_spaces_page()

    at = at.multiselect(key=f"documents_{handbook.id}_tags").select("policy").run(timeout=30)

    assert shown_sources(at) == ["refunds.md"]


def test_the_documents_table_filters_by_a_name_substring(handbook):
    at = open_spaces_page()

    at = at.text_input(key=f"documents_{handbook.id}_name").input("BOARD").run(timeout=30)

    assert shown_sources(at) == ["onboarding.md"]


def test_opening_a_document_shows_its_chunks_with_their_locations(handbook):
    at = open_spaces_page()

    at = at.selectbox(key=f"open_{handbook.id}").select("refunds.md").run(timeout=30)

    assert [code.value for code in at.code] == [
        "# Refunds\n\nCustomers get a refund within 30 days.",
        "## Exceptions\n\nGift cards are never refunded.",
    ]
    captions = [read(caption.value) for caption in at.caption]
    assert "Chunk 2 · § Refunds > Exceptions, lines 5-7" in captions


def test_deleting_a_document_requires_confirmation_then_removes_it(handbook, app_workspace):
    at = open_spaces_page()
    at = at.selectbox(key=f"open_{handbook.id}").select("refunds.md").run(timeout=30)
    refunds = app_workspace.document(handbook, "refunds.md")

    assert at.button(key=f"delete_{refunds.id}").disabled
    at = at.checkbox(key=f"confirm_{refunds.id}").check().run(timeout=30)
    at = click(at, "Delete document")

    assert not at.exception
    assert [document.source for document in app_workspace.documents(handbook)] == ["onboarding.md"]
    assert shown_sources(at) == ["onboarding.md"]
    assert "Deleted refunds.md" in read(at.success[0].value)


def test_deleting_the_space_requires_confirmation(handbook, app_workspace):
    at = open_spaces_page()

    assert at.button(key=f"delete_{handbook.id}").disabled
    at = at.checkbox(key=f"confirm_delete_space_{handbook.id}").check().run(timeout=30)
    at = click(at, "Delete space")

    assert not at.exception
    with pytest.raises(NotFoundError):
        app_workspace.space("handbook")
    assert "There are no spaces yet" in at.info[0].value


def test_editing_the_instructions_persists_them(handbook, app_workspace):
    at = open_spaces_page()

    at.text_area(key=f"instructions_{handbook.id}").input("Always cite the policy section.")
    at = click(at, "Save changes")

    assert not at.exception
    assert app_workspace.space("handbook").instructions == "Always cite the policy section."


def test_renaming_a_space_keeps_it_selected(handbook, app_workspace):
    app_workspace.create_space("archive")
    at = open_spaces_page()
    at = at.selectbox(key="spaces_page_space").select("handbook").run(timeout=30)

    at.text_input(key=f"name_{handbook.id}").input("staff-handbook")
    at = click(at, "Save changes")

    assert not at.exception
    assert app_workspace.space("staff-handbook").id == handbook.id
    assert at.selectbox(key="spaces_page_space").value == "staff-handbook"


def test_home_and_spaces_show_the_same_size_and_last_update(handbook, app_workspace):
    app_workspace.update_space(handbook, description="Edited after its documents")  # the latest change
    spaces_row = open_spaces_page().dataframe[0].value.to_dict("records")[0]
    home = AppTest.from_file(APP).run(timeout=30)
    home_row = home.dataframe[0].value.to_dict("records")[0]
    assert {key: home_row[key] for key in ("size", "last update")} == {
        key: spaces_row[key] for key in ("size", "last update")}
    assert spaces_row["last update"] == app_workspace.space("handbook").updated_at



def test_a_long_document_shows_its_chunks_a_page_at_a_time_and_can_be_searched(app_workspace):
    space = app_workspace.create_space("manual")
    sections = "\n\n".join(f"## Section {n}\n\nStep {n} of the procedure: turn valve {n}." for n in range(1, 24))
    app_workspace.ingest(space, {"manual.md": f"# Manual\n\n{sections}\n"})
    total = len(app_workspace.chunks(space, app_workspace.document(space, "manual.md")))
    assert total > 20
    at = open_spaces_page()
    at = at.selectbox(key=f"open_{space.id}").select("manual.md").run(timeout=30)
    assert len(at.code) == 10
    assert any(f"page 1 of {-(-total // 10)}" in read(caption.value) for caption in at.caption)
    at = at.text_input(key=next(t.key for t in at.text_input if t.key.startswith("chunk_search_"))).input(
        "valve 17.").run(timeout=30)
    assert [code.value for code in at.code] == ["## Section 17\n\nStep 17 of the procedure: turn valve 17."]
    assert any(f"1 of {total} chunks" in read(caption.value) for caption in at.caption)


def test_several_documents_are_deleted_at_once_after_confirmation(handbook, app_workspace):
    at = open_spaces_page()
    at = at.multiselect(key=f"bulk_{handbook.id}").select("refunds.md").select("onboarding.md").run(timeout=30)
    assert at.button(key=f"delete_bulk_{handbook.id}").disabled
    at = at.checkbox(key=f"confirm_bulk_{handbook.id}").check().run(timeout=30)
    at = click(at, "Delete 2 documents")
    assert not at.exception
    assert app_workspace.documents(handbook) == []
    assert "Deleted 2 documents" in read(at.success[0].value)


def test_an_opened_document_offers_its_original_file_for_download(handbook, app_workspace):
    at = open_spaces_page()
    at = at.selectbox(key=f"open_{handbook.id}").select("refunds.md").run(timeout=30)
    [download] = at.get("download_button")
    assert download.proto.label == "Download the original"
    refunds = app_workspace.document(handbook, "refunds.md")
    assert app_workspace.blobs.get(BlobPlacement.of(refunds)) == REFUNDS.encode()


def test_a_docbook_manual_shows_its_chapters_not_its_authors_as_chunk_headings(app_workspace):
    manual = Path(__file__).parent / "data" / "html" / "users-and-groups.html"
    space = app_workspace.create_space("debian")
    app_workspace.ingest(space, {manual.name: manual.read_bytes()})
    at = open_spaces_page()
    at = at.selectbox(key=f"open_{space.id}").select(manual.name).run(timeout=30)

    headings = [read(caption.value) for caption in at.caption if read(caption.value).startswith("Chunk ")]
    assert headings and all(" · § " in heading for heading in headings)
    assert not any(author in heading for heading in headings for author in ("Joey Hess", "Colin Watson", "David Mandelberg"))
    assert "Chunk 1 · § Users and Groups in the Debian System" in headings[0]


def test_a_space_created_elsewhere_between_the_check_and_the_insert_is_reported_not_duplicated(
    app_workspace, monkeypatch
):
    """Another process creates "Docs" just after this page checked that "docs" was free: the store refuses it."""
    import lmspace_core.workspace as workspace_module
    from lmspace_core.stores.local.database import Database
    from lmspace_core.stores.local.sqlite_store import LocalKnowledgeStore

    checked = workspace_module.check_name_is_free
    data_dir = app_workspace.settings.data_dir

    def check_then_lose_the_race(*args, **kwargs):
        checked(*args, **kwargs)
        other = LocalKnowledgeStore(Database(data_dir / "lmspace.db"), data_dir)  # its own connections
        try:
            other.create_space(app_workspace.enterprise_id, "Docs", "", "", "test-embedder", 384)
        finally:
            other.close()

    monkeypatch.setattr(workspace_module, "check_name_is_free", check_then_lose_the_race)
    at = open_spaces_page()
    at.text_input(key="new_space_name").input("docs")
    at = click(at, "Create space")

    assert not at.exception
    assert "'Docs' already exists" in read(at.error[0].value) and "ignoring case" in read(at.error[0].value)
    assert [space.name for space in app_workspace.list_spaces()] == ["Docs"]


def test_a_citation_link_opens_its_document_at_the_page_holding_the_cited_chunk(app_workspace):
    space = app_workspace.create_space("manual")
    sections = "\n\n".join(f"## Section {n}\n\nStep {n} of the procedure: turn valve {n}." for n in range(1, 24))
    app_workspace.ingest(space, {"manual.md": f"# Manual\n\n{sections}\n", "other.md": ONBOARDING})
    document = app_workspace.document(space, "manual.md")
    cited = next(chunk for chunk in app_workspace.chunks(space, document) if "turn valve 17." in chunk.text)
    at = AppTest.from_file(APP).run(timeout=30)
    at.query_params.update(space=space.id, document=document.id, chunk=str(cited.ordinal + 1))
    at = at.switch_page("pages/spaces.py").run(timeout=30)

    assert not at.exception
    assert at.selectbox(key=f"open_{space.id}").value == "manual.md"
    assert at.number_input(key=f"chunk_page_{document.id}_").value == cited.ordinal // 10 + 1
    [badge] = [markdown for markdown in at.markdown if "Cited passage" in markdown.value]
    assert any(f"Chunk {cited.ordinal + 1} ·" in read(caption.value) for caption in at.caption)

    at = at.selectbox(key=f"open_{space.id}").select("other.md").run(timeout=30)  # the user browses on
    assert at.selectbox(key=f"open_{space.id}").value == "other.md"
    assert not [markdown for markdown in at.markdown if "Cited passage" in markdown.value]


def test_a_link_to_a_deleted_document_says_so(app_workspace):
    space = app_workspace.create_space("manual")
    app_workspace.ingest(space, {"other.md": ONBOARDING})
    at = AppTest.from_file(APP).run(timeout=30)
    at.query_params.update(space=space.id, document="gone", chunk="1")
    at = at.switch_page("pages/spaces.py").run(timeout=30)
    assert not at.exception
    assert "no longer in this workspace" in at.warning[0].value


def test_a_link_to_a_chunk_past_the_end_of_a_shrunk_document_opens_its_last_page(app_workspace):
    space = app_workspace.create_space("manual")
    sections = "\n\n".join(f"## Section {n}\n\nStep {n} of the procedure: turn valve {n}." for n in range(1, 24))
    app_workspace.ingest(space, {"manual.md": f"# Manual\n\n{sections}\n"})
    document = app_workspace.document(space, "manual.md")
    at = AppTest.from_file(APP).run(timeout=30)
    at.query_params.update(space=space.id, document=document.id, chunk="999")
    at = at.switch_page("pages/spaces.py").run(timeout=30)
    assert not at.exception
    last_page = -(-document.chunk_count // 10)
    assert at.number_input(key=f"chunk_page_{document.id}_").value == last_page
    assert "turn valve 23." in at.code[-1].value
