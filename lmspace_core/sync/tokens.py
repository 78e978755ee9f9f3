"""Token counts as Azure OpenAI bills and limits them (o200k_base, the GPT-4o family's encoding), offline.

tiktoken downloads encodings on first use; LiteLLM (installed with DSPy) ships them, so the cache points there and
nothing is fetched.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from functools import cache
from pathlib import Path

ENCODING = "o200k_base"
# Each chat message costs a few tokens beyond its content (role and separators), and each example a few more.
MESSAGE_OVERHEAD = 4
EXAMPLE_OVERHEAD = 3

_lock = threading.Lock()


@cache
def _encoding():
    spec = importlib.util.find_spec("litellm")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(spec.submodule_search_locations[0]) / "litellm_core_utils" / "tokenizers"
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(bundled))
    import tiktoken

    return tiktoken.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    with _lock:
        encoding = _encoding()
    return len(encoding.encode(text, disallowed_special=()))


def chat_tokens(messages: list[dict[str, str]]) -> int:
    """Tokens of one chat example as the fine-tuning service counts them (content plus per-message overhead)."""
    return EXAMPLE_OVERHEAD + sum(MESSAGE_OVERHEAD + count_tokens(m["content"]) for m in messages)
