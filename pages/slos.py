"""SLOs, in the manner of Pyrra: per model and SLO the objective, availability, remaining error
budget, the multiwindow burn-rate alerts, the budget over time, then latency percentiles, error
rate and GPU figures. Shows the snapshots and series that ``python -m jobs.slo`` stores, read
through ui.slo_loaders (the services check that the user may view the model); every alert
decision and percentile shown was computed by the job, never here."""

import streamlit as st

from ui import slo_charts as charts
from ui import slo_loaders as loaders
from ui.auth import require_user
from ui.components import degraded, esc
from ui.context import get_context
from ui.nav import permitted_models

ctx = get_context()
user = require_user()

st.title("SLOs")
names = permitted_models(ctx, user.username)
if not names:
    st.info("No monitored model is visible to you. Ask an administrator for a grant.")
    st.stop()

left, right = st.columns([2, 1])
model = left.selectbox("Model", names, key=loaders.SLO_MODEL)
span = right.selectbox("Time range", list(loaders.RANGES), index=3, key=loaders.SLO_RANGE)
hours = loaders.RANGES[span]

run = loaders.last_run(ctx, model, user.username)
if run.value is not None and run.value.status == "failed":
    degraded("The last SLO evaluation", f"{run.value.message} (at {run.value.started_at:%Y-%m-%d %H:%M} UTC); "
             "the figures below are the last stored snapshot")

loaded = loaders.snapshots(ctx, model, user.username)
if loaded.error:
    degraded("SLO results", loaded.error)
    st.stop()
snapshots = loaded.value or []
if not snapshots:
    st.info(f"No SLO evaluation is stored for {esc(model)} yet. Run `python -m jobs.slo --model {esc(model)}` "
            "or wait for the scheduler.")
    st.stop()

first = snapshots[0]
st.caption(f"Evaluated {first.at:%Y-%m-%d %H:%M} UTC from {esc(first.source)}"
           + (f" (preset {esc(first.details.get('preset'))})" if first.details.get("preset") else ""))

for snap in snapshots:
    st.subheader(f"{esc(snap.slo)}: {charts.objective_text(snap.objective)} over {esc(snap.period)}")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Objective", charts.objective_text(snap.objective))
    c2.metric(f"Availability ({snap.period})", charts.pct(snap.availability))
    c3.metric("Error budget remaining", charts.pct(snap.budget_remaining, 1))
    c4.metric("Alert", charts.alert_state(snap))
    if snap.details.get("note"):
        st.caption(esc(snap.details["note"]))
    for reason in snap.details.get("guarded") or []:
        st.caption(f"Held back: {esc(reason)}")
    tab_alerts, tab_windows, tab_time = st.tabs(["Burn-rate alerts", "Windows", "Budget over time"])
    with tab_alerts:
        if snap.alert_rules:
            st.dataframe(charts.alert_table(snap), hide_index=True, key=f"slo.alerts.{snap.slo}")
        else:
            st.caption("This snapshot was stored before alert decisions were kept: run "
                       f"`python -m jobs.slo --model {esc(model)}` to see them.")
    with tab_windows:
        st.dataframe(charts.burn_table(snap), hide_index=True, key=f"slo.windows.{snap.slo}")
    with tab_time:
        burn = loaders.series(ctx, model, f"burn:{snap.slo}", hours, user.username)
        if burn.error:
            degraded("Budget history", burn.error)
        elif burn.value is None or burn.value.empty:
            st.caption("No history stored yet.")
        else:
            frame = burn.value
            paged = frame[frame["page"].astype(bool)]
            if not paged.empty:
                st.caption(f"Page alert at {len(paged)} of {len(frame)} hourly points, first "
                           f"{paged['at'].min():%Y-%m-%d %H:%M}, last {paged['at'].max():%Y-%m-%d %H:%M} UTC")
            st.plotly_chart(charts.budget_figure(frame), key=f"slo.budget.{snap.slo}")
            st.plotly_chart(charts.burn_figure(frame, snap.alert_rules), key=f"slo.burn.{snap.slo}")

st.subheader("Latency, errors and GPU")
latency = first.details.get("latency") or {}
gpu = first.details.get("gpu") or {}
m1, m2, m3, m4 = st.columns(4)
if latency.get("kind") == "average":
    m1.metric("Average latency (1h)", charts.num(latency.get("average_ms"), 0) + " ms")
    st.caption("This server reports average latency only (no histogram): percentiles are not available.")
else:
    m1.metric("p50 / p95 / p99 (1h)", " / ".join(charts.num(latency.get(k), 0)
                                                   for k in ("p50_ms", "p95_ms", "p99_ms")) + " ms")
m2.metric("Apdex", charts.num(latency.get("apdex")),
          help=f"T = {latency.get('apdex_t_ms')} ms; errors count as frustrated" if latency.get("apdex_t_ms") else None)
m3.metric("GPU utilisation", charts.num(gpu.get("utilization_pct"), 0) + ("%" if gpu.get("utilization_pct") is not None else ""))
m4.metric("GPU memory", charts.num(gpu.get("memory_mb"), 0) + (" MiB" if gpu.get("memory_mb") is not None else ""))
metrics = loaders.series(ctx, model, "metrics", hours, user.username)
if metrics.error:
    degraded("Latency and GPU history", metrics.error)
elif metrics.value is None or metrics.value.empty:
    st.caption("No latency or GPU history stored yet.")
else:
    a, b = st.columns(2)
    a.plotly_chart(charts.latency_figure(metrics.value), key="slo.latency")
    b.plotly_chart(charts.error_figure(metrics.value), key="slo.errors")
    if charts.has_gpu_data(metrics.value):
        st.plotly_chart(charts.gpu_figure(metrics.value), key="slo.gpu")
    else:
        st.caption("No GPU readings in this range: the model served on CPU (the logs' gpu_* fields are empty).")
