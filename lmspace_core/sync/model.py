"""The values sync hands between its parts and to the CLI and dashboard: deltas, examples, datasets, jobs, models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from lmspace_core.domain import ChangeKind


@dataclass(frozen=True)
class DeltaItem:
    """One document as it changed since the last successful sync (several log entries collapse into one)."""

    document_id: str
    source: str
    version: int
    content_hash: str
    change: ChangeKind


@dataclass(frozen=True)
class Delta:
    """What is new, changed and deleted in a space since its last successful sync.

    `base_sequence` is the change-log position the last successful sync included (0: never synced);
    `through_sequence` is the newest position this delta covers.
    """

    space_id: str
    base_sequence: int
    through_sequence: int
    items: tuple[DeltaItem, ...]

    def of(self, change: ChangeKind) -> tuple[DeltaItem, ...]:
        return tuple(item for item in self.items if item.change is change)

    @property
    def counts(self) -> dict[str, int]:
        return {change.value: len(self.of(change)) for change in ChangeKind}

    @property
    def is_empty(self) -> bool:
        return not self.items


class Split(StrEnum):
    TRAIN = "train"
    VALIDATION = "validation"


@dataclass(frozen=True)
class Example:
    """One training example: a question, its answer, and the passage of the space that grounds it."""

    question: str
    answer: str
    passage: str
    document_id: str
    source: str
    origin: str  # how it was made: heading, rule, signature, passage or model
    split: Split = Split.TRAIN
    tokens: int = 0


class DatasetFormat(StrEnum):
    CHAT = "chat"  # {"messages": [system, user, assistant]}: Azure OpenAI chat fine-tuning
    PROMPT = "prompt"  # {"prompt", "completion"}: Azure ML and completion models


@dataclass(frozen=True)
class Dataset:
    """Examples built from one delta, with the system message every chat example carries."""

    id: str
    enterprise_id: str
    space_id: str
    system: str
    base_sequence: int
    through_sequence: int
    examples: tuple[Example, ...]
    created_at: datetime

    def split(self, split: Split) -> tuple[Example, ...]:
        return tuple(example for example in self.examples if example.split is split)

    @property
    def train(self) -> tuple[Example, ...]:
        return self.split(Split.TRAIN)

    @property
    def validation(self) -> tuple[Example, ...]:
        return self.split(Split.VALIDATION)

    @property
    def tokens(self) -> int:
        return sum(example.tokens for example in self.examples)


@dataclass(frozen=True)
class DatasetCheck:
    """The verdict on a dataset before anything is uploaded: `problems` lists every reason it is refused."""

    problems: tuple[str, ...]
    train_examples: int
    validation_examples: int
    tokens: int
    max_example_tokens: int

    @property
    def ok(self) -> bool:
        return not self.problems


class SyncKind(StrEnum):
    """What a sync changes: the model (fine-tuned on `sync.backend`) or the space's prompts (DSPy optimisation of its
    `KnowledgeAgent` with the configured language model, on this machine)."""

    MODEL = "model"
    PROMPT = "prompt"


class SyncStatus(StrEnum):
    CREATED = "created"
    VALIDATING = "validating"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self in (SyncStatus.SUCCEEDED, SyncStatus.FAILED, SyncStatus.CANCELLED, SyncStatus.INTERRUPTED)


@dataclass(frozen=True)
class SyncJob:
    """A fine-tuning sync of one space on one backend, persisted with its status, remote id and outcome.

    `score_before`/`score_after` are the evaluation of the space's current model and of the new one on the
    dataset's validation split; `model_version_id` names the model version recorded when the job succeeded.
    `steps_done` of `steps_total` is how far training is, when the backend knows its number of steps (local).
    """

    id: str
    enterprise_id: str
    space_id: str
    backend: str
    status: SyncStatus
    dataset_id: str | None
    remote_id: str | None
    model_id: str | None
    model_version_id: str | None
    score_before: float | None
    score_after: float | None
    message: str
    error: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    steps_done: int | None = None
    steps_total: int | None = None

    @property
    def progress(self) -> float | None:
        """The share of training steps done (0 to 1), or None when the backend did not say how many there are."""
        if not self.steps_total:
            return None
        return min((self.steps_done or 0) / self.steps_total, 1.0)

    @property
    def duration_s(self) -> float:
        end = self.finished_at or self.updated_at
        return max((end - self.created_at).total_seconds(), 0.0)


@dataclass(frozen=True)
class SyncEvent:
    """One timestamped line of a sync job's log: a status change or something the backend reported."""

    job_id: str
    sequence: int
    at: datetime
    status: SyncStatus
    message: str


@dataclass(frozen=True)
class Metric:
    """Training metrics at one step, as the backend reports them (any of them may be missing)."""

    step: int
    train_loss: float | None = None
    validation_loss: float | None = None
    accuracy: float | None = None


@dataclass(frozen=True)
class ModelVersion:
    """A model a sync produced for a space: what it is (`reference`), where it came from, how it scored.

    `kind` says what the space's agent switches when it is activated: an `embedder` (a fine-tuned local embedding
    model, `reference` is its folder), a `deployment` (an Azure OpenAI / Azure ML fine-tuned model id) or a
    `program` (the answering program a `prompt` sync compiled, `reference` names its saved version).

    `deployment` links a remote model to the deployment that serves it, or is to serve it (an Azure OpenAI
    deployment of the job's model, named before it exists), so a model event naming either finds the version. Until
    that deployment is known to answer, `reference` is still the model id, which the agent cannot call
    (`awaiting_deployment`).
    """

    id: str
    enterprise_id: str
    space_id: str
    job_id: str | None
    dataset_id: str | None
    backend: str
    kind: str
    reference: str
    score_before: float | None
    score_after: float | None
    active: bool
    created_at: datetime
    deployment: str | None = None

    @property
    def awaiting_deployment(self) -> bool:
        return self.deployment is not None and self.reference != self.deployment

    @property
    def improved(self) -> bool:
        return self.score_after is not None and (self.score_before is None or self.score_after > self.score_before)


@dataclass(frozen=True)
class AutoSyncHold:
    """What a failed automatic sync leaves behind: why it failed, and when the next automatic one may start.

    The space is not queued again until `retry_at` (a backoff that doubles with each failure in a row), or until
    documents changed after `through_sequence`, the change-log position the failed attempt covered, reach the item
    threshold again, or until a sync of the space succeeds (the change log then moves past `base_sequence`).
    """

    reason: str
    failures: int
    job_id: str | None
    base_sequence: int
    through_sequence: int
    failed_at: datetime
    retry_at: datetime


@dataclass(frozen=True)
class AutoSyncState:
    """A space's automatic sync, shared by every process: the one request queued or running for it, if any, and
    the hold its last failed attempt left.

    `request_id` is set while a request waits in the queue (`running` False) and while a worker runs it (`running`
    True); `requested_at` is when it was queued, then when it was claimed. `version` changes with every write and a
    store saves a state only over the version it was read at, so of two processes queueing or claiming the same
    space at the same moment exactly one succeeds.
    """

    space_id: str
    version: int = 0
    request_id: str | None = None
    requested_at: datetime | None = None
    running: bool = False
    hold: AutoSyncHold | None = None
