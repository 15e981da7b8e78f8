"""Overview: the monitored models the user may see, their versions, health and the latest jobs.

Reads through ui.loaders only; the services decide what the user may see (job runs included)."""

import streamlit as st

from ui import charts, inventory, loaders
from ui.auth import require_user
from ui.components import degraded, esc
from ui.context import get_context
from ui.nav import permitted_models

ctx = get_context()
user = require_user()

st.title("Overview")
names = permitted_models(ctx, user.username)
if not names:
    st.info("No monitored model is visible to you. Ask an administrator for a grant.")
    st.stop()

st.caption(f"{len(names)} monitored model{'s' if len(names) != 1 else ''}")
inventory.overdue_reminder(ctx, user.username)  # a visible model's review is overdue
models = [
    (ctx.models.get(name),
     loaders.model_versions(ctx, name, user.username),
     loaders.health(ctx, name, user.username))
    for name in names
]
st.dataframe(charts.models_frame(models), hide_index=True, key="overview.summary")

for spec, versions, health in models:
    with st.container(border=True):
        st.subheader(esc(spec.name))
        if spec.description:
            st.write(esc(spec.description))
        task, champion, count, score = st.columns(4)
        task.metric("Task", spec.task)
        champion.metric("Champion", f"v{versions.champion.version}" if versions.champion else "none")
        count.metric("Versions", len(versions.versions) if not versions.error else "?")
        snap = health.value
        if snap is not None and snap.score is not None:
            score.metric("Health", f"{snap.score:.0f}/100", delta=snap.level, delta_arrow="off",
                         delta_color={"ok": "green", "warning": "orange", "critical": "red"}.get(snap.level, "gray"))
        else:
            score.metric("Health", "no data")
        st.caption(f"MLflow registered model: {esc(spec.registered_model)}")

        if versions.error:
            degraded("MLflow", versions.error)
        elif not versions.versions:
            st.info("No versions registered in MLflow yet.")
        else:
            st.dataframe(charts.versions_frame(versions.versions), hide_index=True,
                         key=f"overview.versions.{spec.name}")

        if health.error:
            degraded("Health service", health.error)
        elif snap is None:
            st.caption("No health snapshot yet.")
        else:
            reasons = snap.reasons()
            if reasons:
                st.markdown("**Why the score is lower:** " + esc("; ".join(reasons[:3])))
            history = loaders.health_history(ctx, spec.name, user.username)
            if history.value and len(history.value) > 1:
                st.plotly_chart(charts.health_history_figure(history.value), use_container_width=True,
                                key=f"overview.health_history.{spec.name}")
            version = f" of version {esc(snap.version)}" if snap.version else ""
            with st.expander(f"Health: {snap.level}, snapshot{version} taken {snap.at:%Y-%m-%d %H:%M} UTC"):
                st.dataframe(charts.health_parts_frame(snap.parts), hide_index=True,
                             key=f"overview.health.{spec.name}")

st.subheader("Latest job runs")
runs = loaders.job_runs(ctx, user.username)
if runs.error:
    degraded("Database", runs.error)
elif runs.value:
    st.dataframe(charts.job_runs_frame(runs.value), hide_index=True, key="overview.runs")
else:
    st.info("No job has run yet. Run `python -m jobs.demo` or schedule the jobs (see the README).")
