"""Releases: per model, the champion, its release requests and the history of its alias moves
(who promoted or rolled back what, when and why), read only.

Reads go through governance.releases.list_requests and governance.release_reads.alias_moves
(both with ``viewer=``) and ui.loaders.model_versions (the champion by governance.registry's one
rule). Rollback and retrain buttons are not here yet: their services are being built.
"""

import streamlit as st

from governance import release_reads, releases
from ui import loaders
from ui.tokens import when
from ui.auth import require_user
from ui.components import degraded, esc
from ui.context import get_context
from ui.nav import permitted_models

ctx = get_context()
user = require_user()

st.title("Releases")
names = permitted_models(ctx, user.username)
if not names:
    st.info("No monitored model is visible to you. Ask an administrator for a grant.")
    st.stop()
model = st.selectbox("Model", names, key="releases.model")
spec = ctx.models.get(model)

found = loaders.model_versions(ctx, model, user.username)
if found.error:
    degraded("MLflow", found.error)
elif not found.registered or not found.versions:
    st.caption(f"No versions of {esc(spec.registered_model)} are registered in MLflow yet.")
else:
    champion = found.champion.version if found.champion else "none"
    st.markdown(f"Champion of **{esc(spec.registered_model)}**: version **{esc(champion)}** "
                f"({len(found.versions)} versions registered)")

st.subheader("Release requests")
read = loaders.guarded(lambda: releases.list_requests(ctx, viewer=user.username, model=model))
if read.error:  # refused or the database did not answer (redacted, one line)
    st.error(f"Cannot read the release requests: {esc(read.error)}", icon=":material/error:")
requests = read.value or []
if requests:
    st.dataframe([{"request": v.id, "version": v.version, "state": v.state, "requested by": v.requested_by,
                   "opened": when(v.opened_at), "closed": when(v.closed_at),
                   "outcome": v.closed_reason or "",
                   "decisions": "; ".join(f"{d.approver} {d.done} {d.stage}"
                                          for d in v.decisions)}
                  for v in requests], hide_index=True, key="releases.requests")
    st.caption("Decide open requests on the Approvals page.")
else:
    st.caption("No release request for this model yet.")

st.subheader("Alias history")
read = loaders.guarded(lambda: release_reads.alias_moves(ctx, viewer=user.username, model=model))
if read.error:
    st.error(f"Cannot read the alias history: {esc(read.error)}", icon=":material/error:")
moves = read.value or []
if moves:
    st.dataframe([{"at": when(m.moved_at), "alias": m.alias, "from": m.from_version or "-",
                   "to": m.to_version or "-", "kind": m.kind, "by": m.actor, "why": m.reason,
                   "request": m.request_id or ""} for m in moves], hide_index=True, key="releases.moves")
else:
    st.caption("No alias of this model has been moved through Vigil yet.")
