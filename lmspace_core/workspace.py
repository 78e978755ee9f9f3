"""The composition root: the one place that picks implementations from the settings.

A `Workspace` owns the store, the blob store, the embedder and the language model for one configuration, and offers
the operations the CLI, the dashboard and the agents share (spaces, ingest, documents, search). The embedder and the
language model are built on first use, so opening a workspace to list spaces never imports torch or DSPy.
"""

from __future__ import annotations

import getpass
import shutil
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lmspace_core.config import Settings, load_config, prepare_runtime_environment
from lmspace_core.domain import (
    Chunk,
    ChunkDraft,
    Document,
    Hit,
    IngestReport,
    Job,
    Progress,
    ProgressCallback,
    SearchFilter,
    SearchPlan,
    Space,
    SpaceStats,
    ignore_progress,
    to_json_data,
)
from lmspace_core.embeddings.base import Embedder
from lmspace_core.errors import (
    ConfigError,
    EmbedderMismatchError,
    IngestError,
    LMSpaceError,
    NotAvailableYetError,
    NotFoundError,
)
from lmspace_core.ingest.entities import FORMS, is_entity, items_from_entities, parse_entity
from lmspace_core.ingest.inputs import IngestItem, items_from_mapping, items_from_path, memory_source, upload_names
from lmspace_core.ingest.pipeline import IngestPipeline, embedding_text
from lmspace_core.ingest.sources import IngestLimits
from lmspace_core.ingest.tokens import CharacterEstimate, TokenCounter
from lmspace_core.jobs import JobRunner
from lmspace_core.names import check_enterprise_id, check_name_is_free, check_space_name, shown
from lmspace_core.plugins import check_settings, hookimpl, registry
from lmspace_core.stores.base import (
    ApproximateIndexing,
    BlobPlacement,
    BlobStore,
    HybridSearch,
    JobStore,
    KeepsOfflineCopies,
    KnowledgeStore,
    SpaceEdit,
)
from lmspace_core.stores.local.approximate import HnswParams
from lmspace_core.stores.local.blobs import LocalBlobStore
from lmspace_core.stores.local.database import Database
from lmspace_core.stores.local.jobs import LocalJobStore
from lmspace_core.stores.local.sqlite_store import LocalKnowledgeStore
from lmspace_core.sync import auto as auto_sync
from lmspace_core.telemetry import configure_telemetry, operation

if TYPE_CHECKING:
    from lmspace_core.sync.space_model import SpaceModels
    from lmspace_core.sync.store import SyncStore

_MIB = 1024 * 1024
IngestSource = str | Path | Mapping[str, str | bytes]


def build_embedder(settings: Settings) -> Embedder:
    """The embedder `embedder.provider` names, from the plugin registry."""
    return registry().get("embedder", settings.embedder.provider).target(settings)


def build_token_counter(settings: Settings) -> TokenCounter:
    """How the configured embedder counts tokens, so that chunks fit the window it reads (its fine-tuned copies
    keep its tokenizer); characters / 4 for an embedder that registered no counter."""
    counter = registry().get("embedder", settings.embedder.provider).options.get("token_counter")
    return counter(settings) if counter else CharacterEstimate()


def uploader() -> str:
    """Who ingests, for the label on stored raw files: the account this process runs as (LMSpace has no sign-in)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment and none in the password database
        return ""


def build_stores(settings: Settings) -> tuple[KnowledgeStore, BlobStore, JobStore]:
    """The knowledge, blob and job stores `store.backend` names, from the plugin registry."""
    return registry().get("store_backend", settings.store.backend).target(settings)


def build_sync_store(settings: Settings) -> SyncStore:
    """Where sync state lives for `store.backend`: the `sync_store` factory its registration names."""
    factory = registry().get("store_backend", settings.store.backend).options.get("sync_store")
    if factory is None:
        raise NotAvailableYetError(
            f"The '{settings.store.backend}' store backend keeps no sync state (its plugin registers no sync_store); "
            "sync needs store.backend: embedded or azure."
        )
    return factory(settings)


def _onnx_int8_embedder(settings: Settings) -> Embedder:
    from lmspace_core.embeddings.onnx_int8 import OnnxInt8Embedder

    return OnnxInt8Embedder(settings.embedder.cache_dir or settings.data_dir / "models",
                            settings.embedder.batch_size, settings.embedder.ingest_threads,
                            settings.embedder.ingest_nice)


def _sentence_transformers_embedder(settings: Settings) -> Embedder:
    from lmspace_core.embeddings.sentence_transformer import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(batch_size=settings.embedder.batch_size, device=settings.embedder.device)


def _azure_openai_embedder(settings: Settings) -> Embedder:
    from lmspace_core.embeddings.azure_openai import build_azure_openai_embedder

    return build_azure_openai_embedder(settings.embedder)


def _minilm_counter(settings: Settings) -> TokenCounter:
    from lmspace_core.ingest.tokens import minilm_counter

    return minilm_counter()


def _hnsw_params(settings: Settings) -> HnswParams | None:
    approximate = settings.retrieval.approximate
    if not approximate.enabled:
        return None
    from lmspace_core.embeddings.onnx_int8 import default_ingest_threads

    return HnswParams(min_chunks=approximate.min_chunks, m=approximate.m, ef_construction=approximate.ef_construction,
                      ef_search=approximate.ef_search, min_recall=approximate.min_recall,
                      build_threads=approximate.build_threads or default_ingest_threads())


def _embedded_stores(settings: Settings) -> tuple[KnowledgeStore, BlobStore, JobStore]:
    database = Database(settings.data_dir / "lmspace.db")
    return (
        LocalKnowledgeStore(database, settings.data_dir, approximate=_hnsw_params(settings)),
        LocalBlobStore(settings.data_dir / "blobs"),
        LocalJobStore(database),
    )


def _azure_stores(settings: Settings) -> tuple[KnowledgeStore, BlobStore, JobStore]:
    from lmspace_core.stores.azure import build_azure_stores

    return build_azure_stores(settings.store.azure, settings.data_dir)


def _embedded_sync_store(settings: Settings) -> SyncStore:
    from lmspace_core.sync.store import SqliteSyncStore

    return SqliteSyncStore(Database(settings.data_dir / "lmspace.db"))


def _azure_sync_store(settings: Settings) -> SyncStore:
    from lmspace_core.stores.azure import build_azure_sync_store

    return build_azure_sync_store(settings.store.azure)


@hookimpl
def register_embedders(register) -> None:
    register("onnx_int8", _onnx_int8_embedder, token_counter=_minilm_counter)
    register("sentence_transformers", _sentence_transformers_embedder, token_counter=_minilm_counter)
    register("azure_openai", _azure_openai_embedder)


@hookimpl
def register_store_backends(register) -> None:
    register("embedded", _embedded_stores, sync_store=_embedded_sync_store)
    register("azure", _azure_stores, sync_store=_azure_sync_store)


class Workspace:
    """Everything one configuration needs, built lazily where building is expensive."""

    def __init__(self, settings: Settings, enterprise: str | None = None) -> None:
        """`enterprise` overrides the configured one; either way, it is the only enterprise this workspace touches."""
        prepare_runtime_environment(settings)
        check_settings(settings)
        configure_telemetry()
        self.settings = settings
        self.enterprise_id = check_enterprise_id(enterprise or settings.enterprise)
        self.store, self.blobs, self.job_store = build_stores(settings)
        if settings.retrieval.hybrid and not isinstance(self.store, HybridSearch):
            raise ConfigError(
                f"{settings.source}: retrieval.hybrid is on, but the {settings.store.backend} store has no keyword "
                "search to fuse with its vector search (only the embedded store has). Set retrieval.hybrid: false."
            )
        self._jobs: JobRunner | None = None
        self._embedder: Embedder | None = None
        self._lm = None
        self._lm_built = False
        self._space_models: SpaceModels | None = None
        self._lock = threading.Lock()
        self._index_jobs: dict[str, threading.Event] = {}  # space id -> cancel event of its running index build
        self._index_lock = threading.Lock()

    def __deepcopy__(self, memo: dict) -> Workspace:
        """Copies share the workspace: it is infrastructure (connections, models), not state of whoever holds it.

        DSPy copies modules (`deepcopy()`, optimisers); an agent's copy gets its own predictors and the same store.
        """
        return self

    @classmethod
    def open(cls, config_path: str | Path | None = None, enterprise: str | None = None) -> Workspace:
        return cls(load_config(config_path), enterprise)

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = build_embedder(self.settings)
            return self._embedder

    @property
    def lm(self):
        """The configured DSPy language model, or None when `lm.provider` is `none`."""
        with self._lock:
            if not self._lm_built:
                from lmspace_core.lm import build_lm

                self._lm = build_lm(self.settings.lm, self.settings.data_dir)
                self._lm_built = True
            return self._lm

    def use_lm(self, lm) -> None:
        """Answer with this DSPy LM instead of the configured one (scripted `DummyLM`s, a freshly tuned model)."""
        with self._lock:
            self._lm, self._lm_built = lm, True

    def language_model(self, space: Space | None = None):
        """The DSPy model that answers in `space`: the fine-tuned deployment a sync made the space's active model,
        if any (`sync.space_model`), else the configured one; None when there is neither."""
        if space is None:
            return self.lm
        with self._lock:
            if self._space_models is None:
                from lmspace_core.sync.space_model import SpaceModels

                self._space_models = SpaceModels(self.settings)
        return self._space_models.language_model(space, self.lm)

    def embedder_id(self) -> str:
        """The configured embedder's id, known without loading the model."""
        return build_embedder(self.settings).id

    @property
    def jobs(self) -> JobRunner:
        """The background job runner, started on first use (it marks jobs of dead processes interrupted)."""
        with self._lock:
            if self._jobs is None:
                self._jobs = JobRunner(self.job_store)
            return self._jobs

    def recent_jobs(self, space: Space | None, kind: str | None = None, limit: int = 10) -> list[Job]:
        """A space's latest jobs (None: jobs tied to no space, e.g. research on an upload), newest first.

        Jobs whose process has died show as interrupted, not running.
        """
        self.jobs  # starting the runner is what marks the jobs of dead processes interrupted
        return self.job_store.list_jobs(self.enterprise_id, space.id if space else "", kind=kind, limit=limit)

    def close(self) -> None:
        """Stop index builds (optional work: exact search answers without them) and wait for the other jobs."""
        with self._index_lock:
            for cancel in self._index_jobs.values():
                cancel.set()
        if self._jobs is not None:
            self._jobs.shutdown()
        self.store.close()
        if self._space_models is not None:
            self._space_models.close()
        if hasattr(self.job_store, "close"):  # a job store with a file of its own (Azure's jobs kept offline)
            self.job_store.close()

    # -- spaces -----------------------------------------------------------------------------------------------

    def create_space(self, name: str, description: str = "", instructions: str = "") -> Space:
        check_name_is_free(check_space_name(name), self._space_names(), self.enterprise_id)
        embedder = build_embedder(self.settings)
        return self.store.create_space(
            self.enterprise_id, check_space_name(name), description, instructions, embedder.id, embedder.dimension
        )

    def _space_names(self) -> list[tuple[str, str]]:
        return [(space.id, space.name) for space in self.store.list_spaces(self.enterprise_id)]

    def space(self, name: str | None = None) -> Space:
        """The space with this name (or id); with no name, the configured default space, created on first use."""
        if name is None:
            name = self.settings.default_space
            found = self.store.find_space(self.enterprise_id, name)
            return found if found is not None else self.create_space(name, description="The default space.")
        found = self.store.find_space(self.enterprise_id, name) or next(
            (s for s in self.store.list_spaces(self.enterprise_id) if s.id == name), None
        )
        if found is None:
            raise NotFoundError(
                f"No space named {shown(name)} in enterprise '{self.enterprise_id}'. "
                f"Create it with `lmspace spaces create {shown(name)}` or list spaces with `lmspace spaces list`."
            )
        return found

    def locate_space(self, name: str) -> list[Space]:
        """Administrative: the spaces named `name` (or with that id) in every enterprise of this data store.

        The only cross-tenant lookup there is. Every other call touches the enterprise in effect alone, however it
        was set (`--enterprise`, `enterprise:` in lmspace.yaml, `LMSPACE_ENTERPRISE`), so a tenant can neither
        read nor learn of another tenant's spaces by naming them.
        """
        return [
            space
            for enterprise_id in self.store.list_enterprises()
            for space in self.store.list_spaces(enterprise_id)
            if name in (space.name, space.id)
        ]

    def list_spaces(self) -> list[Space]:
        return self.store.list_spaces(self.enterprise_id)

    def space_stats(self, space: Space) -> SpaceStats:
        return self.store.space_stats(space.scope)

    def update_space(
        self, space: Space, name: str | None = None, description: str | None = None, instructions: str | None = None
    ) -> Space:
        if name is not None:
            check_name_is_free(check_space_name(name), self._space_names(), self.enterprise_id, space.id)
        edit = SpaceEdit(name=check_space_name(name) if name is not None else None, description=description,
                         instructions=instructions)
        return self.store.update_space(space.scope, edit)

    def delete_space(self, space: Space) -> None:
        from lmspace_core.agents.programs import remove_space_programs

        self.store.delete_space(space.scope)
        self.blobs.delete_space(space.scope)
        remove_space_programs(self.settings.data_dir, space)

    def reembed_space(
        self, space: Space, progress: ProgressCallback = ignore_progress, embedder: Embedder | None = None
    ) -> int:
        """Re-embed every chunk of a space with the configured embedder (or `embedder`, e.g. one a sync tuned);
        return how many chunks were embedded."""
        chunks = self.store.list_chunks(space.scope)
        embedder = embedder or self.embedder
        titles = {doc.id: doc.title for doc in self.store.list_documents(space.scope)}
        vectors = []
        batch = max(self.settings.embedder.batch_size, 64)
        for start in range(0, len(chunks), batch):
            progress(Progress("reembed", done=start, total=len(chunks)))
            part = chunks[start : start + batch]
            vectors.append(embedder.embed([embedding_text(titles[c.document_id], ChunkDraft(c.text, c.location))
                                           for c in part]))
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, embedder.dimension), dtype=np.float32)
        self.store.replace_vectors(space.scope, embedder.id, matrix, [c.id for c in chunks])
        self.schedule_approximate_index(space)
        progress(Progress("reembed", done=len(chunks), total=len(chunks), message="done"))
        return len(chunks)

    # -- ingest and documents ---------------------------------------------------------------------------------

    def ingest_limits(self) -> IngestLimits:
        """The configured bounds on inputs; every path that reads user files (ingest, research, .docx) uses them."""
        ingest = self.settings.ingest
        return IngestLimits(
            max_file_bytes=ingest.max_file_mb * _MIB,
            max_zip_total_bytes=ingest.max_zip_total_mb * _MIB,
            max_zip_entries=ingest.max_zip_entries,
            max_compression_ratio=ingest.max_compression_ratio,
        )

    def ingest_items(
        self,
        space: Space,
        items: Sequence[IngestItem],
        tags: Sequence[str] = (),
        progress: ProgressCallback = ignore_progress,
        cancel: threading.Event | None = None,
    ) -> IngestReport:
        """Ingest already-resolved inputs; every other ingest entry point ends here, and so does the check that queues
        an automatic sync of the space when its delta passed the threshold (`lmspace_core.sync.auto`).

        Setting `cancel` stops the ingest soon after, raising `IngestCancelledError` with what was stored.
        """
        self.require_embedder_match(space)
        pipeline = IngestPipeline(
            self.store,
            self.blobs,
            self.embedder_for(space),
            chunk_tokens=self.settings.ingest.chunk_tokens,
            chunk_overlap=self.settings.ingest.chunk_overlap,
            limits=self.ingest_limits(),
            counter=build_token_counter(self.settings),
            uploader=uploader(),
        )
        with operation("ingest", enterprise=space.enterprise_id, space=space.id, items=len(items)):
            report = pipeline.run(space.scope, items, tags, progress, cancel)
        self.schedule_approximate_index(space)
        return auto_sync.after_ingest(self, space, report)

    def ingest(
        self,
        space: Space,
        sources: Sequence[IngestSource] | IngestSource,
        tags: Sequence[str] = (),
        as_codebase: bool | None = None,
        progress: ProgressCallback = ignore_progress,
        cancel: threading.Event | None = None,
    ) -> IngestReport:
        """Ingest files, folders, zips, `{path: content}` mappings and knowledge entities (one or a list of them).

        A knowledge entity is `{"content": ..., "id"?: ..., "metadata"?: {...}, "embeddings"?: [...]}`; a dict that
        is neither an entity nor a mapping of paths to text is refused with a message naming both forms.
        """
        if isinstance(sources, str | Path | Mapping):
            sources = [sources]
        items: list[IngestItem] = []
        for source in sources:
            if is_entity(source):
                items.extend(items_from_entities([parse_entity(source)]))
            elif isinstance(source, Mapping):
                if not all(isinstance(value, str | bytes) for value in source.values()):
                    raise IngestError(f"This dict is neither a knowledge entity nor a file mapping: {FORMS}.")
                items.extend(items_from_mapping(source, as_codebase=as_codebase))
            else:
                items.extend(items_from_path(Path(source), self.ingest_limits(), as_codebase))
        return self.ingest_items(space, items, tags, progress, cancel)

    def ingest_text(self, space: Space, title: str, text: str, tags: Sequence[str] = ()) -> IngestReport:
        """Ingest pasted text as a document named by its title."""
        return self.ingest_items(space, [self._text_item(title, text)], tags)

    @staticmethod
    def _text_item(title: str, text: str) -> IngestItem:
        name = title if Path(title).suffix else f"{title}.md"
        return IngestItem(source=name, codebase=None, file=memory_source(name, text))

    def start_ingest(
        self,
        space: Space,
        uploads: Sequence[tuple[str, bytes]] = (),
        text: tuple[str, str] | None = None,
        tags: Sequence[str] = (),
        as_codebase: bool | None = None,
    ) -> Job:
        """Ingest uploaded files (name, bytes) and optional pasted (title, text) as a background job.

        Uploads are staged under `<data_dir>/uploads/` so they take exactly the path a CLI ingest of the same files
        takes (a `.zip` becomes a codebase); the staging folder is removed when the job ends. Each upload is staged
        in a folder of its own and named by `upload_names` (repeated names numbered), so two uploads never overwrite
        each other. The job's result is the `IngestReport` as JSON data (`IngestReport.from_json_data`).
        `jobs.cancel(job.id)` stops it.
        """
        self.require_embedder_match(space)
        names = upload_names([name for name, _ in uploads])
        staging = self.settings.data_dir / "uploads" / uuid.uuid4().hex
        paths = []
        for index, (name, (_, data)) in enumerate(zip(names, uploads, strict=True)):
            path = staging / str(index) / name
            path.parent.mkdir(parents=True)
            path.write_bytes(data)
            paths.append(path)
        names += [text[0]] if text else []
        title = f"Ingest {', '.join(names[:3])}" + (f" and {len(names) - 3} more" if len(names) > 3 else "")

        def work(progress: ProgressCallback) -> dict:
            try:
                items = [item for path in paths for item in items_from_path(path, self.ingest_limits(), as_codebase)]
                if text:
                    items.append(self._text_item(*text))
                return to_json_data(self.ingest_items(space, items, tags, progress, cancel))
            finally:
                shutil.rmtree(staging, ignore_errors=True)

        cancel = threading.Event()
        return self.jobs.submit(space.scope, "ingest", title, work, cancel=cancel)

    def documents(self, space: Space, search_filter: SearchFilter = SearchFilter()) -> list[Document]:
        return self.store.list_documents(space.scope, search_filter)

    def keep_offline(self, space: Space) -> None:
        """Say that `space` is in use (research reads its files) to a store that keeps copies of recently used
        spaces for when its service is unreachable (Azure); the others need nothing."""
        if isinstance(self.store, KeepsOfflineCopies):
            self.store.keep_offline(space.scope, self.embedder.dimension)

    def document(self, space: Space, id_or_source: str) -> Document:
        found = self.store.find_document(space.scope, id_or_source)
        if found is not None:
            return found
        try:
            return self.store.get_document(space.scope, id_or_source)
        except NotFoundError:
            raise NotFoundError(
                f"No document '{id_or_source}' in space '{space.name}'; "
                f"list them with `lmspace docs list {space.name}`."
            ) from None

    def chunks(self, space: Space, document: Document) -> list[Chunk]:
        return self.store.list_chunks(space.scope, document.id)

    def delete_document(self, space: Space, document: Document) -> None:
        self.store.delete_document(space.scope, document.id)
        self.schedule_approximate_index(space)
        self.blobs.delete(BlobPlacement.of(document))

    # -- approximate index -----------------------------------------------------------------------------------

    def search_plan(self, space: Space) -> SearchPlan | None:
        """Which ranking answers the space's unfiltered searches now and why; None for a store without the choice."""
        if not isinstance(self.store, ApproximateIndexing):
            return None
        plan = self.store.search_plan(space.scope)
        with self._index_lock:
            building = space.id in self._index_jobs
        if plan.due and building:
            return SearchPlan(False, "an approximate index is being built (exact search answers until it is ready)",
                              due=True)
        if plan.due:
            return SearchPlan(False, f"{plan.reason}; to build it now: lmspace spaces index {shown(space.name)}",
                              due=True)
        return plan

    def schedule_approximate_index(self, space: Space) -> Job | None:
        """Start a background job that builds the space's approximate index, if it is due and none is running.

        The job builds for the space's state when it starts and, if the space changed meanwhile, again for the new
        state, so one running job per space keeps up with a stream of small ingests. Closing the workspace stops it.
        """
        if not isinstance(self.store, ApproximateIndexing):
            return None
        with self._index_lock:
            if space.id in self._index_jobs or not self.store.search_plan(space.scope).due:
                return None
            cancel = self._index_jobs[space.id] = threading.Event()

        def work(progress: ProgressCallback) -> dict:
            try:
                return self._build_until_current(space, progress, cancel)
            finally:
                with self._index_lock:
                    self._index_jobs.pop(space.id, None)

        return self.jobs.submit(space.scope, "index", f"Approximate index of {space.name}", work, cancel=cancel)

    def _build_until_current(self, space: Space, progress: ProgressCallback, cancel: threading.Event) -> dict:
        while True:
            self.store.build_approximate_index(space.scope, progress, cancel)
            if cancel.is_set():
                raise LMSpaceError(
                    f"The approximate index of space '{space.name}' was not finished: its process stopped first. "
                    f"Exact search answers meanwhile; build it with `lmspace spaces index {space.name}`."
                )
            with self._index_lock:
                plan = self.store.search_plan(space.scope)
                if not plan.due:
                    self._index_jobs.pop(space.id, None)  # a change from now on schedules a new job
                    return {"approximate": plan.approximate, "plan": plan.describe()}

    def build_approximate_index(
        self, space: Space, progress: ProgressCallback = ignore_progress, cancel: threading.Event | None = None
    ) -> SearchPlan | None:
        """Build the space's approximate index now, in the caller's thread (`lmspace spaces index`)."""
        if not isinstance(self.store, ApproximateIndexing):
            return None
        self.store.build_approximate_index(space.scope, progress, cancel or threading.Event())
        return self.store.search_plan(space.scope)

    # -- search -----------------------------------------------------------------------------------------------

    def embedder_for(self, space: Space) -> Embedder:
        """The embedder of the space's vectors: the configured one, or a model a local sync fine-tuned from it."""
        from lmspace_core.sync import tuned

        if not tuned.is_tuned(space.embedder_id):
            return self.embedder
        folder = tuned.model_folder(self.settings.data_dir, tuned.version_of(space.embedder_id))
        return tuned.TunedEmbedder(space.embedder_id, folder, self.embedder.dimension, self.settings.embedder.batch_size)

    def require_embedder_match(self, space: Space) -> None:
        from lmspace_core.sync.tuned import base_of

        configured = self.embedder_id()
        if base_of(space.embedder_id) != configured:
            raise EmbedderMismatchError(
                f"Space '{space.name}' was embedded with {space.embedder_id}, but the configured embedder is "
                f"{configured}. Re-embed it with `lmspace spaces reembed {space.name}` (or switch the embedder back)."
            )

    def search(
        self, space: Space, query: str, k: int | None = None, search_filter: SearchFilter = SearchFilter()
    ) -> list[Hit]:
        """Exact cosine top-k chunks of the space for `query`, best first."""
        self.require_embedder_match(space)
        with operation("query", enterprise=space.enterprise_id, space=space.id):
            vector = self.embedder_for(space).embed_query(query)
            k = k or self.settings.retrieval.top_k
            if self.settings.retrieval.hybrid:
                return self.store.hybrid_search(space.scope, vector, query, k, search_filter)
            return self.store.search(space.scope, vector, k, search_filter)
