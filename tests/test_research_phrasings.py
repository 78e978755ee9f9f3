"""The built-in planner reads tasks as people phrase them: names among articles and kind words, quotes and
backticks, dotted and plural names, language qualifiers; and it says so when it cannot tell which name is meant."""

from __future__ import annotations

import pytest

from lmspace_core.research.plan import PatternKind, Strategy
from lmspace_core.research.rules import plan_with_rules

CALL, RAISE, IMPORT, DEFINITION, TODO = (PatternKind.CALL, PatternKind.RAISE, PatternKind.IMPORT,
                                         PatternKind.DEFINITION, PatternKind.TODO)

PHRASINGS = [
    # TODO / FIXME: only the markers asked for; "todo-like" means all of them
    ("list the TODOs", TODO, "TODO", ()),
    ("find FIXME comments", TODO, "FIXME", ()),
    ("Where are the TODO and FIXME comments?", TODO, "TODO,FIXME", ()),
    ("show me all todos in the python code", TODO, "TODO", ("python",)),
    ("any XXX markers left?", TODO, "XXX", ()),
    ("find todo-like comments", TODO, None, ()),
    ("TODOs, FIXMEs and the like", TODO, None, ()),
    ("which files have HACK notes", TODO, "HACK", ()),
    ("grep for `FIXME`", TODO, "FIXME", ()),
    ("outstanding todos in the Rust code", TODO, "TODO", ("rust",)),
    ("TODO comments in C++ files", TODO, "TODO", ("cpp",)),
    # print
    ("Find print statements", CALL, "print", ()),
    ("where do we print?", CALL, "print", ()),
    ("list every print() call", CALL, "print", ()),
    ("show print calls in python files", CALL, "print", ("python",)),
    ("find all the prints", CALL, "print", ()),
    ("where is print used", CALL, "print", ()),
    ("find print statements in the Go code", CALL, "print", ("go",)),
    ("find print calls in .py files", CALL, "print", ("python",)),
    # calls
    ("calls to requests.get", CALL, "requests.get", ()),
    ("who calls eval", CALL, "eval", ()),
    ("where is `parse_config` called?", CALL, "parse_config", ()),
    ("find all invocations of subprocess.run", CALL, "subprocess.run", ()),
    ("uses of os.system()", CALL, "os.system", ()),
    ("which functions call the validate function", CALL, "validate", ()),
    ("find isinstance calls", CALL, "isinstance", ()),
    ("where do we call json.loads", CALL, "json.loads", ()),
    ("every call to the execute method", CALL, "*.execute", ()),
    ("calls to .commit()", CALL, "*.commit", ()),
    ("usages of `logger.warning` in the python code", CALL, "logger.warning", ("python",)),
    ("what calls the helper named build_index", CALL, "build_index", ()),
    ("calls to Console.WriteLine in C#", CALL, "Console.WriteLine", ("csharp",)),
    ("find code using eval", CALL, "eval", ()),
    ("Where is the `Config` class instantiated?", CALL, "Config", ()),
    ("find instances of the Session object", CALL, "Session", ()),
    ("find uses of the deprecated API get_user", CALL, "get_user", ()),
    # raises
    ("functions that raise ValueError", RAISE, "ValueError", ()),
    ("where is KeyError raised", RAISE, "KeyError", ()),
    ("which methods throw IOException", RAISE, "IOException", ()),
    ("where do we raise a TimeoutError?", RAISE, "TimeoutError", ()),
    ("find code raising the custom ConfigError exception", RAISE, "ConfigError", ()),
    ("where are ValueErrors thrown", RAISE, "ValueError", ()),
    ("places that raise `errors.NotFound`", RAISE, "errors.NotFound", ()),
    ("who throws IllegalStateException in java", RAISE, "IllegalStateException", ("java",)),
    ("functions that raise ValueError in python files", RAISE, "ValueError", ("python",)),
    # imports
    ("which files import the requests module", IMPORT, "requests", ()),
    ("imports of socket", IMPORT, "socket", ()),
    ("who imports numpy", IMPORT, "numpy", ()),
    ("where is os.path imported", IMPORT, "os.path", ()),
    ("files that import `yaml`", IMPORT, "yaml", ()),
    ("which modules import the json package?", IMPORT, "json", ()),
    ("find every file importing pandas", IMPORT, "pandas", ()),
    ("which files use the lodash library", IMPORT, "lodash", ()),
    ("what imports the sqlite3 module in Python files", IMPORT, "sqlite3", ("python",)),
    ("where do we import from collections.abc", IMPORT, "collections.abc", ()),
    ("files that require express", IMPORT, "express", ()),
    ("imports of fmt in golang", IMPORT, "fmt", ("go",)),
    ("Which modules depend on requests?", IMPORT, "requests", ()),
    ("Which files import the 'requests' module?", IMPORT, "requests", ()),
    # "uses" of a standard-library module: its imports (the stdlib's "uses pickle" found 2 calls to copyreg.pickle)
    ("anything that uses pickle", IMPORT, "pickle", ()),
    ("uses of subprocess", IMPORT, "subprocess", ()),
    ("which files use json", IMPORT, "json", ()),
    # definitions
    ("where is class Invoice defined", DEFINITION, "Invoice", ()),
    ("definition of parse_config", DEFINITION, "parse_config", ()),
    ("where is the Invoice class defined?", DEFINITION, "Invoice", ()),
    ("find class Invoice", DEFINITION, "Invoice", ()),
    ("where do we define `load_config`", DEFINITION, "load_config", ()),
    ("find the definition of the function handle_request", DEFINITION, "handle_request", ()),
    ("where's Workspace defined", DEFINITION, "Workspace", ()),
    ("where are the Settings declared", DEFINITION, "Settings", ()),
    ("find the struct Point in the rust code", DEFINITION, "Point", ("rust",)),
    ("show the UserService class definition", DEFINITION, "UserService", ()),
    ("where is main defined in kotlin files", DEFINITION, "main", ("kotlin",)),
    ("list all functions named handle_request", DEFINITION, "handle_request", ()),
]


@pytest.mark.parametrize(("task", "kind", "name", "languages"), PHRASINGS)
def test_a_task_phrased_freely_becomes_the_right_pattern(task, kind, name, languages):
    plan = plan_with_rules(task)
    assert (plan.strategy, plan.pattern.kind, plan.pattern.name) == (Strategy.PATTERN, kind, name)
    assert plan.files.languages == languages


def test_there_are_at_least_sixty_phrasings_covering_every_family():
    assert len(PHRASINGS) >= 60
    assert {kind for _, kind, _, _ in PHRASINGS} == {CALL, RAISE, IMPORT, DEFINITION, TODO}


@pytest.mark.parametrize(("task", "family"), [
    ("which files import the module", "import"),
    ("where is it defined", "definition"),
    ("find functions that raise an exception", "raise"),
    ("who calls this", "call"),
    ("which files import something", "import"),
    ("where are errors raised", "raise"),
])
def test_when_the_name_cannot_be_told_the_plan_says_so_instead_of_guessing(task, family):
    plan = plan_with_rules(task)
    assert plan.strategy is Strategy.SEARCH and plan.pattern is None
    assert f"reads as a task of the '{family}' family" in plan.rationale
    assert "could not tell which name" in plan.rationale


@pytest.mark.parametrize("task", ["which files import the X module", "find calls to the function",
                                  "where is the class defined", "imports of the module in the code"])
def test_a_stop_word_is_never_taken_for_a_name(task):
    plan = plan_with_rules(task)
    name = plan.pattern.name if plan.pattern else None
    assert name not in {"the", "a", "module", "function", "class", "code", "in"}


def test_go_as_a_verb_is_not_the_go_language():
    assert plan_with_rules("let's go through the code and find print statements").files.languages == ()
