"""Drift: per model, the latest stored drift run, its features, drift over time, distributions,
predictions and performance, data quality and the quarantine. Reads stored results only."""

import streamlit as st

from ui import drift_charts as charts
from ui import drift_loaders as loaders
from ui.auth import require_user
from ui.components import degraded, drift_that_matters_section, esc
from ui.context import get_context
from ui.nav import permitted_models

ctx = get_context()
user = require_user()

st.title("Drift")
names = permitted_models(ctx, user.username)
if not names:
    st.info("No monitored model is visible to you. Ask an administrator for a grant.")
    st.stop()

model = st.selectbox("Model", names, key=loaders.DRIFT_MODEL)
spec = ctx.models.get(model)
pii = spec.pii_features
show_pii = loaders.can_view_pii(ctx, user.username, model)

latest = loaders.latest_run(ctx, model, user.username)
run = latest.value
if latest.error:
    degraded("Drift results", latest.error)
elif run is None:
    st.info(
        f"No drift check has run for {esc(model)} yet. Run `python -m jobs.drift --model "
        f"{esc(model)}` or wait for the scheduler."
    )
else:
    st.subheader("Latest run")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Drifted features", f"{run.drifted_features} of {run.features_tested}")
    c2.metric("Share drifted", f"{run.share_drifted:.0%}")
    c3.metric("Max severity", run.max_severity)
    c4.metric("Rows in window", f"{run.rows:,}")
    st.caption(
        f"Window {run.window} from {run.window_start:%Y-%m-%d %H:%M} to {run.window_end:%Y-%m-%d %H:%M} UTC, "
        f"version {esc(run.version)}, checked {run.at:%Y-%m-%d %H:%M} UTC"
        + (" · dataset drift" if run.dataset_drift else "")
    )
    if run.note:
        st.caption(f"Note: {esc(run.note)}")
    if run.status == "no_data":
        st.warning("The window of the latest run held no logs: nothing was compared.")
    elif run.status == "quality_failed":
        failed = ", ".join(esc(str(n)) for n in run.quality.get("data_quality_failures", []))
        st.error(f"Data quality failed: no usable values for {failed}. Not drift, and not a pass: "
                 "see Data quality.")

    tab_features, tab_time, tab_dist, tab_pred, tab_quality = st.tabs(
        ["Features", "Over time", "Distribution", "Predictions & performance", "Data quality"]
    )

    with tab_features:
        table = loaders.feature_table(run, pii)
        if table.empty:
            st.caption("No feature results in this run.")
        else:
            st.dataframe(table, hide_index=True, key="drift.features_table")
            left, right = st.columns(2)
            left.download_button(
                "Download CSV",
                table.to_csv(index=False).encode("utf-8"),
                file_name=f"{model}-drift-{run.window_end:%Y%m%dT%H%MZ}.csv",
                mime="text/csv",
                key="drift.csv",
            )
            report = loaders.report(ctx, run, user.username)
            if report.error:
                degraded("Evidently report", report.error)
            elif report.value:
                right.download_button(
                    "Download Evidently report (HTML)",
                    report.value,
                    file_name=run.report_name or "drift-report.html",
                    mime="text/html",
                    key="drift.report",
                )
            else:
                right.caption("No Evidently report stored for this run.")
            st.caption(
                "One row per feature and drift method. A test (threshold on the p-value) drifts when its "
                "adjusted p-value is below alpha and its effect reaches the minimum; a distance when it "
                "reaches its threshold. PSI: < 0.1 none, 0.1–0.25 moderate, ≥ 0.25 significant."
            )
            drift_that_matters_section(ctx, model, user.username, key="drift.drift_that_matters")

    with tab_time:
        hist = loaders.history(ctx, model, run.window, user.username)
        if hist.error:
            degraded("Drift history", hist.error)
        elif hist.value is None or hist.value.empty:
            st.caption("No history yet.")
        else:
            value = st.radio(
                "Colour by", charts.heatmap_values(hist.value), horizontal=True, key=loaders.DRIFT_HEATMAP_VALUE
            )
            st.plotly_chart(charts.heatmap(hist.value, value), key="drift.heatmap")
        runs = loaders.series(ctx, model, run.window, user.username)
        if runs.value is not None and not runs.value.empty:
            frame = runs.value
            st.plotly_chart(
                charts.lines(frame, ["share_drifted"], title="Share of drifted features", yaxis="share"),
                key="drift.share_chart",
            )

    with tab_dist:
        features = [f.feature for f in run.features]
        if features:
            feature = st.selectbox("Feature", features, key=loaders.DRIFT_FEATURE)
            if feature in pii and not show_pii:
                st.info(
                    f"{esc(feature)} is tagged PII: its values are hidden (needs permission to view PII)."
                )
            else:
                prof = loaders.profile(ctx, run.profile_id)
                result = next(f for f in run.features if f.feature == feature)
                chart = (prof.value.charts.get(feature) if prof.value else None) or {}
                if prof.error:
                    degraded("Reference profile", prof.error)
                elif not chart:
                    st.caption("No stored distribution for this feature.")
                else:
                    st.plotly_chart(
                        charts.distribution(chart, result.histogram, feature), key="drift.distribution"
                    )

    with tab_pred:
        runs = loaders.series(ctx, model, run.window, user.username)
        if runs.error:
            degraded("Drift history", runs.error)
        elif runs.value is not None and not runs.value.empty:
            frame = runs.value
            drift_cols = [
                c
                for c in ("score_drift_psi", "class_drift_psi", "prediction_drift_psi")
                if c in frame.columns
            ]
            if drift_cols:
                st.plotly_chart(
                    charts.lines(
                        frame, drift_cols, title="Prediction drift (PSI against the baseline)", yaxis="PSI"
                    ),
                    key="drift.prediction_drift_chart",
                )
                baseline = (run.prediction or {}).get("baseline")
                if baseline:
                    st.caption(f"Baseline predictions: {esc(baseline)}.")
            class_cols = [c for c in frame.columns if c.startswith("share_of_class_")]
            pred_cols = [
                c
                for c in ("prediction_entropy", "prediction_score_entropy", "prediction_entropy_change")
                if c in frame.columns
            ]
            if class_cols:
                st.plotly_chart(
                    charts.lines(frame, class_cols, title="Predicted class shares", yaxis="share"),
                    key="drift.class_chart",
                )
            if pred_cols:
                st.plotly_chart(
                    charts.lines(frame, pred_cols, title="Prediction entropy (nats)"),
                    key="drift.entropy_chart",
                )
            reg_cols = [c for c in ("prediction_mean", "prediction_std") if c in frame.columns]
            if reg_cols:
                st.plotly_chart(charts.lines(frame, reg_cols, title="Predictions"), key="drift.pred_chart")
            perf_cols = [c for c in ("accuracy", "f1", "roc_auc", "mae", "rmse") if c in frame.columns]
            if perf_cols:
                st.plotly_chart(
                    charts.lines(frame, perf_cols, title="Performance by window (labelled rows)"),
                    key="drift.perf_chart",
                )
            else:
                st.caption("No labels have arrived for these windows, so no performance figures.")

    with tab_quality:
        quality = loaders.quality(run)
        if quality.empty:
            st.caption("No data-quality figures for this run.")
        else:
            st.dataframe(quality, hide_index=True, key="drift.quality_table")

st.subheader("Quarantine")
loaded = loaders.quarantine(ctx, model, user.username)
if loaded.error:
    degraded("Quarantine", loaded.error)
else:
    summary, rows = loaded.value
    q1, q2, q3, q4 = st.columns(4)
    q1.metric("Rows read", f"{summary.rows_read:,}")
    q2.metric("Stored", f"{summary.rows_stored:,}")
    q3.metric("Quarantined", f"{summary.rows_quarantined:,}")
    q4.metric("Completeness", f"{summary.rows_stored / summary.rows_read:.2%}" if summary.rows_read else "–")
    if summary.by_reason:
        st.dataframe(
            [{"reason": r, "rows": n} for r, n in summary.by_reason],
            hide_index=True,
            key="drift.quarantine_reasons",
        )
        if pii and not show_pii:
            st.caption("Values of PII-tagged features are masked in the rows below.")
        st.dataframe(rows, hide_index=True, key="drift.quarantine_rows")
    elif summary.files:
        st.caption("No row has been quarantined.")
    else:
        st.caption("No log file has been ingested yet.")
