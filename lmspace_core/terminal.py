"""Text from documents and file names, made safe to print on a person's terminal.

A file name or a document can carry escape sequences: set the window title, write the clipboard (OSC 52), hide
text, clear the screen. Everything the CLI prints for people goes through `terminal_safe`; JSON output is left
exact, since JSON escapes control characters itself.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, C1 controls, and the bidirectional overrides that reorder what is shown.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """`text` with every control character shown as its escape (`\\x1b`) instead of acting on the terminal."""
    return _UNSAFE.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)
