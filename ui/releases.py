"""The widgets of the Releases page: the version timeline (a Plotly figure), the alias history,
the rollback and retrain dialogs, and the retrain jobs with their state and log tail.

Nothing here decides anything. Whether a button shows comes from governance.rbac.can (through
ui.nav.user_can) for ``model.rollback`` / ``model.retrain`` on the model, the rule the services
enforce; the dialogs call governance.promotion.rollback and governance.retrain.request_retrain,
which check the permission again, audit a refusal and refuse a bad request (a rollback without a
reason, no previous champion, a second retrain while one is queued or running) with a one-line
message that the page shows as it is. A dialog opens for whatever the session asked for, so a
forged click meets the service's refusal, not the page's courtesy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.actor import Actor
from core.context import AppContext
from governance import auto_rollback_reads, promotion, retrain
from governance.auto_rollback_reads import CheckView, ProbationStatus
from governance.registry import CHAMPION
from governance.release_reads import AliasMoveView
from governance.retrain import ACTIVE_STATES, SYSTEM, RetrainView
from ui import components, loaders, state
from ui.components import esc
from ui.escape import plotly_text, safe_figure
from ui.tokens import when  # the one format of a stored moment on the pages

PENDING, RESULT, ERROR = state.RELEASES_PENDING, state.RELEASES_RESULT, state.RELEASES_ERROR
TARGET, REASON = state.RELEASES_TARGET, state.RELEASES_REASON
RETRAIN_REASON, LOG_JOB = state.RELEASES_RETRAIN_REASON, state.RELEASES_LOG_JOB
PREVIOUS = promotion.PREVIOUS
REFRESH_S = 5  # how often the retrain jobs refresh while one is queued or running

AUTO_ROLLBACK = "auto-rollback (system)"
KIND_TEXT = {"promotion": "promoted", "rollback": "rolled back", "restore": "put back after a failure",
             "external": "changed outside the console"}
# timeline markers: label -> (symbol, colour)
MARKERS = {
    "promoted": ("triangle-up", "#1a7f37"),
    "rolled back": ("triangle-down", "#d97706"),
    AUTO_ROLLBACK: ("x", "#c62828"),
    "put back after a failure": ("circle-open", "#6b7280"),
    "changed outside the console": ("diamond", "#7c3aed"),
}


# -- the alias history -----------------------------------------------------------------------------
def move_label(move: AliasMoveView) -> str:
    """What an alias move was, in words; a rollback by ``system`` is the auto-rollback watcher's."""
    if move.kind == "rollback" and move.actor == SYSTEM:
        return AUTO_ROLLBACK
    return KIND_TEXT.get(move.kind, move.kind)


def history_rows(moves: Sequence[AliasMoveView]) -> list[dict[str, Any]]:
    """Each alias move as the history table shows it, newest first (as the read returns them)."""
    return [{"at": when(m.moved_at), "alias": m.alias, "from": m.from_version or "-", "to": m.to_version or "-",
             "what": move_label(m), "by": m.actor, "why": m.reason,
             "request": f"#{m.request_id}" if m.request_id else ""} for m in moves]


def champion_line(moves: Sequence[AliasMoveView]) -> str | None:
    """A markdown line (escaped) saying how the champion got where it is: the newest recorded
    ``champion`` move, who made it and why; None when none is recorded."""
    last = next((m for m in moves if m.alias == CHAMPION), None)
    if last is None:
        return None
    why = f": {esc(last.reason)}" if last.reason else ""
    return (f"Last change {esc(when(last.moved_at))}: **{esc(move_label(last))}** from version "
            f"{esc(last.from_version or '(none)')} to {esc(last.to_version or '(none)')} by "
            f"**{esc(last.actor)}**{why}")


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (10**9, version)


def _hover(move: AliasMoveView) -> list[str]:
    reason = move.reason if len(move.reason) <= 160 else move.reason[:157] + "..."
    return [plotly_text(f"{move_label(move)}: {move.from_version or '(none)'} → {move.to_version or '(none)'}"),
            plotly_text(f"by {move.actor} at {when(move.moved_at)}"), plotly_text(reason or "(no reason given)")]


def timeline_figure(versions: Sequence[Any], moves: Sequence[AliasMoveView], *, champion: str | None,
                    now: datetime) -> go.Figure:
    """Versions over time: when each was registered, which one was champion when (a step line
    from the recorded ``champion`` moves to the registry's champion now), and a marker for each
    promotion, rollback (the auto-rollback watcher's apart), put-back and outside change, whose
    hover says who did it and why. ``versions``: governance.registry.ModelVersionInfo (any order);
    ``moves``: alias moves newest first, as governance.release_reads.alias_moves returns them."""
    fig = go.Figure()
    moved = [m for m in reversed(moves) if m.alias == CHAMPION]  # oldest first
    names = {str(v.version) for v in versions} | {m.to_version for m in moved if m.to_version} \
        | {m.from_version for m in moved if m.from_version} | ({champion} if champion else set())
    if versions:
        fig.add_trace(go.Scatter(
            x=[v.created_at for v in versions], y=[str(v.version) for v in versions], mode="markers",
            name="registered", marker={"symbol": "circle-open", "size": 10, "color": "#6b7280"},
            customdata=[[plotly_text(", ".join(f"{k} {val:.4g}" for k, val in sorted(v.metrics.items()))
                                     or "no metrics logged")] for v in versions],
            hovertemplate="version %{y} registered %{x}<br>%{customdata[0]}<extra></extra>"))
    xs: list[Any] = []
    ys: list[Any] = []
    for m in moved:
        xs.append(m.moved_at)
        ys.append(m.to_version)  # None (no champion) breaks the line
    if champion:
        xs.append(now)
        ys.append(champion)
    if xs:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="champion", connectgaps=False,
                                 line={"shape": "hv", "width": 3, "color": "#2563eb"}, hoverinfo="skip"))
    for label, (symbol, colour) in MARKERS.items():
        part = [m for m in moved if move_label(m) == label and m.to_version]
        if part:
            fig.add_trace(go.Scatter(
                x=[m.moved_at for m in part], y=[m.to_version for m in part], mode="markers", name=label,
                marker={"symbol": symbol, "size": 14, "color": colour, "line": {"width": 1, "color": colour}},
                customdata=[_hover(m) for m in part],
                hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>%{customdata[2]}<extra></extra>"))
    fig.update_layout(height=320, margin={"l": 50, "r": 10, "t": 40, "b": 30}, title="Versions and champion",
                      legend={"orientation": "h"}, xaxis_title=None,
                      yaxis={"title": "version", "type": "category", "categoryorder": "array",
                             "categoryarray": sorted(names, key=_version_key)})
    return safe_figure(fig)


# -- rollback ----------------------------------------------------------------------------------------
def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def rollback_targets(versions: Sequence[Any]) -> list[Any]:
    """The versions a rollback may point ``champion`` at: every registered one but the champion,
    newest first (the service refuses the champion itself and an unknown version)."""
    return sorted((v for v in versions if CHAMPION not in v.aliases), key=lambda v: _version_key(str(v.version)),
                  reverse=True)


def default_target(targets: Sequence[Any]) -> int | None:
    """Index of the previous champion among ``targets`` (the service's default), None when none."""
    return next((i for i, v in enumerate(targets) if PREVIOUS in v.aliases), None)


def target_label(version: Any) -> str:
    """One line per selectable version: its number, whether it was the previous champion, its metrics."""
    metrics = ", ".join(f"{k} {_number(val)}" for k, val in sorted(version.metrics.items())) or "no metrics logged"
    previous = " (previous champion)" if PREVIOUS in version.aliases else ""
    return f"version {version.version}{previous}: {metrics}; registered {when(version.created_at)}"


def outcome_text(move: promotion.ChampionMove) -> str:
    """What a rollback did, in words (plain text)."""
    return (f"Rolled back {move.model}: champion {move.old_version or '(none)'} → {move.new_version} "
            f"(deployment hook: {move.hook}).")


def _dismiss() -> None:
    for key in (PENDING, TARGET, REASON, RETRAIN_REASON):
        st.session_state.pop(key, None)


@st.dialog("Roll back the champion", on_dismiss=_dismiss)
def _rollback_dialog(ctx: AppContext, actor: Actor, model: str, champion: str | None, targets: list[Any]) -> None:
    st.markdown(f"Point the **champion** of **{esc(model)}** (now version **{esc(champion or 'none')}**) "
                "back at another version. The deployment hook is called with the old and new version; "
                "the reason is recorded in the alias history and the audit log.")
    by_version = {str(v.version): v for v in targets}
    if by_version:
        target = st.selectbox("Target version", list(by_version), index=default_target(targets), key=TARGET,
                              format_func=lambda v: target_label(by_version[v]),
                              placeholder="No previous champion: choose a version")
    else:
        target = None
        st.caption("No other version is registered.")
    reason = st.text_area("Reason (required)", key=REASON, max_chars=promotion.MAX_REASON,
                          placeholder="e.g. p99 latency spike after the promotion")
    left, right = st.columns(2)
    if left.button("Roll back", type="primary", key="releases.rollback.confirm", icon=":material/undo:"):
        try:
            move = promotion.rollback(ctx, actor, model, reason=reason or "", to_version=target)
        except Exception as exc:  # refused (audited by the service) or failed: say why, stay open
            st.error(esc(str(exc) or type(exc).__name__), icon=":material/block:")
        else:
            st.session_state[RESULT] = outcome_text(move)
            _dismiss()
            st.rerun()
    if right.button("Cancel", key="releases.rollback.cancel"):
        _dismiss()
        st.rerun()


# -- retrain -----------------------------------------------------------------------------------------
@st.dialog("Retrain the model", on_dismiss=_dismiss)
def _retrain_dialog(ctx: AppContext, actor: Actor, model: str, command: str) -> None:
    st.markdown(f"Queue a retrain of **{esc(model)}**. A worker (`python -m jobs.worker`) runs the "
                f"configured command `{esc(command) or '(none configured)'}`; when it registers a new version, "
                "a release request opens for it. One retrain per model at a time.")
    reason = st.text_area("Reason", key=RETRAIN_REASON, max_chars=retrain.MAX_REASON,
                          placeholder="e.g. drift in three consecutive drift runs")
    left, right = st.columns(2)
    if left.button("Queue retrain", type="primary", key="releases.retrain.confirm", icon=":material/model_training:"):
        try:
            job = retrain.request_retrain(ctx, actor, model, reason=reason or "")
        except Exception as exc:  # refused (audited by the service) or failed: say why, stay open
            st.error(esc(str(exc) or type(exc).__name__), icon=":material/block:")
        else:
            st.session_state[RESULT] = (f"Retrain {job.id} of {job.model} queued; a worker runs it and its "
                                        "state shows under Retrain jobs.")
            _dismiss()
            st.rerun()
    if right.button("Cancel", key="releases.retrain.cancel"):
        _dismiss()
        st.rerun()


def action_buttons(model: str, *, may_rollback: bool, may_retrain: bool, has_champion: bool) -> None:
    """Rollback... and Retrain... for one who may (``governance.rbac.can``); a click asks for the dialog."""
    if not (may_rollback or may_retrain):
        return
    left, right, _ = st.columns([1, 1, 4])
    if may_rollback:
        if has_champion:
            if left.button("Rollback...", key="releases.rollback", icon=":material/undo:"):
                st.session_state[PENDING] = (model, "rollback")
        else:
            left.caption("No champion to roll back.")
    if may_retrain and right.button("Retrain...", key="releases.retrain", icon=":material/model_training:"):
        st.session_state[PENDING] = (model, "retrain")


def pending_dialog(ctx: AppContext, actor: Actor, model: str, versions: loaders.Versions) -> None:
    """Open the dialog a button asked for on this model, if any (call once per run, last)."""
    pending = st.session_state.get(PENDING)
    if not pending:
        return
    wanted, action = pending
    if wanted != model:  # asked on another model, then the selection changed
        _dismiss()
        return
    if action == "rollback":
        champion = versions.champion.version if versions.champion else None
        _rollback_dialog(ctx, actor, model, champion, rollback_targets(versions.versions))
    elif action == "retrain":
        _retrain_dialog(ctx, actor, model, ctx.models.get(model).retrain.command)


def show_outcome() -> None:
    """The result of the last confirmed rollback or retrain, then forgotten."""
    components.show_outcome(RESULT, ERROR, success=lambda message: message)


# -- retrain jobs ------------------------------------------------------------------------------------
def retrain_rows(jobs: Sequence[RetrainView]) -> list[dict[str, Any]]:
    """Each retrain job as the table shows it, newest first."""
    def release(job: RetrainView) -> str:
        if job.release_request_id:
            return f"#{job.release_request_id} opened"
        return f"not opened: {job.release_error}" if job.release_error else ""

    return [{"job": j.id, "state": j.state, "requested by": j.requested_by, "trigger": j.trigger,
             "reason": j.reason, "queued": when(j.queued_at), "started": when(j.started_at),
             "finished": when(j.finished_at), "exit code": "" if j.exit_code is None else str(j.exit_code),
             "error": j.error or "", "version": j.produced_version or "", "release request": release(j)}
            for j in jobs]


def finished_line(job: RetrainView) -> str:
    """A markdown line (escaped) with the outcome of a finished job: its version and release request,
    or its error."""
    if job.state == "failed":
        exit_code = f" (exit code {job.exit_code})" if job.exit_code is not None else ""
        return (f"Retrain **{job.id}** **failed** at {esc(when(job.finished_at))}{exit_code}: "
                f"{esc(job.error or 'no error recorded')}")
    made = f"; it registered version **{esc(job.produced_version)}**" if job.produced_version else \
        "; it reported no new version"
    if job.release_request_id:
        made += f" and release request **#{job.release_request_id}** opened for it (see Approvals)"
    elif job.release_error:
        made += f", but no release request could be opened: {esc(job.release_error)}"
    elif job.produced_version:
        made += "; the worker has not recorded its release request yet"
    return f"Retrain **{job.id}** **succeeded** at {esc(when(job.finished_at))}{made}."


def active_line(job: RetrainView) -> str:
    """A markdown line (escaped) for a queued or running job."""
    if job.state == "queued":
        return (f"Retrain **{job.id}** is **queued** since {esc(when(job.queued_at))}, waiting for a worker "
                "(`python -m jobs.worker`).")
    beat = f"; last heartbeat {esc(when(job.heartbeat_at))}" if job.heartbeat_at else ""
    return (f"Retrain **{job.id}** is **running** on {esc(job.worker or 'a worker')} since "
            f"{esc(when(job.started_at))}{beat}.")


def changing(jobs: Sequence[RetrainView]) -> bool:
    """Whether any job may still change on its own: queued or running (the worker records a
    job's outcome and its release request together)."""
    return any(j.state in ACTIVE_STATES for j in jobs)


def _read_retrains(ctx: AppContext, viewer: str, model: str) -> loaders.Loaded:
    return loaders.guarded(lambda: retrain.list_retrains(ctx, viewer=viewer, model=model))


def _retrain_panel(ctx: AppContext, viewer: str, model: str, was_changing: bool) -> None:
    read = _read_retrains(ctx, viewer, model)
    if read.error:
        components.degraded("The retrain queue", read.error)
        return
    jobs: list[RetrainView] = read.value or []
    if was_changing and not changing(jobs):
        st.rerun()  # it finished while the page was open: the whole page shows its version and request
    if not jobs:
        st.caption("No retrain of this model has been asked for yet.")
        return
    active = [j for j in jobs if j.state in ACTIVE_STATES]
    for job in active:
        st.info(active_line(job), icon=":material/hourglass_top:")
    if active:
        st.caption(f"This list refreshes every {REFRESH_S} s while a retrain is queued or running.")
    elif jobs[0].state == "failed":
        st.warning(finished_line(jobs[0]), icon=":material/error:")
    else:
        st.success(finished_line(jobs[0]), icon=":material/check_circle:")
    st.dataframe(pd.DataFrame(retrain_rows(jobs)), hide_index=True, key="releases.retrains")
    by_id = {j.id: j for j in jobs}
    chosen = st.selectbox("Log of retrain job", list(by_id), key=LOG_JOB,
                          format_func=lambda i: f"job {i}, queued {when(by_id[i].queued_at)}")
    job = by_id.get(chosen) if chosen is not None else None
    if job is not None:
        st.caption(f"Last lines of the output of `{esc(job.command)}` (secrets masked).")
        st.code(job.log_tail or "(no output yet)", language="text")


def retrain_jobs(ctx: AppContext, viewer: str, model: str) -> None:
    """The model's retrain jobs (state, who, why, when, exit code, error, produced version and
    release request) and the log tail of one; refreshed every :data:`REFRESH_S` s while one is
    queued or running (a fragment, so the rest of the page
    stays as it is until the job is done; then the whole page reruns)."""
    first = _read_retrains(ctx, viewer, model)
    live = changing(first.value or [])
    st.fragment(_retrain_panel, run_every=REFRESH_S if live else None)(ctx, viewer, model, live)


# -- auto-rollback: the probation of a newly promoted champion ------------------------------------
PROBATION_ICON = {"watching": ":material/visibility:", "rolled back": ":material/undo:"}
OUTCOME_TEXT = {"pass": "pass", "breach": "breach", "no_evidence": "no evidence", "degraded": "degraded"}


def policy_line(status: ProbationStatus) -> str:
    """The watcher's rule for the model, in one sentence."""
    limits = [f"error ratio above {status.max_error_ratio:.2%}" if status.max_error_ratio is not None else "",
              f"p99 latency above {status.max_p99_ms:g} ms" if status.max_p99_ms is not None else ""]
    said = " or ".join(x for x in limits if x) or "no threshold set"
    return (f"For {status.probation_hours:g} h after each promotion the champion is checked every "
            f"{status.check_seconds:g} s over the last {status.window_seconds} s; {status.consecutive} checks in "
            f"a row with {said} roll it back to the version it replaced, as `system`.")


def check_rows(checks: Sequence[CheckView]) -> list[dict[str, Any]]:
    """The stored probation checks as a table, newest first."""
    return [{"checked": when(c.checked_at), "version": c.version, "outcome": OUTCOME_TEXT.get(c.outcome, c.outcome),
             "breaches in a row": c.streak, "requests": "" if c.requests is None else f"{c.requests:.0f}",
             "error ratio": "" if c.error_ratio is None else f"{c.error_ratio:.2%}",
             "p99 (ms)": "" if c.p99_ms is None else f"{c.p99_ms:.0f}", "source": c.source, "detail": c.detail,
             "action": " ".join(x for x in (c.action or "", c.action_detail or "") if x)} for c in checks]


def _probation_panel(ctx: AppContext, viewer: str, model: str, was_watching: bool) -> None:
    read = loaders.guarded(lambda: auto_rollback_reads.probation_status(ctx, viewer, model))
    if read.error:
        components.degraded("The auto-rollback state", read.error)
        return
    status: ProbationStatus = read.value
    if was_watching and status.state != "watching":
        st.rerun()  # rolled back (or the probation ended) while the page was open: show the new champion
    if status.state in PROBATION_ICON:
        show = st.warning if status.state == "rolled back" else st.info
        show(f"**Auto-rollback:** {esc(status.summary)}", icon=PROBATION_ICON[status.state])
    else:
        st.caption(f"Auto-rollback: {esc(status.summary)}")
    if not status.enabled:
        return
    st.caption(policy_line(status))
    checks = loaders.guarded(lambda: auto_rollback_reads.recent_checks(ctx, viewer, model, limit=CHECKS_SHOWN))
    if checks.error:
        components.degraded("The auto-rollback checks", checks.error)
    elif checks.value:
        with st.expander(f"Automatic checks (last {min(len(checks.value), CHECKS_SHOWN)}, newest first)",
                         expanded=status.state == "watching"):
            st.dataframe(pd.DataFrame(check_rows(checks.value)), hide_index=True, key="releases.checks")


CHECKS_SHOWN = 20


def probation(ctx: AppContext, viewer: str, model: str) -> None:
    """What the auto-rollback watcher does for ``model`` (governance.auto_rollback_reads): the
    probation of the last promotion, the rule and the stored checks; refreshed at the policy's
    check interval while a champion is on probation, and the whole page reruns when it ends."""
    first = loaders.guarded(lambda: auto_rollback_reads.probation_status(ctx, viewer, model))
    live = first.value is not None and first.value.state == "watching"
    every = max(REFRESH_S, first.value.check_seconds) if live else None
    st.fragment(_probation_panel, run_every=every)(ctx, viewer, model, live)
