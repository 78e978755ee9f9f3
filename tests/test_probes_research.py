"""Probes of research plans as an attacker or an unlucky user writes them: regexes that make backtracking engines
run for minutes, and regex features a linear-time engine cannot offer."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from lmspace_core.errors import LMSpaceError
from lmspace_core.research.plan import FileSelection, PatternKind, PatternQuery, ResearchPlan, Strategy

# Run in a child process: a backtracking match holds the GIL, so only a process can be stopped when it runs away.
PATHOLOGICAL_RUN = '''
from lmspace_core.research.codebase import Codebase, select_files
from lmspace_core.research.plan import FileSelection, PatternKind, PatternQuery, ResearchPlan, Strategy
from lmspace_core.research.scan import scan_pattern

line = "a" * 35 + "b"
codebase = Codebase.from_mapping({"notes.py": f"# {line}\\n", "data.js": f"// {line}\\n", "ok.py": "# aaaa\\n"})
plan = ResearchPlan("evil", Strategy.PATTERN, FileSelection(contains="(a+)+b"),
                    PatternQuery(PatternKind.REGEX, regex="(a+)+$", code_only=False))
scan = scan_pattern(codebase, select_files(codebase, plan.files), plan.pattern, plan.files.contains)
print(sorted(f.path for f in scan.findings))
'''


def test_a_pathological_plan_regex_runs_in_linear_time():
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", PATHOLOGICAL_RUN], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"  # every line ends in "b": nothing matches, and that is known at once
    assert time.perf_counter() - started < 30  # the child's start-up; Python's `re` needs minutes for this


@pytest.mark.parametrize(("pattern", "problem"), [
    (PatternQuery(PatternKind.REGEX, regex=r"(\w+) \1"), "invalid escape sequence: \\1"),
    (PatternQuery(PatternKind.REGEX, regex=r"(?<=def )\w+"), "invalid perl operator: (?<="),
    (PatternQuery(PatternKind.REGEX, regex="("), "missing )"),
])
def test_a_regex_the_linear_engine_cannot_run_is_refused_naming_the_problem(pattern, problem):
    with pytest.raises(LMSpaceError) as refused:
        ResearchPlan("x", Strategy.PATTERN, pattern=pattern)
    assert "`pattern.regex` is not a valid regular expression" in str(refused.value)
    assert problem in str(refused.value) and "backreferences" in str(refused.value)


def test_a_content_filter_with_lookahead_is_refused_when_the_plan_is_read():
    plan = ResearchPlan("x", Strategy.PATTERN, FileSelection(), PatternQuery(PatternKind.CALL, "print"))
    edited = plan.to_json().replace('"contains": null', '"contains": "foo(?!bar)"')
    with pytest.raises(LMSpaceError, match=r"`files.contains` is not a valid regular expression .*\(\?!"):
        ResearchPlan.from_json(edited)
