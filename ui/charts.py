"""Generic tables built from result objects for st.dataframe, and the health figure (no data
access here). Figures end with ui.escape.safe_figure: no text from logs becomes Plotly markup."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

from core.redact import redact_text
from ui.escape import safe_figure


def _when(moment: Any) -> str:
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%d %H:%M UTC") if moment.tzinfo else moment.strftime("%Y-%m-%d %H:%M")
    return "" if moment is None else str(moment)


def versions_frame(versions: Iterable[Any]) -> pd.DataFrame:
    """One row per model version: version, aliases, status, created, then one column per metric."""
    rows = []
    for v in versions:
        row: dict[str, Any] = {
            "version": str(v.version),
            "aliases": ", ".join(sorted(v.aliases or [])),
            "status": getattr(v, "status", ""),
            "created": _when(getattr(v, "created_at", None)),
        }
        for name, value in sorted((getattr(v, "metrics", None) or {}).items()):
            row[name] = value
        rows.append(row)
    return pd.DataFrame(rows)


def job_runs_frame(runs: Iterable[Any]) -> pd.DataFrame:
    return pd.DataFrame([
        {
            "job": r.job,
            "model": r.model or "(all)",
            "status": r.status,
            "started": _when(r.started_at),
            "finished": _when(r.finished_at),
            "actor": r.actor,
            "message": redact_text(r.message),  # rows written before core.redact
        }
        for r in runs
    ])


def models_frame(models: Iterable[tuple[Any, Any, Any]]) -> pd.DataFrame:
    """At a glance: one row per (ModelSpec, loaders.Versions, loaders.Loaded health)."""
    rows = []
    for spec, versions, health in models:
        snap = health.value
        if versions.error:
            champion = "MLflow degraded"
        elif versions.champion is not None:
            champion = f"v{versions.champion.version}"
        else:
            champion = "none"
        rows.append({
            "model": spec.name,
            "task": spec.task,
            "champion": champion,
            "versions": len(versions.versions),
            "health": round(snap.score, 1) if snap is not None and snap.score is not None else None,
            "level": snap.level if snap is not None else "no snapshot",
            "features": len(spec.features),
            "SLOs": len(spec.slos),
        })
    return pd.DataFrame(rows)


def health_parts_frame(parts: Iterable[Any]) -> pd.DataFrame:
    return pd.DataFrame([
        {"part": p.name, "score": p.score, "weight": round(p.weight, 3), "detail": p.detail}
        for p in parts
    ])


LEVEL_COLOURS = {"ok": "#2e7d32", "warning": "#ef6c00", "critical": "#c62828", "no_data": "#9e9e9e"}


def health_history_figure(history: Iterable[Any]) -> Any:
    """Health score over time, each snapshot coloured by its level (a plotly figure)."""
    import plotly.graph_objects as go

    points = [h for h in history if h.score is not None]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[h.at for h in points], y=[h.score for h in points], mode="lines+markers",
        line={"color": "#90a4ae", "width": 1},
        marker={"color": [LEVEL_COLOURS.get(h.level, "#9e9e9e") for h in points], "size": 7},
        text=[f"{h.level}: {'; '.join(h.reasons()[:2]) or 'all parts fine'}" for h in points],
        hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>score %{y:.0f}<br>%{text}<extra></extra>",
        name="health score",
    ))
    fig.update_layout(height=220, margin={"l": 10, "r": 10, "t": 10, "b": 10}, showlegend=False,
                      yaxis={"range": [0, 100], "title": "score"})
    return safe_figure(fig)
