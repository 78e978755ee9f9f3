"""Which language model answers in a space: the configured `lm`, or the fine-tuned deployment a sync made active.

Activating a model version (an evaluation it won, `lmspace sync activate`, `pull_llm_updates`) switches everything
that asks the space's model: the `KnowledgeAgent` (`lmspace ask`, the Chat page) and research over the space.
- An Azure ML deployment (a version of the `azure_ml` backend) answers through the space's online endpoint
  (`sync.endpoint_lm`), whatever `lm` is, `none` included. The endpoint's scoring URI and key are read once per
  process (`EndpointChat`), with an `MLClient` of `sync.azure_ml`; without that section the endpoint is unknown and
  the configured `lm` answers.
- Any other deployment is an Azure OpenAI one, reached through `lm` (the same resource and credentials) when
  `lm.provider` is `azure_openai`.
- Otherwise, and once the space is rolled back to its base model, the configured `lm` answers (an embedder or
  compiled-program version changes retrieval or prompts, not the model).

The sync store is read only where a deployment could answer (`sync.azure_ml` set, or `lm.provider: azure_openai`), so
asking with a local model never waits on it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from lmspace_core.config import Settings
from lmspace_core.domain import Space

if TYPE_CHECKING:
    from lmspace_core.sync.model import ModelVersion
    from lmspace_core.sync.online_endpoint import EndpointChat
    from lmspace_core.sync.store import SyncStore


class SpaceModels:
    """The language model of each space of one workspace (see the module docstring); one per workspace, so that an
    endpoint's key is read once and its model keeps one DSPy history."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._store: SyncStore | None = None
        self._client = None  # the MLClient of sync.azure_ml, built when an Azure ML deployment first answers
        self._chats: dict[str, EndpointChat] = {}  # endpoint name -> its scoring target
        self._models: dict[str, object] = {}  # model version id -> its dspy.LM
        self._lock = threading.Lock()

    def language_model(self, space: Space, configured):
        """The DSPy model answering in `space`, given the `configured` one (None: `lm.provider: none`)."""
        active = self._active(space)
        if active is None or active.kind != "deployment":
            return configured
        if active.backend == "azure_ml":
            return self._azure_ml(space, active) if self._settings.sync.azure_ml else configured
        if configured is not None and self._settings.lm.provider == "azure_openai":
            return configured.copy(model=f"azure/{active.reference}")
        return configured

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def _active(self, space: Space) -> ModelVersion | None:
        if self._settings.sync.azure_ml is None and self._settings.lm.provider != "azure_openai":
            return None
        with self._lock:
            if self._store is None:
                from lmspace_core.workspace import build_sync_store

                self._store = build_sync_store(self._settings)
        return self._store.active_model(space.scope)

    def _azure_ml(self, space: Space, version: ModelVersion):
        """The model asking the version's deployment on the space's online endpoint, built once per version."""
        from lmspace_core.sync.backends.azure_ml import ml_client_from_settings
        from lmspace_core.sync.endpoint_lm import endpoint_lm
        from lmspace_core.sync.next_steps import endpoint_name
        from lmspace_core.sync.online_endpoint import EndpointChat

        settings = self._settings.sync.azure_ml
        assert settings is not None  # language_model asks only with sync.azure_ml set
        with self._lock:
            if version.id not in self._models:
                endpoint = endpoint_name(space.id, settings)
                if endpoint not in self._chats:
                    self._client = self._client or ml_client_from_settings(settings)
                    self._chats[endpoint] = EndpointChat(self._client, settings, endpoint,
                                                         timeout_s=self._settings.lm.timeout_s)
                note = (f"It is the active model of space '{space.name}' (version {version.id}): `lmspace sync "
                        f"rollback {space.name}` switches back to the model before it.")
                self._models[version.id] = endpoint_lm(self._chats[endpoint], version.deployment or version.reference,
                                                       self._settings.lm, note)
            return self._models[version.id]
