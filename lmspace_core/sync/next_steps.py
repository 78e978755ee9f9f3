"""What the user runs next for a model version LMSpace cannot evaluate or switch to by itself.

A remote fine-tuned model answers only once it is deployed, and it is switched to only once it has scored better
than the space's current model. Where LMSpace cannot deploy it (no `sync.azure_openai.deploy` settings, a deployment
that failed or is still being created, any Azure ML model), the job's last event, `lmspace sync activate` and the
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


def endpoint_name(space_id: str) -> str:
    """The Azure ML online endpoint that serves a space's fine-tuned models (3-32 characters, from a letter)."""
    return f"lmspace-{space_id[:16]}"


def online_deployment_yaml(version: ModelVersion, settings: AzureMLSyncSettings | None) -> str:
    """The managed online deployment of an Azure ML model version (`az ml online-deployment create --file`)."""
    model = f"azureml:{version.reference}" if ":" in version.reference else f"azureml:{version.reference}@latest"
    instance_type = settings.instance_type if settings else AzureMLSyncSettings.model_fields["instance_type"].default
    return (f"$schema: {ONLINE_DEPLOYMENT_SCHEMA}\nname: v-{version.id[:12]}\n"
            f"endpoint_name: {endpoint_name(version.space_id)}\nmodel: {model}\ninstance_type: {instance_type}\n"
            "instance_count: 1\n")


def azure_ml_deploy(version: ModelVersion, settings: AzureMLSyncSettings | None, folder: Path, space: str) -> str:
    """Write the version's online deployment file into `folder`; return the commands that deploy it, then the one
    that activates it (an Azure ML model is not evaluated by LMSpace: activating it is the user's decision)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"online-deployment-{version.id}.yml"
    path.write_text(online_deployment_yaml(version, settings), encoding="utf-8")
    where = (f"--resource-group {settings.resource_group} --workspace-name {settings.workspace}" if settings
             else "--resource-group <resource-group> --workspace-name <workspace>")
    return (f"deploy it to an online endpoint with `az ml online-endpoint create --name "
            f"{endpoint_name(version.space_id)} {where}` (once per space) and `az ml online-deployment create "
            f"--file {path} {where} --all-traffic`, then `lmspace sync activate {space} {version.id}`")
