"""What the user runs next for a model version LMSpace cannot evaluate or switch to by itself.

A remote fine-tuned model answers only once it is deployed, and it is switched to only once it has scored better
than the space's current model. Where LMSpace cannot deploy it (no `sync.azure_openai.deploy` or `sync.azure_ml.deploy`
settings, a deployment that failed or is still being created), the job's last event, `lmspace sync activate` and the
Event Grid endpoint all give the same commands, written here once.
"""

from __future__ import annotations

from pathlib import Path

from lmspace_core.config import AzureMLSyncSettings
from lmspace_core.sync.model import ModelVersion

ONLINE_DEPLOYMENT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json"


def evaluate_after(step: str, space: str, version_id: str, deployment: str) -> str:
    """`step` (how the model gets deployed), then the command that evaluates it and switches if it is better."""
    return (f"{step}, then `lmspace sync evaluate {space} {version_id} --deployment {deployment}` (it is activated "
            "if it scores better than the current model)")


def endpoint_name(space_id: str, settings: AzureMLSyncSettings | None = None) -> str:
    """The Azure ML online endpoint that serves a space's fine-tuned models: `sync.azure_ml.endpoint`, else one per
    space (3-32 characters, from a letter)."""
    return settings.endpoint if settings and settings.endpoint else f"lmspace-{space_id[:16]}"


def model_uri(reference: str) -> str:
    """The registered model `name[:version]` an Azure ML deployment serves (its latest version when unversioned)."""
    return f"azureml:{reference}" if ":" in reference else f"azureml:{reference}@latest"


def workspace_options(settings: AzureMLSyncSettings | None) -> str:
    """The `az ml` options naming the settings' workspace (<placeholders> without settings)."""
    return (f"--resource-group {settings.resource_group} --workspace-name {settings.workspace}" if settings
            else "--resource-group <resource-group> --workspace-name <workspace>")


def online_deployment_yaml(version: ModelVersion, settings: AzureMLSyncSettings | None) -> str:
    """The managed online deployment of an Azure ML model version (`az ml online-deployment create --file`), named
    as the sync that made it would have deployed it."""
    defaults = AzureMLSyncSettings.model_fields
    instance_type = settings.instance_type if settings else defaults["instance_type"].default
    instance_count = settings.instance_count if settings else defaults["instance_count"].default
    return (f"$schema: {ONLINE_DEPLOYMENT_SCHEMA}\nname: {deployment_of(version)}\n"
            f"endpoint_name: {endpoint_name(version.space_id, settings)}\nmodel: {model_uri(version.reference)}\n"
            f"instance_type: {instance_type}\ninstance_count: {instance_count}\n")


def deployment_of(version: ModelVersion) -> str:
    """The online deployment that serves (or is to serve) an Azure ML model version."""
    return version.deployment or f"v-{version.id[:12]}"


def azure_ml_deploy(version: ModelVersion, settings: AzureMLSyncSettings | None, folder: Path, space: str) -> str:
    """Write the version's online deployment file into `folder`; return the commands that deploy it, then the one
    that evaluates it and switches if it is better (a version no sync made has no held-out questions: the one that
    activates it)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"online-deployment-{version.id}.yml"
    path.write_text(online_deployment_yaml(version, settings), encoding="utf-8")
    where = workspace_options(settings)
    step = (f"deploy it to an online endpoint with `az ml online-endpoint create --name "
            f"{endpoint_name(version.space_id, settings)} {where}` (once per space) and `az ml online-deployment "
            f"create --file {path} {where}`")
    if version.job_id is None:
        return f"{step}, then `lmspace sync activate {space} {version.id}`"
    return evaluate_after(step, space, version.id, deployment_of(version))
