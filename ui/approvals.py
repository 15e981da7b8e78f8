"""The widgets of the Approvals page: a release request's gates, its metrics beside the
champion's and the two versions' traffic by window (governance.release_evidence.compare_by_window,
shown as computed), stage progress and decision history as tables, and the approve / reject
buttons with their confirmation dialog.

Nothing here decides anything. Whether a button shows comes from
governance.releases.decision_refusal (the rule the service enforces); the dialog calls
governance.releases.approve / reject, which check the permission, four eyes and the request's
state again and audit a refusal; the page shows the service's message (ui.components.show_outcome).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.actor import Actor
from core.context import AppContext
from governance import releases
from governance.release_evidence import WindowComparison, compare_by_window
from governance.release_views import ReleaseRequestView
from ui import components, loaders, state
from ui.components import esc
from ui.escape import safe_figure
from ui.tokens import when  # the one format of a stored moment on the pages

PENDING, RESULT, ERROR = state.APPROVALS_PENDING, state.APPROVALS_RESULT, state.APPROVALS_ERROR
COMMENT = state.APPROVALS_COMMENT
STATUS_ICON = {"pass": "pass", "fail": "FAIL", "no evidence": "no evidence"}


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"


def headline(view: ReleaseRequestView) -> str:
    """One line naming a request (plain text: for expander labels and select boxes)."""
    return f"#{view.id} {view.model} version {view.version}: {view.state}"


def gate_rows(view: ReleaseRequestView) -> list[dict[str, Any]]:
    """Each gate as the request recorded it: value, threshold, result, where the value came from."""
    return [{"gate": g.name, "measures": g.metric or g.kind, "value": _number(g.value),
             "threshold": f"{'>=' if g.kind.startswith('min_') else '<='} {_number(g.threshold)}",
             "result": STATUS_ICON.get(g.status, g.status), "mode": g.mode,
             "blocks approval": "yes" if g.blocks else "", "source": g.source or "-"}
            for g in view.gates]


def stage_rows(view: ReleaseRequestView) -> list[dict[str, Any]]:
    """The approval chain in order with each stage's progress."""
    current = view.current_stage
    rows = []
    for s in view.stages:
        if s.done:
            status = "done"
        elif current is not None and s.name == current.name:
            status = "waiting for a decision"
        elif view.state == "open":
            status = "later"
        else:
            status = "not reached"
        rows.append({"stage": s.name, "decided by": s.role,
                     "approvals": f"{len(s.approved_by)}/{s.approvals}",
                     "approved by": ", ".join(s.approved_by), "status": status})
    return rows


def decision_rows(view: ReleaseRequestView) -> list[dict[str, Any]]:
    """Who decided what, when and why, in order."""
    return [{"#": d.ordinal, "stage": d.stage, "by": d.approver, "decision": d.done,
             "comment": d.comment, "at": when(d.decided_at)} for d in view.decisions]


def summary_lines(view: ReleaseRequestView) -> list[str]:
    """Markdown lines (escaped) about who asked for the release, when, and where it stands."""
    lines = [f"Requested by **{esc(view.requested_by)}** on {esc(when(view.opened_at))}"
             + (f": {esc(view.reason)}" if view.reason else ""),
             f"Version author: {esc(view.version_author or 'unknown')}"]
    if view.state == "open":
        current = view.current_stage
        lines.append(f"Open until {esc(when(view.expires_at))}"
                     + (f"; waiting for stage **{esc(current.name)}** ({esc(current.role)})" if current else ""))
    else:
        lines.append(f"**{esc(view.state.capitalize())}** on {esc(when(view.closed_at))}"
                     + (f": {esc(view.closed_reason)}" if view.closed_reason else ""))
    return lines


def comparison_rows(view: ReleaseRequestView, versions: Any) -> list[dict[str, Any]] | str:
    """The metrics MLflow holds for the champion and for the requested version, side by side;
    or why there is nothing to compare (``versions``: a ui.loaders.Versions)."""
    if versions.error:
        return f"MLflow is degraded: {versions.error}"
    mine = next((v for v in versions.versions if v.version == view.version), None)
    champion = versions.champion
    if mine is None:
        return f"Version {view.version} is not in the MLflow registry (any more)."
    if champion is None:
        return "The model has no champion yet: nothing to compare with."
    if champion.version == mine.version:
        return f"Version {view.version} is the champion now."
    rows = []
    for name in sorted(set(champion.metrics) | set(mine.metrics)):
        ours, theirs = mine.metrics.get(name), champion.metrics.get(name)
        rows.append({"metric": name, f"champion (version {champion.version})": _number(theirs),
                     f"version {mine.version}": _number(ours),
                     "difference": f"{ours - theirs:+.4g}" if ours is not None and theirs is not None else "-"})
    return rows or "Neither version has metrics logged in MLflow."


@st.cache_data(ttl=60, show_spinner="Comparing the two versions' traffic...")
def _window_comparison(_ctx: AppContext, database_url: str, model: str, version: str, champion: str,
                       viewer: str) -> loaders.Loaded:
    return loaders.guarded(lambda: compare_by_window(_ctx, model, version, viewer=viewer, champion=champion))


def window_comparison(ctx: AppContext, view: ReleaseRequestView, versions: Any,
                      viewer: str) -> loaders.Loaded | None:
    """The service's champion-vs-challenger comparison by window (cached for a minute), or None
    when there is no champion other than the requested version to compare with."""
    champion = getattr(versions, "champion", None)
    if champion is None or champion.version == view.version:
        return None
    return _window_comparison(ctx, ctx.settings.database_url, view.model, view.version, champion.version, viewer)


def _window_label(comparison: WindowComparison, moment: Any) -> str:
    return f"{moment:%Y-%m-%d}" if comparison.window == "1d" else f"{moment:%Y-%m-%d %H:%M}"


def window_rows(comparison: WindowComparison) -> list[dict[str, Any]] | str:
    """One row per window and version as the service computed them; or why there are none."""
    if not comparison.points:
        return comparison.note or "Nothing to compare."
    metric = comparison.metric
    return [{"window (UTC)": _window_label(comparison, p.window_start),
             "version": f"{p.version} ({p.role})", "requests": p.requests,
             "error ratio": "-" if p.error_ratio is None else f"{p.error_ratio:.2%}",
             "latency p95 (ms)": _number(p.p95_ms),
             metric: _number(p.performance), "labelled": p.labelled}
            for p in comparison.points]


def window_figure(comparison: WindowComparison) -> Any:
    """Latency p95 and the performance metric per window, one line per version (plotly)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("latency p95 (ms)", comparison.metric))
    colours = {"champion": "#607d8b", "challenger": "#1565c0"}
    for role in ("champion", "challenger"):
        points = [p for p in comparison.points if p.role == role]
        if not points:
            continue
        name = f"version {points[0].version} ({role})"
        for col, values in ((1, [p.p95_ms for p in points]), (2, [p.performance for p in points])):
            fig.add_trace(go.Scatter(x=[p.window_start for p in points], y=values, mode="lines+markers",
                                     name=name, legendgroup=role, showlegend=col == 1,
                                     line={"color": colours[role]}), row=1, col=col)
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return safe_figure(fig)


def show_window_comparison(loaded: loaders.Loaded | None, *, key: str) -> None:
    """The comparison by window: a chart and the table, or why there is nothing to show."""
    st.markdown("**Champion and this version by window** (where both served traffic, from the inference logs)")
    if loaded is None:
        st.caption("No other champion to compare with.")
        return
    if loaded.error:
        st.caption(f"The comparison is degraded: {esc(loaded.error)}")
        return
    comparison: WindowComparison = loaded.value
    rows = window_rows(comparison)
    if isinstance(rows, str):
        st.caption(esc(rows))
        return
    st.plotly_chart(window_figure(comparison), key=f"{key}.by_window_chart")
    st.dataframe(rows, hide_index=True, key=f"{key}.by_window")


def request_details(view: ReleaseRequestView, *, key: str, versions: Any = None,
                    by_window: loaders.Loaded | None | bool = False) -> None:
    """Summary, gates, champion comparison (when ``versions`` is given) and, when ``by_window``
    is not False, the comparison by window (:func:`window_comparison`), stage progress and
    approval history of one request."""
    for line in summary_lines(view):
        st.markdown(line)
    if view.state == "open" and view.blocking_gates:
        names = ", ".join(f"{g.name} ({g.status})" for g in view.blocking_gates)
        st.warning(f"Blocking gates not passed: {esc(names)}. It cannot be approved.", icon=":material/block:")
    st.markdown("**Quality gates**")
    if view.gates:
        st.dataframe(gate_rows(view), hide_index=True, key=f"{key}.gates")
    else:
        st.caption("This model has no quality gates configured.")
    if versions is not None:
        st.markdown("**Champion and this version** (metrics logged in MLflow)")
        compared = comparison_rows(view, versions)
        if isinstance(compared, str):
            st.caption(esc(compared))
        else:
            st.dataframe(compared, hide_index=True, key=f"{key}.comparison")
    if by_window is not False:
        show_window_comparison(by_window, key=key)  # type: ignore[arg-type]
    st.markdown("**Approval stages**")
    st.dataframe(stage_rows(view), hide_index=True, key=f"{key}.stages")
    st.markdown("**Approval history**")
    if view.decisions:
        st.dataframe(decision_rows(view), hide_index=True, key=f"{key}.decisions")
    else:
        st.caption("No decision yet.")


def decision_buttons(who: releases.Decider, view: ReleaseRequestView, *, key: str) -> None:
    """Approve / Reject buttons where ``who`` may take that decision now; else why not (for an
    open request). A click opens the confirmation dialog."""
    if view.state != "open":
        return
    may_approve = releases.decision_refusal(who, view, "approve")
    may_reject = releases.decision_refusal(who, view, "reject")
    if may_approve is not None and may_reject is not None:
        if view.model in who.approvable:  # one who could decide in principle is told why not now
            st.caption(f"You cannot decide this request: {esc(may_reject.message)}")
        return
    left, right, _ = st.columns([1, 1, 4])
    if may_approve is None and left.button("Approve...", type="primary", key=f"{key}.approve",
                                           icon=":material/check:"):
        st.session_state[PENDING] = (view.id, "approve")
    if may_reject is None and right.button("Reject...", key=f"{key}.reject", icon=":material/close:"):
        st.session_state[PENDING] = (view.id, "reject")
    if may_approve is not None:
        st.caption(f"Approval not possible: {esc(may_approve.message)}")


def _dismiss() -> None:
    st.session_state.pop(PENDING, None)
    st.session_state.pop(COMMENT, None)


@st.dialog("Release decision", on_dismiss=_dismiss)
def _decision_dialog(ctx: AppContext, actor: Actor, view: ReleaseRequestView, decision: str) -> None:
    stage = view.current_stage.name if view.current_stage else "?"
    verb = "Approve" if decision == "approve" else "Reject"
    st.markdown(f"{verb} stage **{esc(stage)}** of release request **#{view.id}**: "
                f"**{esc(view.model)}** version **{esc(view.version)}**?")
    if decision == "approve":
        st.caption("Your approval is recorded with your name in the request's history and the audit log.")
    else:
        st.caption("A rejection closes the request for good; say why (required).")
    comment = st.text_area("Comment" + (" (required)" if decision == "reject" else " (optional)"),
                           key=COMMENT, max_chars=releases.MAX_COMMENT)
    left, right = st.columns(2)
    if left.button(verb, type="primary", key="approvals.confirm"):
        st.session_state.pop(ERROR, None)
        st.session_state.pop(RESULT, None)
        try:
            if decision == "approve":
                after = releases.approve(ctx, actor, view.id, comment=comment, stage=stage)
            else:
                after = releases.reject(ctx, actor, view.id, comment=comment, stage=stage)
        except Exception as exc:  # refused (audited by the service) or failed: say why, never a traceback
            st.session_state[ERROR] = str(exc) or type(exc).__name__
        else:  # a failed promotion is an error to act on, not a green tick
            st.session_state[ERROR if after.state == "promotion_failed" else RESULT] = outcome_text(after, decision)
        _dismiss()
        st.rerun()
    if right.button("Cancel", key="approvals.cancel"):
        _dismiss()
        st.rerun()


def outcome_text(view: ReleaseRequestView, decision: str) -> str:
    """What a decision did, in words (plain text)."""
    done = "Approved" if decision == "approve" else "Rejected"
    text = f"{done} release request #{view.id} ({view.model} version {view.version}); it is now {view.state}"
    if view.state == "promotion_failed":
        return (f"{done} release request #{view.id} ({view.model} version {view.version}), but the promotion "
                f"failed: {view.closed_reason or 'no reason recorded'}. The aliases were put back; "
                "it can be retried.")
    if view.state == "open" and view.current_stage is not None:
        s = view.current_stage
        text += f", waiting for stage {s.name} ({len(s.approved_by)}/{s.approvals} {s.role} approvals)"
    return text + "."


def pending_dialog(ctx: AppContext, actor: Actor, views: list[ReleaseRequestView]) -> None:
    """Open the dialog of the decision a button asked for, if any (once per run)."""
    pending = st.session_state.get(PENDING)
    if not pending:
        return
    request_id, decision = pending
    view = next((v for v in views if v.id == request_id), None)
    if view is None:
        _dismiss()
        return
    _decision_dialog(ctx, actor, view, decision)


def show_outcome() -> None:
    """The result or the service's refusal of the last confirmed decision, then forgotten."""
    components.show_outcome(RESULT, ERROR, success=lambda message: message)
