"""Chat page: a conversation with a space's agent, answers with expandable citations, history per space."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import dspy
import pytest
from dspy.utils import DummyLM
from streamlit.testing.v1 import AppTest

from lmspace_core.agents.extractive import NOT_FOUND_TEXT
from lmspace_core.agents.knowledge import KnowledgeAgent
from lmspace_core.agents.programs import KNOWLEDGE, program_path, save_program
from lmspace_core.examples import ExampleOrigin, open_examples
from lmspace_ui.chat_history import conversation_store
from tests.conftest import APP, read
from tests.test_knowledge_agent import streaming_lm

POLICY = """# Data Retention

## Financial records
Invoices and ledgers are kept for seven years after the end of the fiscal year.

## Chat messages
Team chat messages are deleted automatically after 90 days.
"""
QUESTION = "How long do we keep invoices?"


@pytest.fixture
def policies(app_workspace):
    space = app_workspace.create_space("policies")
    app_workspace.ingest(space, {"retention.md": POLICY})
    return space


def open_chat() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    return at.switch_page("pages/chat.py").run()


def ask(at: AppTest, question: str = QUESTION) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception
    return at


def reply(answer: str, cited: list[int]) -> dict:
    return {"reasoning": "The passages say so.", "answer": answer, "cited": cited}


def test_chat_renders_on_an_empty_data_directory(app_workspace):
    at = open_chat()
    assert not at.exception
    assert "There are no spaces yet" in at.info[0].value
    assert not at.chat_input


def test_chat_renders_a_populated_space_ready_for_a_question(policies):
    at = open_chat()
    assert not at.exception
    assert at.selectbox[0].value == "policies"
    assert at.chat_input[0].placeholder == "Ask policies"


def test_without_a_model_a_notice_says_answers_are_extracted_and_links_to_settings(policies):
    at = open_chat()
    assert "No language model is configured" in at.info[0].value
    assert at.page_link[0].value == "Configure a language model in Settings"


HIGHLIGHT = re.compile(r":orange-background\[((?:\\.|[^\]\\])*)\]")


def highlights(markdown: str) -> list[str]:
    """What a person reads in the highlighted parts of `markdown`."""
    return [read(part) for part in HIGHLIGHT.findall(markdown)]


def test_without_a_model_the_answer_is_labelled_extracted_with_its_quotes_in_expanders(policies):
    at = ask(open_chat())
    assert "Extracted passages" in at.caption[0].value
    assert at.expander, "an extracted answer cites its passages"
    for expander in at.expander:
        passage = read(HIGHLIGHT.sub(lambda part: part.group(1), expander.markdown[0].value))
        [quote] = highlights(expander.markdown[0].value)
        assert quote in passage and passage.replace("\n", " ") in " ".join(POLICY.split()), "the whole passage"
        assert "retention.md" in read(expander.caption[0].value)
    assert any("seven years" in " ".join(highlights(expander.markdown[0].value)) for expander in at.expander)


def test_citations_are_numbered_by_relevance_and_link_to_their_chunk(policies, app_workspace):
    at = ask(open_chat())
    labels = [read(expander.label) for expander in at.expander]
    assert [label.split("]")[0] for label in labels] == [f"[{n}" for n in range(1, len(labels) + 1)]
    similarities = [float(read(e.caption[0].value).rsplit(" ", 1)[1]) for e in at.expander]
    assert similarities == sorted(similarities, reverse=True)
    document = app_workspace.document(policies, "retention.md")
    links = [link for expander in at.expander for link in expander.get("page_link")]
    assert len(links) == len(labels)
    first = links[0].proto
    assert first.page.endswith("spaces") and read(first.label).startswith("Open chunk ")
    assert dict(first.query_string and [pair.split("=") for pair in first.query_string.split("&")]) == {
        "space": policies.id, "document": document.id, "chunk": read(first.label).split()[2]}


def test_a_model_answer_shows_its_text_and_its_citation(policies, app_workspace):
    app_workspace.use_lm(DummyLM([reply("Invoices are kept for seven years [1].", [1])]))
    at = ask(open_chat())
    assert not at.info, "no extracted-passages notice when a model answers"
    assert "Invoices are kept for seven years [1]." in [read(markdown.value) for markdown in at.markdown]
    [expander] = at.expander
    assert read(expander.label).startswith("[1] retention.md — ")
    assert "seven years" in read(expander.markdown[0].value)


def test_a_streamed_answer_is_replaced_by_the_checked_answer(policies, app_workspace):
    app_workspace.use_lm(streaming_lm(reply("Forever [9].", [9]), reply("Seven years [1].", [1])))
    at = ask(open_chat())
    shown = [read(markdown.value) for markdown in at.markdown]
    assert "Seven years [1]." in shown
    assert not any("Forever" in text for text in shown), "the provisional streamed text is removed"


def test_a_model_citing_a_missing_passage_twice_shows_not_found(policies, app_workspace):
    app_workspace.use_lm(DummyLM([reply("Kept forever [42].", [42]), reply("Still forever [7].", [7])]))
    at = ask(open_chat())
    assert [read(warning.value) for warning in at.warning] == [NOT_FOUND_TEXT]
    assert not at.expander


def test_a_failing_model_shows_its_error_and_no_answer(policies, app_workspace):
    app_workspace.use_lm(dspy.LM("openai/gpt-4o-mini", api_base="http://127.0.0.1:9", api_key="k", num_retries=0))
    at = ask(open_chat())
    assert "The language model call failed" in at.error[0].value
    assert len(at.chat_message) == 2  # the question and the assistant's error
    assert conversation_store(app_workspace).list(policies.scope) == [], "no empty conversation is kept"


def questions(at: AppTest) -> list[str]:
    return [read(message.markdown[0].value) for message in at.chat_message if message.name == "user"]


def button(at: AppTest, label: str):
    return next(button for button in at.button if button.label == label)


def conversations(at: AppTest):
    return next(box for box in at.selectbox if box.label == "Conversation")


def test_history_persists_across_reruns_and_a_reload(policies):
    at = ask(ask(open_chat()), "When are chat messages deleted?")
    at.run()
    assert questions(at) == [QUESTION, "When are chat messages deleted?"]
    reloaded = open_chat()  # a new browser session on the same data directory
    assert questions(reloaded) == [QUESTION, "When are chat messages deleted?"]
    assert any("seven years" in read(expander.markdown[0].value) for expander in reloaded.expander)
    assert conversations(reloaded).value != "", "the reload opens the conversation, not a new one"


def test_a_new_conversation_starts_empty_and_the_old_one_stays_listed(policies, app_workspace):
    at = ask(open_chat())
    button(at, "New").click().run()
    assert not at.chat_message
    at = ask(at, "When are chat messages deleted?")
    assert questions(at) == ["When are chat messages deleted?"]
    listed = conversations(at)
    assert [option.split(" · ")[0] for option in listed.options] == [
        "New conversation", "When are chat messages deleted?", QUESTION]
    oldest = conversation_store(app_workspace).list(policies.scope)[-1]
    listed.set_value(oldest.id).run()  # AppTest wants the option itself, not its label
    assert questions(at) == [QUESTION]


def test_a_deleted_conversation_is_gone_after_a_reload(policies):
    at = ask(open_chat())
    assert not any(b.label == "Delete" for b in at.button), "Delete opens a confirmation, it does not delete at once"
    button(at, "Yes, delete it").click().run()
    assert not at.chat_message
    assert conversations(at).options == ["New conversation"]
    assert not open_chat().chat_message


def test_an_empty_space_says_it_has_no_documents_and_links_to_upload(app_workspace):
    app_workspace.create_space("empty")
    at = open_chat()
    assert not at.exception
    assert any("has no documents yet" in read(info.value) for info in at.info)
    assert "Upload documents" in [link.label for link in at.page_link]
    assert not at.chat_input


def saved_examples(workspace, space) -> list[tuple[str, str, ExampleOrigin]]:
    with open_examples(workspace.settings) as store:
        return [(e.question, e.answer, e.origin) for e in store.list(space.scope)]


def test_a_thumbs_up_saves_the_answer_as_an_example_and_taking_it_back_removes_it(policies, app_workspace):
    app_workspace.use_lm(DummyLM([reply("Invoices are kept for seven years [1].", [1])]))
    at = ask(open_chat())
    at.feedback[0].set_value(1).run()
    assert not at.exception
    assert saved_examples(app_workspace, policies) == [
        (QUESTION, "Invoices are kept for seven years.", ExampleOrigin.ACCEPTED)]
    assert "Saved as an example of policies" in at.toast[0].value
    at.feedback[0].set_value(0).run()
    assert saved_examples(app_workspace, policies) == []
    assert "Removed from the examples of policies" in at.toast[0].value


def test_earlier_answers_keep_their_thumbs_and_extracted_answers_get_none(policies, app_workspace):
    at = ask(open_chat())
    assert not at.feedback, "an extracted answer is not what a model should learn to write"
    app_workspace.use_lm(DummyLM([reply("Chat messages go after 90 days [1].", [1])]))
    at = ask(at, "When are chat messages deleted?")
    at.feedback[0].set_value(1).run()
    at.run()
    assert [f.value for f in at.feedback] == [1]
    assert saved_examples(app_workspace, policies)[0][1] == "Chat messages go after 90 days."


def test_a_space_answering_with_optimised_prompts_says_so(policies, app_workspace):
    app_workspace.use_lm(DummyLM([]))
    assert not any("optimised" in read(caption.value) for caption in open_chat().caption)
    save_program(KnowledgeAgent(app_workspace).respond, program_path(app_workspace.settings.data_dir, policies,
                                                                     KNOWLEDGE))
    assert any("Answers use prompts optimised on this space's examples (lmspace optimize policies --reset goes back)"
               in read(caption.value) for caption in open_chat().caption)


def test_an_answer_from_the_offline_cache_says_so_also_when_the_conversation_is_reloaded():
    def page() -> None:
        import json
        from datetime import UTC, datetime

        from lmspace_core.conversations import answer_from_json
        from lmspace_core.domain import Answer, AnswerMode, to_json_data
        from lmspace_ui.answers import render_answer

        answered = Answer("How much leave?", "25 days.", AnswerMode.GENERATED, (), "s",
                          cached_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
        render_answer(answer_from_json(json.dumps(to_json_data(answered))))  # as the history shows it

    at = AppTest.from_function(page, default_timeout=30).run()  # the default 3 s includes the first imports
    assert not at.exception
    assert [c.value for c in at.caption if "local cache" in c.value] == [
        f":material/cloud_off: Offline: answered from the local cache of "
        f"{datetime(2026, 11, 30, 12, 0, tzinfo=UTC).astimezone():%Y-%m-%d %H:%M %Z}"]


def test_offline_the_chat_answers_from_the_cache_and_the_banner_counts_edits(tmp_path, monkeypatch, azure_emulators):
    import streamlit as st

    from lmspace_core.config import load_config
    from lmspace_core.workspace import Workspace
    from lmspace_ui.resources import get_workspace
    from tests.conftest import azure_environment, write_config

    config = write_config(tmp_path)
    online = azure_environment(azure_emulators)
    earlier = Workspace(load_config(config, env=online))  # this machine, while Azure answered
    earlier.ingest_text(earlier.create_space("policies"), "leave", "Employees get 25 days of paid leave a year.")
    earlier.list_spaces()
    earlier.close()
    monkeypatch.setenv("LMSPACE_CONFIG", str(config))
    for name, value in {**online, "LMSPACE_STORE__AZURE__COSMOS_ENDPOINT": "https://127.0.0.1:9/"}.items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    workspace = get_workspace()  # the dashboard's own, Azure unreachable
    try:
        at = ask(open_chat(), "How many days of paid leave?")
        assert [c.value for c in at.caption if c.value.startswith(":material/cloud_off: Offline: answered from")]
        assert "25 days" in read(at.markdown[-1].value)
        workspace.update_space(workspace.space("policies"), description="Leave and travel.")
        assert "Offline — 1 change waiting for Azure." in [w.value for w in open_chat().warning][0]
    finally:
        st.cache_resource.clear()
        workspace.close()


def test_conversations_asked_alike_in_the_same_minute_are_told_apart_in_the_picker(policies, app_workspace):
    from lmspace_ui.chat_history import conversation_labels

    store = conversation_store(app_workspace)
    first, second = store.start(policies.scope, QUESTION), store.start(policies.scope, QUESTION)
    labels = conversation_labels(store.list(policies.scope))
    assert labels[second.id] != labels[first.id] and labels[second.id].startswith(labels[first.id].split(" (")[0])
