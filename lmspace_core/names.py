"""The rules for the names people choose (spaces, enterprises) and how such names are echoed back safely.

Checked with `fullmatch`: `re.match` with `$` accepts a trailing newline, so "trail" and "trail\\n" could coexist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lmspace_core.errors import AlreadyExistsError, InvalidNameError

_SPACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}")
_ENTERPRISE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
SPACE_NAME_RULE = "use 1-64 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit"
ENTERPRISE_ID_RULE = "use 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit"
_SHOWN_CHARACTERS = 40


def shown(name: str) -> str:
    """A user-supplied name as an error message may quote it: control characters escaped, at most 40 characters."""
    quoted = name.encode("unicode_escape").decode("ascii") if not name.isprintable() else name
    if len(quoted) > _SHOWN_CHARACTERS:
        quoted = f"{quoted[:_SHOWN_CHARACTERS]}… ({len(name):,} characters)"
    return f"'{quoted}'"


def space_name_problem(name: str) -> str | None:
    """Why `name` cannot name a space, or None when it can."""
    return None if _SPACE_NAME.fullmatch(name) else f"{shown(name)} is not a valid space name: {SPACE_NAME_RULE}"


def enterprise_id_problem(enterprise_id: str) -> str | None:
    """Why `enterprise_id` cannot name an enterprise, or None when it can."""
    if _ENTERPRISE_ID.fullmatch(enterprise_id):
        return None
    return f"{shown(enterprise_id)} is not a valid enterprise id: {ENTERPRISE_ID_RULE}"


def check_space_name(name: str) -> str:
    if problem := space_name_problem(name):
        raise InvalidNameError(f"{problem}.")
    return name


def check_enterprise_id(enterprise_id: str) -> str:
    if problem := enterprise_id_problem(enterprise_id):
        raise InvalidNameError(f"{problem}.")
    return enterprise_id


def check_name_is_free(name: str, taken: Iterable[tuple[str, str]], enterprise_id: str, space_id: str = "") -> None:
    """Refuse `name` when a space other than `space_id` already has it in any case: "Debian Docs" and "debian docs"
    side by side are one space to a person. `taken` holds (space id, name) pairs of the enterprise."""
    wanted = name.casefold()
    for other_id, other in taken:
        if other_id != space_id and other.casefold() == wanted:
            raise name_taken_error(other, enterprise_id)


def name_taken_error(other: str, enterprise_id: str) -> AlreadyExistsError:
    """The error for a space name that `other` already holds (a store that enforces the rule itself raises it)."""
    return AlreadyExistsError(
        f"A space named {shown(other)} already exists in enterprise '{enterprise_id}' (names are compared ignoring "
        "case); pick another name."
    )
