"""Approvals: the release requests waiting for the signed-in person's decision (by role, scope
and four eyes), each with its quality gates, its metrics beside the champion's, the two versions'
traffic by window where both served, stage progress and approval history, approved or rejected
through a confirmation dialog; below, every request of the models they may view.

Reads and decisions go through governance.releases (list_requests with ``viewer=``, decider and
decision_refusal to show a button only to one who may use it; approve and reject check again,
audit and refuse themselves). ui/approvals.py holds the widgets.
"""

import streamlit as st

from governance import release_reads, releases
from ui import approvals as ui
from ui import loaders, state
from ui.auth import actor_for, require_user
from ui.components import esc
from ui.context import get_context

ctx = get_context()
user = require_user()
actor = actor_for(user)

st.title("Approvals")
st.caption("Release requests of new model versions: each is judged against the model's quality gates, "
           "then decided stage by stage by the roles its approval chain names. Four eyes: the version's "
           "author and the requester may not decide, and one person takes one decision per request.")
ui.show_outcome()

try:
    everything = releases.list_requests(ctx, viewer=user.username)
    who = releases.decider(ctx, user.username)
except Exception as exc:  # the database did not answer
    st.error(f"Cannot read the release requests: {esc(exc)}", icon=":material/error:")
    st.stop()

waiting = [v for v in everything if releases.decision_refusal(who, v, "approve") is None
           or releases.decision_refusal(who, v, "reject") is None]



def versions_of(model: str) -> loaders.Versions:
    """The model's versions and champion from MLflow (cached briefly), for the comparison: asked
    afresh when the model's newest alias move or requests changed (a promotion just made here
    shows the new champion at once, not up to 30 s later). Read once per model and run."""
    if model in _versions:
        return _versions[model]
    moves = loaders.guarded(lambda: release_reads.alias_moves(ctx, viewer=user.username, model=model, limit=1))
    stamp = (moves.value[0].id if moves.value else None,
             tuple((v.id, v.state) for v in everything if v.model == model))
    _versions[model] = loaders.model_versions(ctx, model, user.username, stamp=stamp)
    return _versions[model]


_versions: dict[str, loaders.Versions] = {}


def by_window(view, versions):  # type: ignore[no-untyped-def]
    """The service's comparison of the champion and this version by window (cached briefly)."""
    return ui.window_comparison(ctx, view, versions, user.username)


st.subheader(f"Waiting for your decision ({len(waiting)})")
if not waiting:
    if who.approvable:
        st.info("Nothing waits for your decision.", icon=":material/task_alt:")
    else:
        st.info("You hold no role that approves releases; you can follow the requests below.",
                icon=":material/visibility:")
for view in waiting:
    with st.container(border=True):
        st.markdown(f"**{esc(ui.headline(view))}**")
        ui.decision_buttons(who, view, key=f"approvals.mine.{view.id}")
        versions = versions_of(view.model)
        ui.request_details(view, key=f"approvals.mine.{view.id}", versions=versions,
                           by_window=by_window(view, versions))

st.subheader("All requests")
if not everything:
    st.caption("No release request yet. One opens when a new version is registered "
               "(`python -m jobs.release request --model NAME`).")
    st.stop()
states = sorted({v.state for v in everything})
chosen = st.multiselect("State", states, default=[s for s in states if s == "open"] or states,
                        key=state.APPROVALS_STATE)
shown = [v for v in everything if v.state in chosen and v not in waiting]
if not shown:
    st.caption("No other request in these states.")
for view in shown:
    with st.expander(esc(ui.headline(view)), expanded=view.state == "open"):
        ui.decision_buttons(who, view, key=f"approvals.all.{view.id}")
        versions = versions_of(view.model) if view.state == "open" else None
        ui.request_details(view, key=f"approvals.all.{view.id}", versions=versions,
                           by_window=by_window(view, versions) if versions is not None else False)

ui.pending_dialog(ctx, actor, everything)  # last: after the button that asked for it
