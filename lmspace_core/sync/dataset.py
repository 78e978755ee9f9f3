"""Datasets: a delta's passages become deduplicated, split, token-counted examples, checked before any upload.

The two payloads are the chat format Azure OpenAI chat fine-tuning requires (`{"messages": [system, user,
assistant]}`, the space's instructions as the system message) and the prompt/completion format for Azure ML and
completion models. `check_dataset` lists every reason a dataset would be refused, so nothing bad is uploaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from lmspace_core.domain import ChangeKind, Chunk, Document, Progress, ProgressCallback, Space, ignore_progress
from lmspace_core.stores.base import KnowledgeStore
from lmspace_core.sync.model import Dataset, DatasetCheck, DatasetFormat, Delta, Example, Split
from lmspace_core.sync.store import new_id
from lmspace_core.sync.tokens import chat_tokens

ExampleWriter = Callable[[Document, Chunk], list[Example]]
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class DatasetRules:
    """What a dataset must satisfy before upload (Azure OpenAI needs at least 10 examples)."""

    min_examples: int = 10
    max_example_tokens: int = 4096
    validation_share: float = 0.2


def system_message(space: Space) -> str:
    return space.instructions.strip() or f"You answer questions about the knowledge in the space '{space.name}'."


def build_dataset(
    store: KnowledgeStore,
    space: Space,
    delta: Delta,
    write_examples: ExampleWriter,
    rules: DatasetRules = DatasetRules(),
    progress: ProgressCallback = ignore_progress,
) -> Dataset:
    """Examples for every chunk of the delta's new and changed documents, deduplicated, split and counted."""
    wanted = [item for item in delta.items if item.change is not ChangeKind.DELETED]
    examples: list[Example] = []
    for done, item in enumerate(wanted):
        progress(Progress("dataset", done, len(wanted), item=item.source))
        document = store.get_document(space.scope, item.document_id)
        for chunk in store.list_chunks(space.scope, document.id):
            examples.extend(write_examples(document, chunk))
    progress(Progress("dataset", len(wanted), len(wanted), message=f"{len(examples)} examples"))
    return assemble(space, delta.base_sequence, delta.through_sequence, examples, rules)


def assemble(space: Space, base_sequence: int, through_sequence: int, examples: Iterable[Example],
             rules: DatasetRules = DatasetRules()) -> Dataset:
    """Deduplicate, split and count examples into a dataset of the space."""
    system = system_message(space)
    unique = dedupe(examples)
    split = assign_splits(unique, rules.validation_share)
    counted = tuple(replace(e, tokens=chat_tokens(chat_messages(system, e))) for e in split)
    return Dataset(new_id(), space.enterprise_id, space.id, system, base_sequence, through_sequence, counted,
                   datetime.now(UTC))


def dedupe(examples: Iterable[Example]) -> list[Example]:
    """One example per question (ignoring case and spacing); the first one written wins."""
    seen: dict[str, Example] = {}
    for example in examples:
        seen.setdefault(_normal(example.question), example)
    return list(seen.values())


def assign_splits(examples: Sequence[Example], validation_share: float) -> list[Example]:
    """Put about `validation_share` of the examples in validation, chosen by a hash of the question.

    A hash, not a random draw, keeps an example in the same split when the dataset is rebuilt. With two or more
    examples at least one is held out, since every backend needs validation data to measure the new model.
    """
    threshold = int(validation_share * 1000)
    result = [replace(e, split=Split.VALIDATION if _bucket(e.question) < threshold else Split.TRAIN)
              for e in examples]
    if len(result) >= 2 and all(e.split is Split.TRAIN for e in result):
        result[-1] = replace(result[-1], split=Split.VALIDATION)
    if len(result) >= 2 and all(e.split is Split.VALIDATION for e in result):
        result[0] = replace(result[0], split=Split.TRAIN)
    return result


def chat_messages(system: str, example: Example) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": example.question},
            {"role": "assistant", "content": example.answer}]


def rows(dataset: Dataset, split: Split, data_format: DatasetFormat) -> list[dict]:
    """The JSON rows of one split in one payload format."""
    if data_format is DatasetFormat.CHAT:
        return [{"messages": chat_messages(dataset.system, e)} for e in dataset.split(split)]
    return [{"prompt": e.question, "completion": e.answer} for e in dataset.split(split)]


def to_jsonl(dataset: Dataset, split: Split, data_format: DatasetFormat = DatasetFormat.CHAT) -> str:
    """One split as JSON Lines, what is uploaded and what the dashboard offers for download."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows(dataset, split, data_format))


def check_dataset(dataset: Dataset, rules: DatasetRules = DatasetRules()) -> DatasetCheck:
    """Every reason the dataset would be refused (none: it may be uploaded)."""
    problems = []
    train, validation = dataset.train, dataset.validation
    if len(train) < rules.min_examples:
        problems.append(
            f"only {len(train)} training example(s); fine-tuning needs at least {rules.min_examples} "
            "(ingest more documents into the space, or lower sync.min_examples)"
        )
    if not validation:
        problems.append("no validation examples: the new model could not be measured against the current one")
    if not dataset.system.strip():
        problems.append("the system message is empty (give the space instructions)")
    for number, example in enumerate(dataset.examples, start=1):
        where = f"example {number} ({example.source})"
        if not example.question.strip():
            problems.append(f"{where}: the question (user message) is empty")
        if not example.answer.strip():
            problems.append(f"{where}: the answer (assistant message) is empty")
        if example.tokens > rules.max_example_tokens:
            problems.append(f"{where}: {example.tokens} tokens, over the limit of {rules.max_example_tokens}")
    return DatasetCheck(tuple(problems), len(train), len(validation), dataset.tokens,
                        max((e.tokens for e in dataset.examples), default=0))


def examples_from_chat_jsonl(text: str, source: str) -> tuple[list[Example], list[str]]:
    """Examples from a chat JSONL file a user brings, and the problems of rows that are not system/user/assistant."""
    examples, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
            roles = tuple(message["role"] for message in messages)
            contents = [str(message.get("content") or "") for message in messages]
        except (ValueError, KeyError, TypeError):
            problems.append(f"{source} line {number}: not a JSON object with a 'messages' list")
            continue
        if roles not in (ROLES, ROLES[1:]):
            problems.append(f"{source} line {number}: roles are {list(roles)}, expected system, user, assistant")
            continue
        question, answer = contents[-2], contents[-1]
        examples.append(Example(question, answer, passage=question, document_id="", source=source, origin="file"))
    return examples, problems


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _bucket(text: str) -> int:
    return int.from_bytes(hashlib.sha1(_normal(text).encode()).digest()[:4], "big") % 1000
