"""Regular expressions that come from a plan, compiled by RE2.

A plan's regexes are written by a user or a model and run over every line of a codebase, often from a dashboard
worker. Python's `re` backtracks: `(a+)+$` over a 35-character line ran for minutes. RE2 matches in time linear in
the input whatever the pattern, at the price of the features that need backtracking (backreferences, lookaround),
which are refused up front with the reason.
"""

from __future__ import annotations

from functools import lru_cache

import re2

from lmspace_core.errors import LMSpaceError

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would otherwise print every rejected pattern to stderr (and into `--json` output)


@lru_cache(maxsize=256)
def plan_regex(pattern: str, field: str = "regex") -> re2._Regexp:
    """`pattern` compiled for matching in linear time; `LMSpaceError` naming `field` and the problem otherwise."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as error:
        reason = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        raise LMSpaceError(
            f"`{field}` is not a valid regular expression for research ({reason}). Plan regexes run on RE2, which "
            "guarantees linear time and so has no backreferences (\\1) or lookaround ((?=...), (?<=...)); "
            "rewrite the pattern without them."
        ) from None
