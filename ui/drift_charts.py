"""Plotly figures for the Drift page, built from the drift services' views and frames (no data
access, no knowledge of how a run is stored)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from ui.escape import safe_figure

SEVERITY_VALUE = {"none": 0, "moderate": 1, "significant": 2}


def heatmap(history: pd.DataFrame, value: str = "psi") -> go.Figure:
    """Feature (rows) x window end (columns) from the long-form history; colour = one method's
    statistic (``value`` = its name) or the feature's severity; drifted features marked."""
    frame = history.copy()
    if value == "severity":
        frame["value"] = frame["feature_severity"].map(SEVERITY_VALUE).fillna(0)
        colorscale, zmax, title = [[0, "#e8f5e9"], [0.5, "#ffb74d"], [1, "#c62828"]], 2, "severity"
    else:
        frame = frame[frame["method"] == value]
        frame["value"] = pd.to_numeric(frame["statistic"], errors="coerce")
        colorscale, zmax, title = "YlOrRd", max(0.3, float(frame["value"].max() or 0)), value
    pivot = frame.pivot_table(index="feature", columns="window_end", values="value", aggfunc="last")
    marks = frame.pivot_table(index="feature", columns="window_end", values="feature_drifted", aggfunc="last")
    order = pivot.max(axis=1).sort_values(ascending=True).index
    pivot, marks = pivot.loc[order], marks.reindex(index=order, columns=pivot.columns)
    text = marks.map(lambda d: "●" if d is True or d == 1 else "").values
    fig = go.Figure(
        go.Heatmap(
            z=pivot.values,
            x=[c.strftime("%Y-%m-%d %H:%M") for c in pivot.columns],
            y=list(pivot.index),
            colorscale=colorscale,
            zmin=0,
            zmax=zmax,
            text=text,
            texttemplate="%{text}",
            colorbar={"title": title},
            hovertemplate="%{y}<br>%{x}<br>" + title + " %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        height=max(320, 18 * len(pivot.index) + 120),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title="Per-feature drift by window (● = drifted after correction)",
    )
    return safe_figure(fig)


def heatmap_values(history: pd.DataFrame) -> list[str]:
    """What the heatmap can be coloured by: each method in the history, then severity."""
    return [*dict.fromkeys(history["method"]), "severity"]


def distribution(chart: dict[str, Any], current: dict[str, Any], feature: str) -> go.Figure:
    """Reference vs current shares of one feature on the bins stored with the profile."""
    fig = go.Figure()
    if chart.get("kind") == "numeric":
        edges = chart["edges"]
        labels = [f"{edges[i]:.3g}–{edges[i + 1]:.3g}" for i in range(len(edges) - 1)]
    else:
        labels = list(chart.get("categories", [])) + list(current.get("extra_categories", []))
    ref = list(chart.get("reference", [])) + [0.0] * (len(labels) - len(chart.get("reference", [])))
    fig.add_bar(x=labels, y=ref, name="reference", opacity=0.7)
    if current.get("current"):
        fig.add_bar(x=labels, y=current["current"], name="current window", opacity=0.7)
    fig.update_layout(
        barmode="group",
        title=f"{feature}: reference vs current",
        yaxis_title="share",
        height=360,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return safe_figure(fig)


def lines(frame: pd.DataFrame, columns: Sequence[str], *, title: str, yaxis: str = "") -> go.Figure:
    fig = go.Figure()
    for col in columns:
        if col in frame.columns:
            fig.add_scatter(x=frame["window_end"], y=frame[col], mode="lines+markers", name=col)
    fig.update_layout(title=title, yaxis_title=yaxis, height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return safe_figure(fig)
