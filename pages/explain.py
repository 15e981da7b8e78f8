"""Explainability: what drives each model version's predictions, and whether that is changing.

Global importance with intervals, the distribution of SHAP values, attribution drift over time,
the drifted features that move predictions, and one request's waterfall. Reports come from the
``shap`` job; only the per-request lookup explains while you wait (one row).
"""

import streamlit as st

from ui import explain_charts as charts
from ui import explain_loaders as loaders
from ui.auth import actor_for, require_user
from ui.components import degraded, drift_that_matters_section, esc
from ui.context import get_context
from ui.nav import permitted_models

ctx = get_context()
user = require_user()

st.title("Explanations")
names = permitted_models(ctx, user.username)
if not names:
    st.info("No monitored model is visible to you. Ask an administrator for a grant.")
    st.stop()

model = st.selectbox("Model", names, key="explain.model")
history = loaders.report_history(ctx, model, user.username)
if history.error:
    degraded("Explanation reports", history.error)
    st.stop()
reports = history.value or []
if not reports:
    st.info(
        f"No SHAP report for {esc(model)} yet. The scheduled job writes one; an operator can run "
        f"`python -m jobs.shap --model {model}`."
    )
    st.stop()

current = [r for r in reports if r.is_current]
versions = [r.version for r in current]
version = st.selectbox(
    "Version",
    versions,
    key="explain.version",
    format_func=lambda v: (
        f"v{v} (report of {next(r for r in current if r.version == v).created_at:%Y-%m-%d %H:%M} UTC)"
    ),
)
report = next(r for r in current if r.version == version)

cols = st.columns(5)
cols[0].metric("Explainer", report.explainer)
cols[1].metric("Device", report.device)
cols[2].metric(
    "Explained rows", report.explained_rows, help=f"against {report.background_rows} background rows"
)
cols[3].metric("Runtime", f"{report.runtime_s:.1f} s")
cols[4].metric(
    "Additivity",
    "holds" if report.additivity_ok else "fails",
    help=f"max |sum(SHAP) + base - output| = {report.additivity_max_error:.2g} "
    f"(tolerance {report.additivity_tolerance:.2g})",
)
if report.sample_source == "reference":
    st.caption("The window had no logged rows: this report explains a sample of the reference data.")
for note in report.notes:
    st.caption(esc(note))
st.caption(
    f"Report {report.id}, JSON sha256 {report.json_sha256}, "
    f"{'logged to MLflow' if report.mlflow_logged else 'not logged to MLflow'}."
)

chart_data = loaders.report_chart_data(ctx, report, user.username)
if chart_data.error:
    degraded("Report archive", chart_data.error)
else:
    left, right = st.columns(2)
    left.plotly_chart(charts.importance_chart(chart_data.value.importance), key="explain.importance")
    right.plotly_chart(charts.beeswarm_chart(chart_data.value.beeswarm), key="explain.beeswarm")
    html = loaders.report_html(ctx, report, user.username)
    if html.value is not None:
        st.download_button(
            "Download the HTML report",
            data=html.value,
            mime="text/html",
            file_name=f"shap-{model}-v{report.version}-{report.id}.html",
            key="explain.download",
        )

st.subheader("Attribution drift")
drift = loaders.attribution_over_time(ctx, model, user.username)
if drift.error:
    degraded("Attribution drift", drift.error)
elif not drift.value:
    st.caption("No window has been compared with the reference yet.")
else:
    st.plotly_chart(charts.attribution_drift_chart(drift.value), key="explain.attribution")
    latest = drift.value[-1]
    verdict = "drifted" if latest.drifted else "within the threshold"
    st.caption(
        f"Latest: distance {latest.distance:.3f} against threshold {latest.threshold:.2f} ({verdict}), "
        f"version {esc(latest.version)}."
    )
    st.dataframe(charts.rank_changes_frame(latest), hide_index=True)

drift_that_matters_section(ctx, model, user.username, key="explain.drift_that_matters")

st.subheader("Explain one request")
with st.form("explain.request_form"):
    request_id = st.text_input("Request id", key="explain.request_id")
    submitted = st.form_submit_button("Explain")
if submitted and request_id.strip():
    with st.spinner("Explaining..."):
        found = loaders.explain_request(ctx, actor_for(user), model, request_id.strip())
    if found.error and not found.available:
        st.warning(esc(found.error))
    elif found.error:
        degraded("Per-request explanation", found.error)
    else:
        result = found.value
        st.plotly_chart(charts.waterfall_chart(result), key="explain.waterfall")
        st.caption(
            f"Version {esc(result.version)}, {esc(result.explainer)} explainer against the background of "
            f"{esc(result.background_source)}; logged prediction {esc(result.logged_prediction)}, "
            f"score {esc(result.logged_score)}."
        )
        if result.metadata:
            st.dataframe([result.metadata], hide_index=True)

with st.expander("All reports"):
    st.dataframe(charts.reports_frame(reports), hide_index=True)
