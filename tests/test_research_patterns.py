"""Pattern research is exact: generated trees with known truth, decoys in strings and comments, multi-line calls."""

from __future__ import annotations

import random

import pytest

from lmspace_core.domain import Finding
from lmspace_core.errors import LMSpaceError
from lmspace_core.research.codebase import Codebase, matches_glob, select_files
from lmspace_core.research.patterns import find_in_file
from lmspace_core.research.syntax import ParsedSource
from lmspace_core.research.plan import FileSelection, PatternKind, PatternQuery, ResearchPlan, Strategy
from lmspace_core.research.rules import plan_with_rules
from lmspace_core.research.verify import verify_findings

REAL_PRINTS = (
    ['print("starting")'],
    ["print(", "    total,", '    sep=", ",', ")"],
    ['print(f"{name}: {value!r}")'],
    ["print(len(items), file=sys.stderr)"],
    ['print("""multi', 'line text""")'],
)
DECOYS = (
    ['# print("commented out")'],
    ["message = \"print('not a call')\""],
    ['"""Docstring mentioning print(x) in prose."""'],
    ["self.print(report)"],
    ["printer(page)"],
    ["print_report(data)"],
    ["print_count = 3"],
    ["logger.info('print(%s)', x)  # print(y)"],
)


def generated_tree(files: int, seed: int = 3) -> tuple[dict[str, str], set[tuple[str, int, int]]]:
    """Python files mixing real print calls and decoys, with the (path, first line, last line) of every real one."""
    rng = random.Random(seed)
    tree, truth = {}, set()
    for number in range(files):
        path = f"pkg{number % 4}/module_{number}.py"
        lines = ["import sys", "", "", f"def function_{number}(total, name, value, items, report, page, data, x):"]
        for _ in range(rng.randint(3, 12)):
            block = rng.choice(REAL_PRINTS + DECOYS)
            if block in REAL_PRINTS:
                truth.add((path, len(lines) + 1, len(lines) + len(block)))
            lines.extend(f"    {line}" for line in block)
        lines.append("    return total")
        tree[path] = "\n".join(lines) + "\n"
    return tree, truth


def run_pattern(tree: dict[str, str], query: PatternQuery) -> set[tuple[str, int, int]]:
    codebase = Codebase.from_mapping(tree)
    return {
        (f.path, f.line, f.end_line)
        for file in codebase.files
        for f in find_in_file(file.path, codebase.read(file.path), file.language, query)
    }


def test_print_statements_are_found_with_recall_and_precision_one():
    tree, truth = generated_tree(60)
    found = run_pattern(tree, plan_with_rules("Find print statements").pattern)
    assert len(truth) > 100
    assert found == truth


def test_a_multi_line_call_is_one_finding_spanning_its_lines():
    [finding] = find_in_file("a.py", 'x = 1\nprint(\n    x,\n)\n', "python", PatternQuery(PatternKind.CALL, "print"))
    assert (finding.line, finding.end_line, finding.text) == (2, 4, "print(\n    x,\n)")


def test_method_calls_match_only_when_asked_for():
    code = "db.execute(sql)\nexecute(sql)\n"
    assert [f.line for f in find_in_file("a.py", code, "python", PatternQuery(PatternKind.CALL, "execute"))] == [2]
    assert [f.line for f in find_in_file("a.py", code, "python", PatternQuery(PatternKind.CALL, "*.execute"))] == [1]
    assert [f.line for f in find_in_file("a.py", code, "python", PatternQuery(PatternKind.CALL, "db.execute"))] == [1]


def test_raises_are_noted_with_their_function():
    code = "def parse(x):\n    if not x:\n        raise ValueError('empty')\n\nraise KeyError\n"
    [finding] = find_in_file("a.py", code, "python", PatternQuery(PatternKind.RAISE, "ValueError"))
    assert (finding.line, finding.note) == (3, "raises ValueError in function parse")


def test_imports_todos_and_definitions_in_python():
    code = "import socket\nfrom socket import socket as s\nimport socketserver\n# TODO: close it\nclass Invoice:\n    pass\n"
    found = {kind: [f.line for f in find_in_file("a.py", code, "python", PatternQuery(kind, name))]
             for kind, name in ((PatternKind.IMPORT, "socket"), (PatternKind.TODO, None),
                                (PatternKind.DEFINITION, "Invoice"))}
    assert found == {PatternKind.IMPORT: [1, 2], PatternKind.TODO: [4], PatternKind.DEFINITION: [5]}


def test_other_languages_ignore_strings_and_comments_and_follow_multi_line_calls():
    code = 'const s = "print(1)"; // print(2)\n/* print(3) */\nprint(a,\n      b);\nconsole.log(print);\n'
    findings = find_in_file("a.js", code, "javascript", PatternQuery(PatternKind.CALL, "print"))
    assert [(f.line, f.end_line) for f in findings] == [(3, 4)]


def test_masking_keeps_line_and_column_positions():
    code = 'a = "x\\"y" // note\nb = 2\n'
    masked = ParsedSource(code, "javascript").blanked()
    assert len(masked) == len(code) and masked.splitlines()[1] == "b = 2" and "note" not in masked


def test_todo_markers_only_count_in_comments():
    code = 'msg = "TODO in a string"\n# FIXME: real one\nx = 1  # XXX also real\n'
    assert [f.line for f in find_in_file("a.rb", code, "ruby", PatternQuery(PatternKind.TODO))] == [2, 3]


def test_verification_drops_fabricated_findings_and_relocates_shifted_ones():
    codebase = Codebase.from_mapping({"app.py": "def run():\n    print('hi')\n    return 1\n"})
    result = verify_findings(
        [Finding("app.py", 2, 2, "    print('hi')"), Finding("app.py", 7, 7, "print('hi')"),
         Finding("app.py", 2, 2, "eval(user_input)"), Finding("missing.py", 1, 1, "x")],
        codebase,
    )
    assert [(f.line, f.text, f.verified) for f in result.verified] == [(2, "    print('hi')", True)] * 2
    assert [f.note for f in result.rejected] == ["rejected: this text is not in app.py",
                                                 "rejected: no readable file missing.py"]


def test_file_selection_by_glob_and_language():
    codebase = Codebase.from_mapping({"src/a.py": "x", "src/deep/b.py": "x", "web/c.js": "x", "README.md": "x"})
    selection = FileSelection(include=("src/**/*.py", "**/*.js"), exclude=("src/deep/*",))
    assert [f.path for f in select_files(codebase, selection)] == ["src/a.py", "web/c.js"]
    assert [f.path for f in select_files(codebase, FileSelection(languages=("javascript",)))] == ["web/c.js"]
    assert matches_glob("a/b/c.py", "**/*.py") and matches_glob("c.py", "**/*.py")


@pytest.mark.parametrize(("glob", "selected"), [
    ("src/**/*.{ts,tsx}", ["src/app.tsx", "src/lib/util.ts"]),
    ("src/[A-Z]*.py", ["src/Main.py"]),
    ("*.py", ["src/Main.py", "src/helpers.py"]),
    ("./src/*.py", ["src/Main.py", "src/helpers.py"]),
    ("**/!(test_*).js", ["web/app.js"]),
    ("**/*", [".github/ci.yml", "src/Main.py", "src/app.tsx", "src/helpers.py", "src/lib/util.ts", "web/app.js",
              "web/test_app.js"]),
])
def test_globs_as_people_write_them_select_files(glob, selected):
    codebase = Codebase.from_mapping(dict.fromkeys(
        ["src/app.tsx", "src/lib/util.ts", "src/Main.py", "src/helpers.py", "web/app.js", "web/test_app.js",
         ".github/ci.yml"], "x"))
    assert [f.path for f in select_files(codebase, FileSelection(include=(glob,)))] == selected


def test_plans_round_trip_through_json_and_bad_edits_are_named():
    plan = plan_with_rules("functions that raise ValueError in python files")
    assert ResearchPlan.from_json(plan.to_json()) == plan
    with pytest.raises(LMSpaceError, match="missing the field 'strategy'"):
        ResearchPlan.from_json('{"task": "x"}')
    with pytest.raises(LMSpaceError, match="not a valid regular expression"):
        ResearchPlan("x", Strategy.PATTERN, pattern=PatternQuery(PatternKind.REGEX, regex="("))
    with pytest.raises(LMSpaceError, match="needs a `question`"):
        ResearchPlan("x", Strategy.MAP)


@pytest.mark.parametrize(("task", "kind", "name"), [
    ("Find print statements", PatternKind.CALL, "print"),
    ("where do we print?", PatternKind.CALL, "print"),
    ("calls to requests.get", PatternKind.CALL, "requests.get"),
    ("who calls eval", PatternKind.CALL, "eval"),
    ("functions that raise ValueError", PatternKind.RAISE, "ValueError"),
    ("where is KeyError raised", PatternKind.RAISE, "KeyError"),
    ("imports of socket", PatternKind.IMPORT, "socket"),
    ("which files import requests", PatternKind.IMPORT, "requests"),
    ("list the TODO comments", PatternKind.TODO, "TODO"),
    ("where is class Invoice defined", PatternKind.DEFINITION, "Invoice"),
    ("definition of parse_config", PatternKind.DEFINITION, "parse_config"),
])
def test_rules_recognise_common_phrasings(task, kind, name):
    plan = plan_with_rules(task)
    assert (plan.strategy, plan.pattern.kind, plan.pattern.name) == (Strategy.PATTERN, kind, name)


def test_an_unrecognised_task_is_a_semantic_search_said_as_such():
    plan = plan_with_rules("how is the billing cycle computed?")
    assert plan.strategy is Strategy.SEARCH and "not as answers" in plan.rationale


def calls(code: str, language: str, name: str, path: str = "") -> list[tuple[int, int]]:
    """(line, column) of every call to `name` found in `code`."""
    path = path or {"python": "a.py", "javascript": "a.js"}.get(language, "a.txt")
    return [(f.line, f.column) for f in find_in_file(path, code, language, PatternQuery(PatternKind.CALL, name))]


def test_every_call_on_a_line_is_its_own_finding_at_its_column():
    code = "if isinstance(a, int) and isinstance(b, str):\n    print(print(1))\n"
    assert calls(code, "python", "isinstance") == [(1, 4), (1, 27)]
    assert calls(code, "python", "print") == [(2, 5), (2, 11)]
    assert calls("check(a); check(b);\n", "javascript", "check") == [(1, 1), (1, 11)]


def test_columns_count_characters_not_bytes():
    assert calls('s = "héllo"; print(s)\n', "python", "print") == [(1, 14)]
    assert calls('let s = "héllo"; log(s);\n', "javascript", "log") == [(1, 18)]


@pytest.mark.parametrize(("language", "path", "code", "name", "lines"), [
    ("rust", "a.rs", "fn pick<'a>(x: &'a str) -> &'a str { println!(\"{}\", x); x }\n", "println", [1]),
    ("csharp", "A.cs", 'var dir = @"C:\\temp\\"; Console.WriteLine(dir);\n', "Console.WriteLine", [1]),
    ("lua", "a.lua", '--[[ print("old")\nprint("older") ]]\nprint("new")\n', "print", [3]),
    ("php", "a.php", '<?php\n# print("debug");\nprint("shown");\n', "print", [3]),
    ("kotlin", "A.kt", 'val s = """He said "print(1)" twice"""\nprint(2)\n', "print", [2]),
])
def test_other_languages_are_parsed_so_their_literals_hide_nothing_and_show_nothing(language, path, code, name, lines):
    assert [line for line, _ in calls(code, language, name, path)] == lines


def test_todo_comments_of_lua_and_php_are_found_in_their_own_comment_syntax():
    todo = PatternQuery(PatternKind.TODO)
    assert [f.line for f in find_in_file("a.lua", "--[[\n TODO: split\n]]\nx = 1\n", "lua", todo)] == [2]
    assert [f.line for f in find_in_file("a.php", "<?php\n# FIXME: escape\n$x = 1;\n", "php", todo)] == [2]


def test_a_todo_query_returns_only_the_markers_it_asks_for():
    code = "# TODO: one\n# FIXME: two\n# XXX: three\n# HACK: four\nx = 1  # todo lowercase is prose\n"
    found = {name: [f.line for f in find_in_file("a.py", code, "python", PatternQuery(PatternKind.TODO, name))]
             for name in ("TODO,FIXME", "XXX", None)}
    assert found == {"TODO,FIXME": [1, 2], "XXX": [3], None: [1, 2, 3, 4]}
    js = "// TODO: a\n/* XXX: b */\n"
    assert [f.line for f in find_in_file("a.js", js, "javascript", PatternQuery(PatternKind.TODO, "TODO"))] == [1]


def test_a_line_found_everywhere_does_not_verify_away_from_its_stated_line():
    source = "def f(x):\n    if x:\n        return None\n    return None\n" + "\n" * 30 + "def g():\n    pass\n"
    codebase = Codebase.from_mapping({"app.py": source})
    result = verify_findings(
        [Finding("app.py", 2, 2, "    return None"), Finding("app.py", 30, 30, "return None"),
         Finding("app.py", 3, 3, "        return None", column=9), Finding("app.py", 38, 38, "pass")],
        codebase,
    )
    assert [(f.line, f.column) for f in result.verified] == [(3, 9), (36, None)]
    assert [f.note for f in result.rejected] == [
        "rejected: not at line 2, and it occurs 2 times within 5 lines of it (lines 3, 4), so which one is meant "
        "cannot be told",
        "rejected: not at line 30 nor within 5 lines of it (this text is at line 3, 4)",
    ]


def test_python_that_ast_cannot_parse_still_has_its_comments_and_strings_skipped():
    legacy = 'print "python 2"  # print(1)\nlabel = "print(2)"\nprint(3)\n'
    assert [line for line, _ in calls(legacy, "python", "print")] == [3]


def test_commented_out_imports_in_other_languages_are_not_imports():
    code = 'import x from "lodash";\n/*\nimport y from "lodash";\n*/\n// import z from "lodash";\n'
    imports = find_in_file("a.js", code, "javascript", PatternQuery(PatternKind.IMPORT, "lodash"))
    assert [f.line for f in imports] == [1]


@pytest.mark.parametrize(("language", "path", "code", "call"), [
    ("javascript", "a.js", "function check(x) {\n  return check(x - 1);\n}\n", (2, 10)),
    ("typescript", "a.ts", "class A {\n  check(x: number) {\n    return check(x);\n  }\n}\n", (3, 12)),
    ("go", "a.go", "func check(x int) int {\n\treturn check(x)\n}\n", (2, 9)),
    ("rust", "a.rs", "fn check(x: i32) -> i32 {\n    check(x)\n}\n", (2, 5)),
    ("java", "A.java", "class A {\n  int check(int x) {\n    return check(x); } }\n", (3, 12)),
    ("c", "a.c", "int check(int x);\nint check(int x) { return check(x); }\n", (2, 27)),
    ("cpp", "a.cpp", "int A::check(int x) {\n  return check(x);\n}\n", (2, 10)),
    ("ruby", "a.rb", "def check(x)\n  check(x)\nend\n", (2, 3)),
    ("kotlin", "A.kt", "fun check(x: Int): Int {\n    return check(x)\n}\n", (2, 12)),
])
def test_a_function_declaration_is_not_a_call_to_it(language, path, code, call):
    assert calls(code, language, "check", path) == [call]


def test_calls_imports_raises_and_definitions_are_looked_for_in_code_not_in_prose():
    """The stdlib's lib2to3/Grammar.txt line '# eval_input is the input for the eval() and input() functions.' was
    reported as a call to eval."""
    tree = {"Grammar.txt": "# eval_input is the input for the eval() and input() functions.\n",
            "README.md": "Never `import pickle`; a class Loader is defined in loader.py. raise ValueError(x)\n",
            "loader.py": "import pickle\n\n\nclass Loader:\n    def load(self, x):\n        raise ValueError(eval(x))\n"}
    found = {kind: run_pattern(tree, PatternQuery(kind, name))
             for kind, name in ((PatternKind.CALL, "eval"), (PatternKind.IMPORT, "pickle"),
                                (PatternKind.DEFINITION, "Loader"), (PatternKind.RAISE, "ValueError"))}
    assert found == {PatternKind.CALL: {("loader.py", 6, 6)}, PatternKind.IMPORT: {("loader.py", 1, 1)},
                     PatternKind.DEFINITION: {("loader.py", 4, 4)}, PatternKind.RAISE: {("loader.py", 6, 6)}}
