"""Settings: the configuration in effect (secrets masked), service checks on request, and how to switch models."""

import os

import streamlit as st

from lmspace_core.config import CONFIG_ENV, ENV_PREFIX
from lmspace_core.diagnostics import ServiceCheck, check_services
from lmspace_core.errors import LMSpaceError
from lmspace_core.lm import describe_lm
from lmspace_ui.components import reported_errors
from lmspace_ui.frame import frame
from lmspace_ui.resources import current_settings, get_workspace

frame()

MODEL_GUIDES = {
    "Azure OpenAI": (
        "A deployment in your Azure OpenAI resource, with an API key (best kept in an environment variable or "
        "Key Vault) or with Entra ID (`auth: entra` signs in with `DefaultAzureCredential`: managed identity, "
        "`az login`; no key at all).",
        """lm:
  provider: azure_openai
  endpoint: https://<resource>.openai.azure.com
  deployment: gpt-4o
  api_version: "2024-10-21"
  auth: key                          # or: entra
  api_key: env:AZURE_OPENAI_API_KEY  # or: keyvault://<vault-name>/<secret-name>""",
        """LMSPACE_LM__PROVIDER=azure_openai
LMSPACE_LM__ENDPOINT=https://<resource>.openai.azure.com
LMSPACE_LM__DEPLOYMENT=gpt-4o
LMSPACE_LM__API_VERSION=2024-10-21
LMSPACE_LM__API_KEY=env:AZURE_OPENAI_API_KEY   # or keyvault://<vault-name>/<secret-name>
# or, instead of a key:
LMSPACE_LM__AUTH=entra""",
    ),
    "OpenAI": (
        "Any OpenAI chat model; `api_base` points it at an OpenAI-compatible server instead.",
        """lm:
  provider: openai
  model: gpt-4o-mini
  api_key: env:OPENAI_API_KEY""",
        """LMSPACE_LM__PROVIDER=openai
LMSPACE_LM__MODEL=gpt-4o-mini
LMSPACE_LM__API_KEY=env:OPENAI_API_KEY""",
    ),
    "Ollama / LiteLLM": (
        "Any LiteLLM model string, for example a model served by a local Ollama.",
        """lm:
  provider: litellm
  model: ollama_chat/llama3
  api_base: http://localhost:11434""",
        """LMSPACE_LM__PROVIDER=litellm
LMSPACE_LM__MODEL=ollama_chat/llama3
LMSPACE_LM__API_BASE=http://localhost:11434""",
    ),
    "llama.cpp (in process)": (
        "A GGUF file run inside LMSpace; install the extra first with `uv sync --extra local-llm`. "
        "A relative `model_path` starts at the data directory.",
        """lm:
  provider: llama_cpp
  model_path: models/<model>.gguf
  n_ctx: 4096""",
        """LMSPACE_LM__PROVIDER=llama_cpp
LMSPACE_LM__MODEL_PATH=models/<model>.gguf""",
    ),
}


def render_effective_configuration() -> bool:
    """The settings in effect, or the configuration error when they cannot be loaded; False for the latter."""
    st.subheader("In effect")
    try:
        settings = current_settings()
    except LMSpaceError as error:
        st.error(f"The configuration cannot be loaded. Fix it and refresh this page.\n\n{error}",
                 icon=":material/error:")
        return False
    # LMSPACE_CONFIG names the file; the other LMSPACE_* variables are settings that win over it.
    variables = sorted(name for name in os.environ if name.startswith(ENV_PREFIX) and name != CONFIG_ENV)
    named = f" (named by `{CONFIG_ENV}`)" if os.environ.get(CONFIG_ENV) else ""
    st.markdown(f"**Language model:** {describe_lm(settings.lm)}  \n**Store:** {settings.store.backend}")
    st.caption(
        f"Read from `{settings.source}`{named}"
        + (f" and the variables {', '.join(f'`{name}`' for name in variables)}, which win" if variables else "")
        + ". Secrets are masked."
    )
    st.json(settings.masked_dict(), expanded=2)
    return True


def render_service_checks() -> None:
    """Check every configured service when asked: the language model check calls the provider, so never on load."""
    st.subheader("Service checks")
    encode = st.checkbox("Also load the embedding model and encode one sentence (takes seconds the first time)")
    if not st.button("Check services", icon=":material/network_check:"):
        return
    with reported_errors(), st.spinner("Checking services…"):
        render_check_results(check_services(get_workspace(), encode=encode))


def render_check_results(checks: list[ServiceCheck]) -> None:
    failed = [check.name for check in checks if not check.ok]
    if failed:
        st.error(f"{len(failed)} of {len(checks)} services fail: {', '.join(failed)}.", icon=":material/error:")
    else:
        st.success(f"All {len(checks)} services work.", icon=":material/check_circle:")
    # Text, not emoji: without an emoji font (a bare server, a locked-down desktop) emoji render as empty boxes.
    rows = [{"Status": "works" if check.ok else "fails", "Service": check.name, "Detail": check.detail}
            for check in checks]
    st.dataframe(rows, hide_index=True)


def render_switching_guide() -> None:
    """How to change the model (or store) through lmspace.yaml or LMSPACE_* environment variables."""
    st.subheader("Switching the language model")
    st.markdown(
        "Edit `lmspace.yaml` (or the file `LMSPACE_CONFIG` names) and refresh this page, or set `LMSPACE_*` "
        "variables, which win over the file: `LMSPACE_<SECTION>__<KEY>`, e.g. `LMSPACE_LM__PROVIDER`. Variables "
        "are read when the dashboard starts, so restart it after changing them. Secrets (`api_key`) take a "
        "literal, `env:VAR_NAME` or `keyvault://<vault-name>/<secret-name>`; prefer the last two. "
        "With `provider: none` answers are extracted, cited passages."
    )
    for tab, (explanation, yaml_snippet, variables) in zip(
        st.tabs(list(MODEL_GUIDES)), MODEL_GUIDES.values(), strict=True
    ):
        with tab:
            st.markdown(explanation)
            st.code(yaml_snippet, language="yaml")
            st.code(variables, language="bash")
    st.caption(
        "`store.backend: azure` keeps knowledge in Cosmos DB (with its vector index), raw files in Blob Storage and "
        "jobs in Table Storage (docs/azure.md); `lmspace dev emulators` tries it on this machine. `embedded` keeps "
        "everything in the data directory."
    )


st.title("Settings")
if render_effective_configuration():
    render_service_checks()
render_switching_guide()
