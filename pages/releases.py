"""Releases: per model, the champion, a timeline of its versions with every promotion, rollback
(the auto-rollback watcher's marked apart) and outside change, who did it and why; Rollback and
Retrain for those allowed; the auto-rollback watcher's probation of a newly promoted champion
and its checks (governance.auto_rollback_reads); the retrain jobs with their state and log; the release requests.

Reads go through governance.release_reads.alias_moves, governance.releases.list_requests and
governance.retrain.list_retrains (all with ``viewer=``) and ui.loaders.model_versions (the
champion by governance.registry's one rule). The buttons show for ``model.rollback`` /
``model.retrain`` on the model (governance.rbac.can); the dialogs call
governance.promotion.rollback and governance.retrain.request_retrain, which check again, audit
and refuse themselves. ui/releases.py holds the widgets.
"""

from datetime import UTC, datetime

import streamlit as st

from governance import release_reads, releases
from ui import loaders
from ui import releases as ui
from ui.auth import actor_for, require_user
from ui.charts import versions_frame
from ui.components import degraded, esc
from ui.context import get_context
from ui.nav import permitted_models, user_can
from ui.tokens import when

ctx = get_context()
user = require_user()
actor = actor_for(user)

st.title("Releases")
st.caption("Which version of each model serves as champion, how it got there (promotions through the "
           "Approvals page, rollbacks, the auto-rollback watcher, changes made in MLflow directly), "
           "and the retrains that produce the next versions.")
names = permitted_models(ctx, user.username)
if not names:
    st.info("No monitored model is visible to you. Ask an administrator for a grant.")
    st.stop()
model = st.selectbox("Model", names, key="releases.model")
spec = ctx.models.get(model)
ui.show_outcome()

moves_read = loaders.guarded(lambda: release_reads.alias_moves(ctx, viewer=user.username, model=model))
requests_read = loaders.guarded(lambda: releases.list_requests(ctx, viewer=user.username, model=model))
moves = moves_read.value or []
requests = requests_read.value or []
# a promotion, rollback or newly requested version since the last look reads MLflow afresh
found = loaders.model_versions(ctx, model, user.username,
                               stamp=(moves[0].id if moves else None, requests[0].id if requests else None))

champion = found.champion.version if found.champion else None
if found.error:
    degraded("MLflow", found.error)
elif not found.registered or not found.versions:
    st.caption(f"No versions of {esc(spec.registered_model)} are registered in MLflow yet.")
else:
    st.markdown(f"Champion of **{esc(spec.registered_model)}**: version **{esc(champion or 'none')}** "
                f"({len(found.versions)} versions registered)")
how = ui.champion_line(moves)
if how:
    st.markdown(how)
ui.probation(ctx, user.username, model)
ui.action_buttons(model, may_rollback=user_can(ctx, user.username, "model.rollback", model),
                  may_retrain=user_can(ctx, user.username, "model.retrain", model),
                  has_champion=champion is not None)

st.subheader("Version timeline")
if moves_read.error:
    degraded("The alias history", moves_read.error)
if found.versions or moves:
    st.plotly_chart(ui.timeline_figure(found.versions, moves, champion=champion, now=datetime.now(UTC)),
                    key="releases.timeline")
    with st.expander("Versions and their metrics"):
        st.dataframe(versions_frame(found.versions), hide_index=True, key="releases.versions")
st.markdown("**Alias history** (who moved which alias, and why)")
if moves:
    st.dataframe(ui.history_rows(moves), hide_index=True, key="releases.moves")
elif not moves_read.error:
    st.caption("No alias of this model has been moved through Vigil yet.")

st.subheader("Retrain jobs")
ui.retrain_jobs(ctx, user.username, model)

st.subheader("Release requests")
if requests_read.error:
    degraded("The release requests", requests_read.error)
if requests:
    st.dataframe([{"request": v.id, "version": v.version, "state": v.state, "requested by": v.requested_by,
                   "opened": when(v.opened_at), "closed": when(v.closed_at),
                   "outcome": v.closed_reason or "",
                   "decisions": "; ".join(f"{d.approver} {d.done} {d.stage}"
                                          for d in v.decisions)}
                  for v in requests], hide_index=True, key="releases.requests")
    st.caption("Decide open requests on the Approvals page.")
elif not requests_read.error:
    st.caption("No release request for this model yet.")

ui.pending_dialog(ctx, actor, model, found)  # last: after the button that asked for it
