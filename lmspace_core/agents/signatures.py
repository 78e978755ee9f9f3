"""Every DSPy signature LMSpace uses, in one place, so prompts are reviewed and versioned together."""

from __future__ import annotations

from typing import Literal

import dspy
import pydantic


class AnswerWithCitations(dspy.Signature):
    """Answer the question using only the numbered passages from the knowledge space.

    Follow the space instructions. Support every statement with the numbers of the passages it comes from, written
    inline like [1] or [2][3]. Never cite a number that is not in the passages. If the passages do not contain the
    answer, say that the space does not contain it and cite nothing.
    """

    space_instructions: str = dspy.InputField(desc="standing instructions of this space; always follow them")
    history: dspy.History = dspy.InputField(desc="earlier questions and answers of this conversation")
    passages: list[str] = dspy.InputField(desc="numbered passages, each '[n] source (location): text'")
    question: str = dspy.InputField()
    answer: str = dspy.OutputField(desc="the answer, with [n] citations inline")
    cited: list[int] = dspy.OutputField(desc="the passage numbers the answer relies on")


class FileFindingDraft(pydantic.BaseModel):
    """A location a subagent reports; research verifies it against the file before anyone sees it."""

    line: int = pydantic.Field(description="first line, as numbered in the content")
    end_line: int = pydantic.Field(description="last line, as numbered in the content (same as line for one line)")
    text: str = pydantic.Field(description="the exact source text of those lines, without the line numbers")
    note: str = pydantic.Field(description="why this location answers the question, in a few words")


class InspectFile(dspy.Signature):
    """Answer the question about one file of a codebase (or one window of its lines) for the research task.

    Report every location in the content that answers the question as a finding, with its line numbers as shown and
    its exact source text. Report nothing that is not in the content. Then summarise what this part of the file
    contributes to the task; leave the summary empty when nothing in it is relevant.
    """

    task: str = dspy.InputField(desc="the research task the question serves")
    question: str = dspy.InputField(desc="what to look for in this file")
    path: str = dspy.InputField(desc="the file's path in the codebase")
    numbered_content: str = dspy.InputField(desc="the file's lines, each prefixed with its line number and ': '")
    findings: list[FileFindingDraft] = dspy.OutputField(desc="every relevant location; [] when there is none")
    summary: str = dspy.OutputField(desc="one or two sentences, or empty when nothing here is relevant")


class CombineFindings(dspy.Signature):
    """Combine partial results of a codebase research task into one answer to the task.

    Each partial result covers some files and starts with where it comes from. Keep every concrete fact and file
    path that matters to the task, merge repetitions, and add nothing that the partial results do not say.
    """

    task: str = dspy.InputField(desc="the research task")
    partial_results: list[str] = dspy.InputField(desc="results for parts of the codebase")
    summary: str = dspy.OutputField(desc="the combined answer to the task, naming the files it relies on")


class PlanResearch(dspy.Signature):
    """Plan how to research a task over a codebase: which files to look at and which strategy answers it.

    Strategies: `pattern` when code can find the answer exactly (calls to a function, functions that raise an
    exception, imports of a module, TODO comments, where a class or function is defined, lines matching a regular
    expression); `map` when every selected file must be read and judged against a question; `explore` for open
    questions that need following code across files; `search` to point at the passages most similar to the task.
    Select as few files as answer the task, using the paths and languages in the description.
    """

    task: str = dspy.InputField()
    codebase_description: str = dspy.InputField(desc="file counts, languages, folders and paths; not the content")
    strategy: Literal["pattern", "map", "explore", "search"] = dspy.OutputField()
    include_globs: list[str] = dspy.OutputField(desc="globs of the files to look at, e.g. 'src/**/*.py'; ['**/*']: all")
    languages: list[str] = dspy.OutputField(desc="only files in these languages (names as in the description); []: all")
    pattern_kind: Literal["call", "raise", "import", "todo", "definition", "undocumented", "regex", "none"] = \
        dspy.OutputField(desc="for a pattern plan, what the code looks for (undocumented: Python functions or classes "
                              "without a docstring); 'none' for the other strategies")
    pattern_name: str = dspy.OutputField(
        desc="for call/raise/import/definition: the name, e.g. print, ValueError, socket; for todo: the markers asked "
             "for, e.g. 'TODO,FIXME' (empty: all of TODO, FIXME, HACK, XXX); for undocumented: 'class' for classes, "
             "empty for functions; empty otherwise"
    )
    pattern_regex: str = dspy.OutputField(
        desc="for a regex pattern: an RE2 regular expression (no backreferences or lookaround); empty otherwise"
    )
    question: str = dspy.OutputField(
        desc="for map/explore/search: the question to answer about each file; empty for a pattern plan"
    )
    rationale: str = dspy.OutputField(desc="one sentence: why this strategy and these files")


class SummarizeFindings(dspy.Signature):
    """Answer a codebase research task from verified findings, citing them by number.

    The findings were re-read from the files; the notes of the subagents may mention things that could not be
    verified, so state only what the numbered findings support and cite them inline like [1] or [2][3]. Cite no
    number that is not in the list.
    """

    task: str = dspy.InputField()
    subagent_notes: str = dspy.InputField(desc="what the subagents reported, unverified")
    findings: list[str] = dspy.InputField(desc="verified findings, each '[n] path:line: source text (note)'")
    answer: str = dspy.OutputField(desc="the answer to the task with [n] citations inline")
    cited: list[int] = dspy.OutputField(desc="the finding numbers the answer relies on")
