"""Tables and plotly figures for the SLO page, built from stored snapshots and series.

Shows what monitoring.slo.service computed and stored, never recomputes it: whether each burn
alert fires comes from the snapshot's stored rule decisions (``snapshot.alert_rules``), and the
latency and GPU figures draw each version's own percentiles and readings as stored (a mean of
p99s is not a p99, so versions are never averaged together)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from monitoring.slo.burn import WINDOWS
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


ALERT_COLUMNS = ["severity", "budget consumed", "long window", "short window", "threshold", "long burn",
                 "short burn", "firing"]


def alert_table(snapshot: Any) -> pd.DataFrame:
    """The multiwindow alerts in Pyrra's layout, each rule's decision as the SLO job stored it
    (an empty table for a snapshot stored before decisions were kept)."""
    rows = [{
        "severity": rule.severity,
        "budget consumed": f"{rule.budget_fraction:.0%} in {rule.long_window}",
        "long window": rule.long_window, "short window": rule.short_window,
        "threshold": f"{rule.factor:.4g}", "long burn": num(rule.long_burn), "short burn": num(rule.short_burn),
        "firing": "yes" if rule.firing else ("held: too few requests" if rule.held else "no"),
    } for rule in snapshot.alert_rules]
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)


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


def burn_figure(frame: pd.DataFrame, alert_rules: list[Any]) -> go.Figure:
    """Burn rates over time with the stored threshold of each page rule's long window."""
    fig = go.Figure()
    for w in ("5m", "1h", "6h", "1d"):
        col = f"burn_{w}"
        if col in frame:
            fig.add_trace(go.Scatter(x=frame["at"], y=frame[col], name=f"burn {w}", mode="lines"))
    page = next((r for r in alert_rules if r.severity == "page"), None)
    if page is not None:
        fig.add_hline(y=page.factor, line_dash="dot", annotation_text=f"page {page.factor:.4g}")
    return _layout(fig, "Burn rate", "x budget")


def _version_label(version: Any) -> str:
    return f"v{version}" if version not in (None, "") and version == version else "all"


def _by_version(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The frame's rows per version (one group "all" without a version column), each by time."""
    if "version" not in frame:
        return [("all", frame.sort_values("at"))]
    return [(_version_label(version), part.sort_values("at"))
            for version, part in frame.groupby("version", dropna=False, sort=True)]


PERCENTILE_LINES = (("p50_ms", "p50", "dot"), ("p95_ms", "p95", "dash"), ("p99_ms", "p99", "solid"),
                    ("average_ms", "average", "dashdot"))


def latency_figure(frame: pd.DataFrame) -> go.Figure:
    """Each version's own stored percentiles (one line per version and percentile)."""
    fig = go.Figure()
    groups = _by_version(frame)
    for label, part in groups:
        for col, name, dash in PERCENTILE_LINES:
            if col in part and part[col].notna().any():
                fig.add_trace(go.Scatter(x=part["at"], y=part[col], mode="lines", line={"dash": dash},
                                         name=name if len(groups) == 1 else f"{label} {name}"))
    return _layout(fig, "Latency (per version)", "ms")


def error_figure(frame: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    if "error_rate" in frame:
        for label, part in _by_version(frame):
            fig.add_trace(go.Scatter(x=part["at"], y=part["error_rate"] * 100, name=label, mode="lines"))
    return _layout(fig, "Error rate", "%")


def has_gpu_data(frame: pd.DataFrame) -> bool:
    """True when any GPU utilisation or memory reading is present."""
    return any(c in frame and frame[c].notna().any() for c in ("gpu_utilization", "gpu_memory_mb"))


def gpu_figure(frame: pd.DataFrame) -> go.Figure:
    """Each version's stored GPU utilisation (left axis) and memory (right axis)."""
    fig = go.Figure()
    groups = _by_version(frame)
    for label, part in groups:
        prefix = "" if len(groups) == 1 else f"{label} "
        if "gpu_utilization" in part and part["gpu_utilization"].notna().any():
            fig.add_trace(go.Scatter(x=part["at"], y=part["gpu_utilization"], name=f"{prefix}utilisation %",
                                     mode="lines"))
        if "gpu_memory_mb" in part and part["gpu_memory_mb"].notna().any():
            fig.add_trace(go.Scatter(x=part["at"], y=part["gpu_memory_mb"], name=f"{prefix}memory MiB",
                                     mode="lines", line={"dash": "dash"}, yaxis="y2"))
    fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": "MiB"})
    return _layout(fig, "GPU (per version)", "%")
