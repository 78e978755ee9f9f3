"""Answers without a model show the answer: no repeated quotes, and a sentence that introduces a value keeps it."""

from __future__ import annotations

from lmspace_core.agents.citations import quote_span
from lmspace_core.agents.extractive import extract_answer, split_sentences
from lmspace_core.agents.knowledge import KnowledgeAgent

SERIAL = """# Serial ports

To use the serial port without root, add your user to the following group:

dialout

Log out and back in afterwards so that the new group membership takes effect.
"""


def test_a_sentence_that_leads_into_a_value_is_quoted_with_it():
    sentences = split_sentences(SERIAL)
    assert "To use the serial port without root, add your user to the following group: dialout" in sentences


def test_the_extracted_answer_shows_the_value_the_question_asks_for(workspace):
    space = workspace.create_space("serial")
    workspace.ingest(space, {"serial.md": SERIAL})
    answer = KnowledgeAgent(workspace).query("Which group gives access to the serial port?", space)
    assert "dialout" in answer.citations[0].quote


def test_a_sentence_shared_by_overlapping_passages_is_quoted_once(workspace):
    space = workspace.create_space("git")
    shared = "Security issues should be disclosed privately to the Git security mailing list."
    workspace.ingest(space, {
        "a.md": f"# Contributing\n\nBug reports go to the public mailing list. {shared}",
        "b.md": f"# Security\n\n{shared} Fixes are announced after a release.",
    })
    hits = workspace.search(space, "Where do I report a security issue?")
    answer = extract_answer("Where do I report a security issue?", hits, workspace.embedder, space.id)
    quotes = [" ".join(c.quote.split()) for c in answer.citations]
    assert len(quotes) == len(set(quotes)) and shared in quotes


def test_quotes_carry_no_bold_markers():
    sentences = split_sentences("- **Financial records** (invoices, ledgers): retained for 7 years after the year end.")
    assert sentences == ["Financial records (invoices, ledgers): retained for 7 years after the year end."]


def test_quotes_keep_underscores_in_names():
    assert split_sentences("The package entry point is requests/__init__.py in the source tree.") == [
        "The package entry point is requests/__init__.py in the source tree."]


def test_extracted_citations_are_numbered_by_relevance_and_located_in_their_whole_passage(workspace):
    space = workspace.create_space("serial")
    workspace.ingest(space, {"serial.md": SERIAL, "list.md": "# Groups\n\n- **dialout**: serial ports and modems.\n"
                             "- **plugdev**: removable devices such as USB sticks.\n"})
    answer = KnowledgeAgent(workspace).query("Which group gives access to the serial port?", space)

    assert [c.number for c in answer.citations] == [1, 2, 3]
    assert [c.score for c in answer.citations] == sorted((c.score for c in answer.citations), reverse=True)
    chunks = {(d.id, c.ordinal): c.text for d in workspace.documents(space) for c in workspace.chunks(space, d)}
    for cited in answer.citations:
        assert cited.passage == chunks[(cited.document_id, cited.ordinal)]  # the whole chunk, and which one it is
        start, end = quote_span(cited.passage, cited.quote)
        assert " ".join(cited.passage[start:end].replace("**", "").split()).lstrip("- ") == cited.quote


def test_a_quote_is_found_across_the_line_breaks_and_markers_it_dropped():
    passage = "# Serial ports\n\nAdd your user to the following group:\n\n- dialout\n\nLog out afterwards."
    start, end = quote_span(passage, "Add your user to the following group: dialout")
    assert passage[start:end] == "Add your user to the following group:\n\n- dialout"
    start, end = quote_span("- **Financial records** (invoices): 7 years.", "Financial records (invoices): 7 years.")
    assert (start, end) == (4, 44)
    assert quote_span("Invoices are kept for seven years.", "Chats are deleted after 90 days.") is None


POSIX = """6.11 Bash POSIX Mode
====================

When invoked as 'sh', Bash enters POSIX mode after reading the startup
files.

The following list is what's changed when 'POSIX mode' is in effect:

  1. Bash ensures that the 'POSIXLY_CORRECT' variable is set.

  2. When a command in the hash table no longer exists, Bash will
     re-search '$PATH' to find the new location.
"""


def test_headings_are_never_quoted_as_answers():
    """The README screenshot's third quote was the bare heading 'Record Classes and Retention Periods'."""
    passage = ("# Record Classes and Retention Periods\n\nFinancial records are retained for 7 years.\n\n"
               "Destruction Of Records Safely\n-----------------------------\n\nShred paper records within 30 days.")
    assert split_sentences(passage) == ["Financial records are retained for 7 years.",
                                        "Shred paper records within 30 days."]


def test_plain_text_headings_and_numbered_lists_are_quoted_as_written():
    """/usr/share/doc/bash/POSIX.gz quoted '6.11 Bash POSIX Mode ====' and '... is in effect: 1.' before."""
    assert split_sentences(POSIX) == [  # the underlined heading is not a quote
        "When invoked as 'sh', Bash enters POSIX mode after reading the startup files.",
        "The following list is what's changed when 'POSIX mode' is in effect: Bash ensures that the "
        "'POSIXLY_CORRECT' variable is set.",
        "Bash ensures that the 'POSIXLY_CORRECT' variable is set.",
        "When a command in the hash table no longer exists, Bash will re-search '$PATH' to find the new location.",
    ]
    for sentence in split_sentences(POSIX):
        start, end = quote_span(POSIX, sentence)
        assert " ".join(POSIX[start:end].replace("1.", "").split()) == sentence


def test_quotes_keep_the_symbols_that_end_or_start_a_value():
    """A Debian copyright file's `License: GPL-2+` was quoted as 'GPL-2' (another licence), `--force` as 'force'."""
    sentences = split_sentences("Copyright (C) Ian Macdonald\nLicense: GPL-2+\n\n"
                                "--force overwrites the files that already exist.\n\n"
                                "The compiler used for the extension modules is C++\n\n"
                                "| Option | Meaning of the option here |")
    assert sentences == ["Copyright (C) Ian Macdonald License: GPL-2+",
                         "--force overwrites the files that already exist.",
                         "The compiler used for the extension modules is C++",
                         "Option | Meaning of the option here"]


def test_a_debian_copyright_files_dot_lines_separate_paragraphs_and_are_never_quoted():
    """Debian copyright files mark an empty line inside a field with ' .': git's licence was quoted ending 'or .'."""
    text = ("License: GPL-2 or Artistic\n"
            " a) the GNU General Public License as published by the Free Software\n"
            "    Foundation; either version 1, or (at your option) any later\n"
            "    version, or\n"
            " .\n"
            " b) the \"Artistic License\" which comes with Perl.\n")
    sentences = split_sentences(text)
    assert not any(sentence.endswith(" .") or sentence.startswith(". ") for sentence in sentences), sentences
    version = next(sentence for sentence in sentences if "any later version" in sentence)
    assert quote_span(text, version) is not None
