"""Tasks that name an operation in words ("where do we open files?", "places that read environment variables")
become exact pattern searches for the code that performs it, not a semantic search."""

from __future__ import annotations

import pytest

from lmspace_core.research.codebase import Codebase
from lmspace_core.research.patterns import find_in_file
from lmspace_core.research.plan import PatternKind, Strategy
from lmspace_core.research.rules import plan_with_rules

FILES = '''import io, os, webbrowser
from pathlib import Path


def load(path):
    """Callers open(path) themselves."""  # open(in a docstring) is no call
    with open(path) as handle:
        return handle.read()


def load_legacy(path):
    return io.open(path, encoding="latin-1").read()


def settings(folder):
    return (Path(folder) / "settings.toml").read_text()  # a method: other objects have read_text too


def help_page(formatter):
    formatter.write_text("Usage: ...")


def show(url):
    webbrowser.open(url)


def low_level(path):
    return os.fdopen(os.open(path, os.O_RDONLY))
'''

ENVIRONMENT = '''import os
from os import environ


def home():
    """Reads os.environ["HOME"] (a docstring, not a read)."""
    return os.environ["HOME"]


def debug():
    return os.getenv("DEBUG", "0") == "1"


def editor():
    return environ.get("EDITOR", "vi")


environment_name = "production"  # not the process environment
'''


def findings(task: str, path: str, text: str) -> list[tuple[int, int | None]]:
    plan = plan_with_rules(task)
    assert plan.strategy is Strategy.PATTERN, plan.rationale
    codebase = Codebase.from_mapping({path: text})
    return [(f.line, f.column) for f in find_in_file(path, text, codebase.files[0].language, plan.pattern)]


@pytest.mark.parametrize("task", ["where do we open files?", "find functions that open a file",
                                  "which functions read files", "where are files opened", "list the file opens"])
def test_opening_files_asked_in_words_is_a_search_for_the_calls_that_open_them(task):
    plan = plan_with_rules(task)
    assert (plan.strategy, plan.pattern.kind) == (Strategy.PATTERN, PatternKind.CALL)
    assert {"open", "io.open", "os.open", "gzip.open", "fopen", "os.Open"} <= set(plan.pattern.name.split(","))


def test_the_calls_that_open_files_are_found_and_nothing_else():
    assert findings("where do we open files?", "loader.py", FILES) == [(7, 10), (12, 12), (28, 12), (28, 22)]


def test_the_plan_says_which_method_calls_it_leaves_out():
    rationale = plan_with_rules("find functions that open a file").rationale
    assert "add `*.open` or `*.read_text` to `pattern.name`" in rationale


@pytest.mark.parametrize("task", ["find uses of open()", "find calls to open", "who calls open"])
def test_open_is_a_name_when_it_is_called(task):
    plan = plan_with_rules(task)
    assert (plan.strategy, plan.pattern.kind, plan.pattern.name) == (Strategy.PATTERN, PatternKind.CALL, "open")


@pytest.mark.parametrize("task", ["list all the places that read environment variables", "where do we read env vars",
                                  "os.environ accesses", "which files use environment variables"])
def test_environment_variables_asked_in_words_are_a_search_for_their_uses(task):
    assert findings(task, "config.py", ENVIRONMENT) == [(7, 12), (11, 12), (15, 12)]
    assert plan_with_rules(task).pattern.note == "uses an environment variable"


def test_a_task_about_markers_is_not_taken_for_opening_files():
    assert plan_with_rules("list open TODOs in python files").pattern.kind is PatternKind.TODO


UNDOCUMENTED = '''"""A module."""


def documented():
    """Says why."""


@staticmethod
def bare(x):
    return x


class Service:
    def run(self):
        """Runs."""

    async def stop(self):
        pass


class Plain:
    pass
'''


@pytest.mark.parametrize("task", ["which functions have no docstring", "find functions without docstrings",
                                  "list undocumented functions", "methods missing a doc string"])
def test_functions_without_a_docstring_are_found_by_their_def_line(task):
    assert findings(task, "service.py", UNDOCUMENTED) == [(9, 1), (17, 5)]


def test_classes_without_a_docstring_are_found_when_classes_are_asked_for():
    assert findings("which classes have no docstring?", "service.py", UNDOCUMENTED) == [(13, 1), (21, 1)]


def test_the_docstring_search_says_it_reads_python_only():
    plan = plan_with_rules("which functions have no docstring")
    assert plan.pattern.kind is PatternKind.UNDOCUMENTED and "Python" in plan.rationale
    assert find_in_file("app.js", "function f() {}\n", "javascript", plan.pattern) == []
