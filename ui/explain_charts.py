"""Plotly figures and tables for the Explainability page, built from the service's results."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from ui.escape import safe_figure


def importance_chart(features: Sequence[Mapping[str, Any]], *, limit: int = 15) -> go.Figure:
    """Horizontal bars of mean |SHAP| with the bootstrap interval as error bars (most important on top)."""
    top = list(features[:limit])[::-1]
    fig = go.Figure(
        go.Bar(
            x=[f["mean_abs"] for f in top],
            y=[f["feature"] for f in top],
            orientation="h",
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [max(f["high"] - f["mean_abs"], 0.0) for f in top],
                "arrayminus": [max(f["mean_abs"] - f["low"], 0.0) for f in top],
            },
            hovertemplate="%{y}: %{x:.4g}<extra></extra>",
            marker_color="#1f77b4",
        )
    )
    fig.update_layout(
        height=max(260, 24 * len(top) + 80),
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        xaxis_title="mean |SHAP value|",
        title="Global importance (95% bootstrap interval)",
    )
    return safe_figure(fig)


def beeswarm_chart(beeswarm: Sequence[Mapping[str, Any]], *, limit: int = 12) -> go.Figure:
    """One strip of points per feature: SHAP value on x, colour = the feature value's rank."""
    rows = list(beeswarm[:limit])
    xs: list[float] = []
    ys: list[float] = []
    colours: list[float] = []
    labels = []
    for i, entry in enumerate(reversed(rows)):
        labels.append(entry["feature"])
        for k, (value, scaled) in enumerate(zip(entry["shap"], entry["value"], strict=True)):
            xs.append(value)
            ys.append(i + ((k * 7919) % 13 - 6) * 0.03)
            colours.append(0.5 if scaled is None else scaled)
    fig = go.Figure(
        go.Scattergl(
            x=xs,
            y=ys,
            mode="markers",
            marker={
                "size": 4,
                "color": colours,
                "colorscale": "Bluered",
                "opacity": 0.7,
                "colorbar": {"title": "feature value", "tickvals": [0, 1], "ticktext": ["low", "high"]},
            },
            hovertemplate="SHAP %{x:.4g}<extra></extra>",
        )
    )
    fig.update_layout(
        height=max(260, 30 * len(rows) + 80),
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        xaxis_title="SHAP value (impact on the model output)",
        title="Distribution of SHAP values",
        yaxis={"tickvals": list(range(len(labels))), "ticktext": labels},
    )
    fig.add_vline(x=0, line_color="#999")
    return safe_figure(fig)


def attribution_drift_chart(points: Iterable[Any]) -> go.Figure:
    """Attribution drift distance per report over time, with the threshold."""
    points = list(points)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[p.window_end or p.created_at for p in points],
            y=[p.distance for p in points],
            mode="lines+markers",
            name="distance",
            text=[f"v{p.version}" for p in points],
            marker={"color": ["#d62728" if p.drifted else "#1f77b4" for p in points]},
            hovertemplate="%{x}<br>distance %{y:.3f} (%{text})<extra></extra>",
        )
    )
    if points:
        fig.add_hline(
            y=points[-1].threshold, line_dash="dash", line_color="#d62728", annotation_text="threshold"
        )
    fig.update_layout(
        height=300,
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        yaxis_range=[0, 1],
        yaxis_title="normalised L1 distance",
        title="Attribution drift against the reference",
    )
    return safe_figure(fig)


def rank_changes_frame(point: Any, *, limit: int = 10) -> pd.DataFrame:
    rows = [
        {
            "feature": c["feature"],
            "reference rank": c["reference_rank"],
            "window rank": c["current_rank"],
            "moved": c["change"],
            "reference share": round(c["reference_share"], 4),
            "window share": round(c["current_share"], 4),
        }
        for c in list(point.rank_changes)[:limit]
    ]
    return pd.DataFrame(rows)


def drift_that_matters_frame(result: Any) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "feature": f.feature,
                "impact": round(f.impact, 4),
                "drift severity (PSI)": round(f.severity, 4),
                "importance share": round(f.importance_share, 4),
                "drifted": f.drifted,
                "model input": f.is_model_input,
            }
            for f in result.features
        ]
    )


def waterfall_chart(explanation: Any, *, limit: int = 12) -> go.Figure:
    """The request's output built up from the base value, largest contributions first."""
    contributions = list(explanation.contributions)
    shown, rest = contributions[:limit], contributions[limit:]
    labels = [
        f"{c.feature} = {c.value:.4g}" if c.value == c.value else f"{c.feature} = hidden" for c in shown
    ]
    values = [c.shap for c in shown]
    if rest:
        labels.append(f"{len(rest)} other features")
        values.append(sum(c.shap for c in rest))
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            base=explanation.base_value,
            measure=["relative"] * len(values) + ["total"],
            y=labels[::-1] + ["model output"],
            x=values[::-1] + [0],
            increasing={"marker": {"color": "#d62728"}},
            decreasing={"marker": {"color": "#1f77b4"}},
            totals={"marker": {"color": "#555"}},
        )
    )
    fig.update_layout(
        height=max(300, 26 * (len(values) + 1) + 80),
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        title=f"Base value {explanation.base_value:.4g} -> output {explanation.output:.4g}",
    )
    return safe_figure(fig)


def reports_frame(reports: Iterable[Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "report": r.id,
                "version": r.version,
                "created": r.created_at.strftime("%Y-%m-%d %H:%M"),
                "current": r.is_current,
                "explainer": f"{r.explainer} ({r.device})",
                "rows": r.explained_rows,
                "from": r.sample_source,
                "runtime (s)": round(r.runtime_s, 2),
                "additivity": "holds" if r.additivity_ok else f"fails ({r.additivity_max_error:.2g})",
                "top features": ", ".join(r.top_features(3)),
                "JSON sha256": r.json_sha256[:12],
            }
            for r in reports
        ]
    )
