"""Builds the sync backend a setting names: the one place that picks a backend implementation."""

from __future__ import annotations

from lmspace_core.config import Settings
from lmspace_core.errors import ConfigError
from lmspace_core.sync.backends.base import SyncBackend
from lmspace_core.sync.tuned import model_folder


def build_backend(name: str, settings: Settings, start_from: str, space_id: str) -> SyncBackend:
    """The backend `name` (local, azure_openai, azure_ml) configured from `settings.sync` for one space.

    `start_from` is the folder of the space's current embedding model, which the local backend trains further;
    `space_id` names the Azure ML online endpoint that serves the space's models.
    """
    sync = settings.sync
    if name == "local":
        from lmspace_core.sync.backends.local import LocalBackend, LocalTraining
        from lmspace_core.sync.evaluate import saved_examples

        training = LocalTraining(sync.local.epochs, sync.local.batch_size, sync.local.learning_rate)
        return LocalBackend(model_folder(settings.data_dir, ""), start_from, training,
                            saved=lambda dataset: saved_examples(settings, dataset))
    if name == "azure_openai":
        if sync.azure_openai is None:
            raise ConfigError("sync.azure_openai: section required for the azure_openai sync backend (endpoint, ...)")
        from lmspace_core.sync.backends.azure_openai import AzureOpenAIBackend, client_from_settings

        return AzureOpenAIBackend(client_from_settings(sync.azure_openai), sync.azure_openai, poll_s=sync.poll_s,
                                  deployer=_deployer(settings))
    if name == "azure_ml":
        if sync.azure_ml is None:
            raise ConfigError("sync.azure_ml: section required for the azure_ml sync backend (subscription_id, ...)")
        from lmspace_core.sync.backends.azure_ml import AzureMLBackend, ml_client_from_settings
        from lmspace_core.sync.next_steps import endpoint_name
        from lmspace_core.sync.online_endpoint import OnlineDeployer

        client, endpoint = ml_client_from_settings(sync.azure_ml), endpoint_name(space_id, sync.azure_ml)
        deployer = OnlineDeployer(client, sync.azure_ml, endpoint) if sync.azure_ml.deploy else None
        return AzureMLBackend(client, sync.azure_ml, poll_s=sync.poll_s, endpoint=endpoint, deployer=deployer)
    raise ConfigError(f"sync.backend: unknown backend '{name}' (local, azure_openai or azure_ml)")


def _deployer(settings: Settings):
    """The deployer of `sync.azure_openai.deploy` (None without it), with the process's one Azure credential."""
    deploy = settings.sync.azure_openai.deploy if settings.sync.azure_openai else None
    if deploy is None:
        return None
    from lmspace_core.stores.azure.clients import default_credential
    from lmspace_core.sync.deployment import Deployer, management_client

    return Deployer(management_client(deploy, default_credential()), deploy, poll_s=settings.sync.poll_s)
