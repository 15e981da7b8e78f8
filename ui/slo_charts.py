"""Tables and plotly figures for the SLO page, built from stored snapshots and series."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from monitoring.slo.burn import ALERT_RULES, WINDOWS
from ui.escape import safe_figure


def pct(value: float | None, digits: int = 3) -> str:
    return "no data" if value is None else f"{value * 100:.{digits}f}%"


def num(value: float | None, digits: int = 2) -> str:
    return "no data" if value is None else f"{value:.{digits}f}"


def objective_text(objective: float) -> str:
    return f"{objective * 100:g}%"


def alert_state(snapshot: Any) -> str:
    if snapshot.page:
        return "PAGE"
    if snapshot.ticket:
        return "TICKET"
    return "none"


def burn_table(snapshot: Any) -> pd.DataFrame:
    """One row per window: error ratio, burn rate, requests."""
    windows = list(WINDOWS) + ([snapshot.period] if snapshot.period not in WINDOWS else [])
    return pd.DataFrame([{
        "window": w,
        "error ratio": pct(snapshot.error_ratio.get(w)),
        "burn rate": num(snapshot.burn_rate.get(w)),
        "requests": "no data" if snapshot.requests.get(w) is None else f"{snapshot.requests[w]:,.0f}",
    } for w in windows])


def alert_table(snapshot: Any) -> pd.DataFrame:
    """The multiwindow alerts in Pyrra's layout: severity, windows, threshold, burns, firing."""
    rows = []
    for rule in ALERT_RULES:
        factor = rule.factor(snapshot.period)
        long_b, short_b = snapshot.burn_rate.get(rule.long_window), snapshot.burn_rate.get(rule.short_window)
        firing = long_b is not None and short_b is not None and long_b > factor and short_b > factor
        rows.append({
            "severity": rule.severity,
            "budget consumed": f"{rule.budget_fraction:.0%} in {rule.long_window}",
            "long window": rule.long_window, "short window": rule.short_window,
            "threshold": f"{factor:.4g}", "long burn": num(long_b), "short burn": num(short_b),
            "firing": "yes" if firing and getattr(snapshot, rule.severity) else
                      ("held: too few requests" if firing else "no"),
        })
    return pd.DataFrame(rows)


def _layout(fig: go.Figure, title: str, yaxis: str) -> go.Figure:
    fig.update_layout(title=title, yaxis_title=yaxis, height=300, margin={"l": 40, "r": 10, "t": 40, "b": 30},
                      legend={"orientation": "h"})
    return safe_figure(fig)


def budget_figure(frame: pd.DataFrame, title: str = "Error budget remaining") -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=frame["at"], y=frame["budget_remaining"] * 100, name="budget remaining",
                             mode="lines", line={"shape": "hv"}))
    paging = frame[frame["page"].astype(bool)]
    if not paging.empty:
        fig.add_trace(go.Scatter(x=paging["at"], y=paging["budget_remaining"] * 100, name="page alert",
                                 mode="markers", marker={"color": "#a30200", "size": 8}))
    return _layout(fig, title, "% of budget")


def burn_figure(frame: pd.DataFrame, period: str) -> go.Figure:
    fig = go.Figure()
    for w in ("5m", "1h", "6h", "1d"):
        col = f"burn_{w}"
        if col in frame:
            fig.add_trace(go.Scatter(x=frame["at"], y=frame[col], name=f"burn {w}", mode="lines"))
    factors = {r.long_window: r.factor(period) for r in ALERT_RULES}
    fig.add_hline(y=factors["1h"], line_dash="dot", annotation_text=f"page {factors['1h']:.4g}")
    return _layout(fig, "Burn rate", "x budget")


def latency_figure(frame: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    agg = frame.groupby("at", as_index=False).mean(numeric_only=True) if "version" in frame else frame
    for col, name in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99"), ("average_ms", "average")):
        if col in agg and agg[col].notna().any():
            fig.add_trace(go.Scatter(x=agg["at"], y=agg[col], name=name, mode="lines"))
    return _layout(fig, "Latency", "ms")


def error_figure(frame: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    if "error_rate" in frame:
        for version, part in (frame.groupby("version", dropna=False) if "version" in frame else [(None, frame)]):
            label = f"v{version}" if version not in (None, "") and version == version else "all"
            fig.add_trace(go.Scatter(x=part["at"], y=part["error_rate"] * 100, name=label, mode="lines"))
    return _layout(fig, "Error rate", "%")


def has_gpu_data(frame: pd.DataFrame) -> bool:
    """True when any GPU utilisation or memory reading is present."""
    return any(c in frame and frame[c].notna().any() for c in ("gpu_utilization", "gpu_memory_mb"))


def gpu_figure(frame: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    agg = frame.groupby("at", as_index=False).mean(numeric_only=True)
    if "gpu_utilization" in agg:
        fig.add_trace(go.Scatter(x=agg["at"], y=agg["gpu_utilization"], name="utilisation %", mode="lines"))
    if "gpu_memory_mb" in agg:
        fig.add_trace(go.Scatter(x=agg["at"], y=agg["gpu_memory_mb"], name="memory MiB", mode="lines",
                                 yaxis="y2"))
    fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": "MiB"})
    return _layout(fig, "GPU", "%")
