"""The Sync Jobs page's parts: plan and start, the jobs table, one job live, and the space's models.

Everything is read from the `SyncManager` (which reads the sync store), so a job started in another tab, from the
CLI, or before the page was reloaded shows the same way. A running job is drawn inside a fragment that re-reads it
every second; when it ends the fragment asks for one full rerun and the page draws it finished, without polling.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lmspace_core.domain import Space
from lmspace_core.sync.dataset import to_jsonl
from lmspace_core.sync.manager import BASE_MODEL, SyncManager
from lmspace_core.sync.model import DatasetFormat, ModelVersion, Split, SyncJob, SyncKind, SyncStatus
from lmspace_core.workspace import Workspace
from lmspace_ui import charts
from lmspace_ui.components import reported_errors
from lmspace_ui.text import plain

POLL_SECONDS = 1
SELECTED_JOB = "sync_selected_job"  # session_state: the job id shown in the live view
PREVIEW_ROWS = 20
_KINDS = {SyncKind.MODEL: "Fine-tune a model on what changed", SyncKind.PROMPT: "Optimise the prompts (DSPy)"}
_TIMELINE = (SyncStatus.CREATED, SyncStatus.VALIDATING, SyncStatus.QUEUED, SyncStatus.RUNNING)
_ICONS = {
    SyncStatus.CREATED: ":material/add_circle:", SyncStatus.VALIDATING: ":material/rule:",
    SyncStatus.QUEUED: ":material/schedule:", SyncStatus.RUNNING: ":material/progress_activity:",
    SyncStatus.SUCCEEDED: ":material/check_circle:", SyncStatus.FAILED: ":material/error:",
    SyncStatus.CANCELLED: ":material/block:", SyncStatus.INTERRUPTED: ":material/cancel:",
}


@st.cache_resource(show_spinner=False, hash_funcs={Workspace: id})
def sync_manager(workspace: Workspace) -> SyncManager:
    """One sync manager per workspace: its threads run the jobs started from the dashboard."""
    return SyncManager(workspace)


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


# What a version's reference is, by kind: a deployment's is the name users know; the others are internal ids.
_KIND_NAMES = {"embedder": "fine-tuned embedding model", "program": "compiled prompts"}


def _active_line(active: ModelVersion | None) -> str:
    """The active model in words: what it is first, then the ids (a bare version id and folder id told users nothing)."""
    if active is None:
        return "Active model: **base model**"
    name = _KIND_NAMES.get(active.kind, active.reference)
    scores = (f", score {_score(active.score_before) or '–'} → {_score(active.score_after)}"
              if active.score_after is not None else "")
    line = (f"Active model: **{plain(name)}** ({active.backend}, created "
            f"{active.created_at.astimezone():%Y-%m-%d %H:%M}{scores}; version {active.id})")
    return line + (" · answers with the compiled prompts of this version" if active.kind == "program" else "")


def plan_panel(manager: SyncManager, space: Space) -> None:
    """What changed since the last sync, and a button that starts a sync of it."""
    delta = manager.plan(space)
    counts = delta.counts
    added, replaced, deleted = st.columns(3)
    added.metric("New", counts["added"])
    replaced.metric("Changed", counts["replaced"])
    deleted.metric("Deleted", counts["deleted"])
    if delta.items:
        with st.expander(f"{len(delta.items)} documents since the last sync"):
            st.dataframe(pd.DataFrame([{"Document": i.source, "Change": i.change.value, "Version": i.version}
                                       for i in delta.items]), hide_index=True, width="stretch")
    kind = st.radio("Sync", list(SyncKind), format_func=_KINDS.get, horizontal=True, key="sync_kind")
    left, right = st.columns([2, 1])
    backend = None
    if kind == SyncKind.MODEL:
        backends = ["local", "azure_openai", "azure_ml"]
        backend = left.selectbox("Backend", backends, index=backends.index(manager.settings.sync.backend))
    else:
        left.caption("Compiles the space's answering program on its examples (`lmspace examples`, thumbs-up in Chat) "
                     "with the configured language model, on this machine.")
    force = right.checkbox("Activate even if not better", help="Skip the evaluation gate for this job.")
    idle = kind == SyncKind.MODEL and delta.is_empty
    if st.button("Start sync", type="primary", icon=":material/sync:", disabled=idle):
        with reported_errors():
            job = manager.sync_to_llm(space=space, backend=backend, force=force, wait=False, kind=kind)
            st.session_state[SELECTED_JOB] = job.id
    if idle:
        st.caption("Nothing changed since the last successful sync.")
    automatic = manager.auto_sync_outlook(space)
    if automatic.state != "off":
        st.caption(plain(automatic.text))


# What a job on these backends makes, in words: its model id is an internal folder or program id.
_MADE_BY = {"local": _KIND_NAMES["embedder"], SyncKind.PROMPT.value: _KIND_NAMES["program"]}


def _job_model(job: SyncJob) -> str:
    if not job.model_id:
        return ""
    return f"{_MADE_BY[job.backend]} ({job.model_id})" if job.backend in _MADE_BY else job.model_id


def jobs_table(jobs: list[SyncJob], space_names: dict[str, str] | None = None) -> SyncJob | None:
    """Jobs, and a picker for the one to show (the latest by default, or the one just started); with `space_names`
    (space id → name) the jobs are of several spaces and a Space column says whose each is."""
    rows = [{**({"Space": space_names.get(j.space_id, j.space_id)} if space_names is not None else {}),
             "Job": j.id, "Backend": j.backend, "Status": j.status.value,
             "Created": j.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"), "Duration (s)": round(j.duration_s),
             "Model": _job_model(j), "Score before": _score(j.score_before), "Score after": _score(j.score_after)}
            for j in jobs]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    ids = [job.id for job in jobs]
    remembered = st.session_state.get(SELECTED_JOB)
    chosen = st.selectbox("Job", ids, index=ids.index(remembered) if remembered in ids else 0,
                          format_func=lambda job_id: f"{job_id} · {jobs[ids.index(job_id)].status.value}")
    st.session_state[SELECTED_JOB] = chosen
    return jobs[ids.index(chosen)]


def job_view(manager: SyncManager, job: SyncJob) -> None:
    """One job in a bordered box: live while it runs, with its outcome, curves, events and dataset after."""
    with st.container(border=True):
        if job.status.finished:
            _job_body(manager, job)
        else:
            _live(manager, job.id)
        _dataset(manager, job)


@st.fragment(run_every=POLL_SECONDS)
def _live(manager: SyncManager, job_id: str) -> None:
    with reported_errors():
        job = manager.job(job_id)
        if job.status.finished:
            st.rerun()
        _job_body(manager, job)


def _job_body(manager: SyncManager, job: SyncJob) -> None:
    st.markdown(f"{_ICONS[job.status]} **Sync job {job.id}** · {job.backend} · {job.status.value}")
    events = manager.events(job.id)
    _timeline(job, events)
    if job.status is SyncStatus.FAILED:
        st.error(job.error or "The job failed without saying why.", icon=":material/error:")
    elif job.status in (SyncStatus.CANCELLED, SyncStatus.INTERRUPTED):
        st.warning(job.error or job.status.value, icon=":material/cancel:")
    elif job.message:
        st.caption(job.message)
    before, after, duration = st.columns(3)
    before.metric("Score before", _score(job.score_before) or "—")
    after.metric("Score after", _score(job.score_after) or "—")
    duration.metric("Duration", f"{job.duration_s:.0f} s")
    if job.progress is not None:
        st.progress(job.progress, text=f"step {job.steps_done or 0} of {job.steps_total}")
    metrics = manager.metrics(job.id)
    if metrics:
        st.plotly_chart(charts.training_curves(metrics), key=f"curves_{job.id}_{len(metrics)}")
    if not job.status.finished and st.button("Cancel", icon=":material/stop:", key=f"cancel_{job.id}"):
        with reported_errors():
            manager.cancel(job.id)
    st.dataframe(pd.DataFrame([{"Time": e.at.astimezone().strftime("%H:%M:%S"), "Status": e.status.value,
                                "Event": e.message} for e in events]), hide_index=True, width="stretch")


def _timeline(job: SyncJob, events) -> None:
    """The states the job went through, each with the time it was reached; states not reached yet are grey."""
    reached = {}
    for event in events:
        reached.setdefault(event.status, event.at)
    steps = [*_TIMELINE, job.status if job.status.finished else SyncStatus.SUCCEEDED]
    parts = []
    for status in steps:
        at = reached.get(status)
        parts.append(f"{_ICONS[status]} {status.value} {at.astimezone().strftime('%H:%M:%S')}" if at
                     else f":gray[{status.value}]")
    st.markdown(" → ".join(parts))


def _dataset(manager: SyncManager, job: SyncJob) -> None:
    if job.dataset_id is None:
        return
    dataset = manager.dataset(job)
    with st.expander(f"Dataset: {len(dataset.train)} training, {len(dataset.validation)} validation examples, "
                     f"{dataset.tokens} tokens"):
        st.dataframe(pd.DataFrame([{"Split": e.split.value, "Question": e.question, "Answer": e.answer,
                                    "Source": e.source, "Tokens": e.tokens}
                                   for e in dataset.examples[:PREVIEW_ROWS]]), hide_index=True, width="stretch")
        columns = st.columns(3)
        for column, split, data_format in ((columns[0], Split.TRAIN, DatasetFormat.CHAT),
                                           (columns[1], Split.VALIDATION, DatasetFormat.CHAT),
                                           (columns[2], Split.TRAIN, DatasetFormat.PROMPT)):
            column.download_button(f"{split.value} ({data_format.value}) JSONL", to_jsonl(dataset, split, data_format),
                                   file_name=f"{dataset.id}-{split.value}-{data_format.value}.jsonl",
                                   mime="application/jsonl", key=f"download_{job.id}_{split}_{data_format}")


def models_panel(manager: SyncManager, space: Space) -> None:
    """The active model, earlier versions with their scores and lineage, Activate and Rollback."""
    versions = manager.models(space)
    active = next((v for v in versions if v.active), None)
    st.markdown(_active_line(active))
    if not versions:
        st.caption("No sync has produced a model for this space yet.")
        return
    rows = [{"Active": "●" if v.active else "", "Version": v.id, "Backend": v.backend, "Kind": v.kind,
             "Model": v.reference, "Deployment": v.deployment or "", "Score before": _score(v.score_before),
             "Score after": _score(v.score_after), "Created": v.created_at.astimezone().strftime("%Y-%m-%d %H:%M")}
            for v in versions]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    ids = [v.id for v in versions]
    chosen = st.selectbox("Model version", ids, key="sync_model_version")
    version = versions[ids.index(chosen)]
    if version.dataset_id:
        lineage = manager.lineage(version)
        with st.expander(f"Lineage: {len(lineage)} documents went into its dataset"):
            st.dataframe(pd.DataFrame([{"Document": i.source, "Version": i.version, "Change": i.change.value,
                                        "Content hash": i.content_hash[:12]} for i in lineage]),
                         hide_index=True, width="stretch")
    left, right = st.columns(2)
    if left.button("Activate", icon=":material/published_with_changes:", disabled=version.active):
        with reported_errors(), st.spinner("Activating (an embedder version re-embeds the space)…"):
            manager.activate(version.id, space)
            st.rerun()
    if right.button("Rollback", icon=":material/undo:", disabled=active is None):
        with reported_errors(), st.spinner("Rolling back…"):
            back = manager.rollback(space)
            st.toast(f"Now using {back.reference if back else BASE_MODEL}")
            st.rerun()
    if version.kind == "deployment" and version.job_id and version.score_after is None:
        _evaluate_form(manager, space, version)


def _evaluate_form(manager: SyncManager, space: Space, version: ModelVersion) -> None:
    """A remote model that was not evaluated (it was not deployed): once deployed by hand, name the deployment."""
    with st.form(f"evaluate_{version.id}"):
        deployment = st.text_input("Deployment serving this model", value=version.deployment or "",
                                   help="The job's message gives the command that "
                                   "deploys it and the name it deploys it under.")
        force = st.checkbox("Activate even if not better", key=f"evaluate_force_{version.id}")
        if st.form_submit_button("Evaluate", icon=":material/fact_check:") and deployment.strip():
            with reported_errors(), st.spinner("Asking it and the current model the held-out questions…"):
                evaluated = manager.evaluate(version.id, deployment.strip(), space, force=force)
                st.toast(f"Scored {evaluated.score_after:.3f}"
                         + (f" against {evaluated.score_before:.3f}" if evaluated.score_before is not None else "")
                         + (": activated" if evaluated.active else ": not activated"))
                st.rerun()
