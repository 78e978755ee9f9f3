"""Deploying a fine-tuned Azure OpenAI model, so the space can call (and first evaluate) it.

With `sync.azure_openai.deploy` set, `Deployer` creates the deployment through Azure Resource Manager
(`azure-mgmt-cognitiveservices`, `deployments.begin_create_or_update`) and waits for it. Without those settings
`deploy_command` writes the exact `az` command the user runs instead, filled in as far as the settings allow.
Each fine-tuning job gets its own deployment (`<name>-<job id>`): deploying over the space's current model would
leave nothing to compare the new one with, and nothing to roll back to.

Creating a deployment takes minutes: the wait (`sync.serving.wait_for`) checks the job's cancel flag every second and
gives up after `deploy.timeout_s`, and either way says what Azure may still be doing and what to run next.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from lmspace_core.config import AzureOpenAIDeploySettings, AzureOpenAISyncSettings
from lmspace_core.errors import ModelError
from lmspace_core.sync.serving import wait_for

MODEL_FORMAT = "OpenAI"
MODEL_VERSION = "1"  # a fine-tuned model has one version
DEFAULT_NAME = "lmspace"
LOOPBACK = ("127.0.0.1", "localhost", "::1")  # names of this machine: no one else reaches them
def deployment_name(prefix: str, remote_job_id: str) -> str:
    """The deployment of the model one fine-tuning job produced."""
    return f"{prefix}-{remote_job_id}"


def account_of(endpoint: str | None) -> str | None:
    """The Azure OpenAI account name in an endpoint such as https://<account>.openai.azure.com (None otherwise)."""
    host = urlsplit(endpoint or "").hostname or ""
    account, _, domain = host.partition(".")
    return account if domain in ("openai.azure.com", "cognitiveservices.azure.com") else None


def _account(settings: AzureOpenAISyncSettings | None) -> str:
    """`--name <account> --resource-group <group>` of the settings' Azure OpenAI resource (placeholders if unknown)."""
    deploy = settings.deploy if settings else None
    account = deploy.account if deploy else account_of(settings and settings.endpoint) or "<azure-openai-account>"
    return f"--name {account} --resource-group {deploy.resource_group if deploy else '<resource-group>'}"


def deploy_command(settings: AzureOpenAISyncSettings | None, model_id: str, name: str) -> str:
    """The `az` command that deploys `model_id` as `name` the way `deploy` would; <placeholders> for what the
    settings lack."""
    deploy = settings.deploy if settings else None
    sku, capacity = (deploy.sku, deploy.capacity) if deploy else ("Standard", 1)
    return (f"az cognitiveservices account deployment create {_account(settings)} --deployment-name {name} "
            f"--model-name {model_id} --model-version {MODEL_VERSION} --model-format {MODEL_FORMAT} "
            f"--sku-name {sku} --sku-capacity {capacity}")


def show_command(settings: AzureOpenAISyncSettings | None, name: str) -> str:
    """The `az` command that tells whether deployment `name` is still being created."""
    return (f"az cognitiveservices account deployment show {_account(settings)} --deployment-name {name} "
            "--query properties.provisioningState")


def management_client(settings: AzureOpenAIDeploySettings, credential):
    """A `CognitiveServicesManagementClient` for the deployment's subscription (`management_endpoint`: another
    cloud, or a local stand-in in tests)."""
    from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient

    return CognitiveServicesManagementClient(credential, settings.subscription_id,
                                             base_url=settings.management_endpoint)


class Deployer:
    """Creates (or updates) one deployment per fine-tuned model and waits until it serves."""

    def __init__(self, client, settings: AzureOpenAIDeploySettings, poll_s: float = 30.0) -> None:
        self._client, self._settings, self._poll_s = client, settings, poll_s
        # Bearer tokens only travel over TLS; a management endpoint on this machine is a test's stand-in.
        loopback = urlsplit(settings.management_endpoint or "").hostname in LOOPBACK
        self._options = {"enforce_https": False} if loopback else {}
        self.keep_losers = settings.keep_losers

    def name_for(self, remote_job_id: str) -> str:
        return deployment_name(self._settings.name, remote_job_id)

    def delete(self, name: str) -> None:
        """Start deleting deployment `name` (Azure finishes it on its own; a refusal raises `ModelError`)."""
        from azure.core.exceptions import AzureError

        try:
            self._client.deployments.begin_delete(self._settings.resource_group, self._settings.account, name,
                                                  polling_interval=self._poll_s, **self._options)
        except AzureError as error:
            raise ModelError(f"Azure refused to delete deployment '{name}' in account '{self._settings.account}': "
                             f"{error}") from error

    def deploy(self, model_id: str, remote_job_id: str, cancelled: Callable[[], bool] = lambda: False) -> str:
        """Deploy the fine-tuned `model_id`; return the deployment's name once it has succeeded.

        Raises `DeploymentCancelledError` as soon as `cancelled()`, `DeploymentUnfinishedError` after `timeout_s`
        (see `sync.serving.wait_for`), `ModelError` when Azure refuses or the deployment fails."""
        from azure.core.exceptions import AzureError
        from azure.mgmt.cognitiveservices.models import Deployment, DeploymentModel, DeploymentProperties, Sku

        name = self.name_for(remote_job_id)
        deployment = Deployment(
            sku=Sku(name=self._settings.sku, capacity=self._settings.capacity),
            properties=DeploymentProperties(
                model=DeploymentModel(format=MODEL_FORMAT, name=model_id, version=MODEL_VERSION)),
        )
        try:
            poller = self._client.deployments.begin_create_or_update(
                self._settings.resource_group, self._settings.account, name, deployment,
                polling_interval=self._poll_s, **self._options)
            self._wait(poller, name, model_id, cancelled)
            result = poller.result()
        except AzureError as error:
            raise ModelError(f"Azure refused to deploy {model_id} as '{name}' in account "
                             f"'{self._settings.account}': {error}") from error
        state = getattr(result.properties, "provisioning_state", None)
        if state not in (None, "Succeeded"):
            raise ModelError(f"Deployment '{name}' of {model_id} ended {state}.")
        return name

    def _wait(self, poller, name: str, model_id: str, cancelled: Callable[[], bool]) -> None:
        account = f"account '{self._settings.account}'"
        wait_for(poller, self._settings.timeout_s, cancelled,
                 on_cancel=f"Cancelled while deployment '{name}' of {model_id} was being created in {account}; Azure "
                 f"may still finish creating it (`az cognitiveservices account deployment delete --name "
                 f"{self._settings.account} --resource-group {self._settings.resource_group} --deployment-name "
                 f"{name}` removes it).",
                 on_timeout=f"Deployment '{name}' of {model_id} in {account} did not serve within "
                 f"{self._settings.timeout_s:g} s (sync.azure_openai.deploy.timeout_s); Azure may still finish it.")
