"""Health and SLO results as Prometheus metrics (text exposition format 0.0.4).

Used two ways: a textfile for node-exporter's textfile collector (``--textfile PATH`` of
``python -m jobs.health``; the file must end in ``.prom``, written atomically), and the
``/metrics`` endpoint that ``python -m jobs.scheduler`` serves. Values without data are left
out (an absent sample is "no data" to Prometheus), never written as NaN.

Metrics: ``vigil_health_score{model,version}``, ``vigil_health_level{model,level}`` (1 for the
current level), ``vigil_health_part_score{model,part}``, ``vigil_slo_burn_rate{model,slo,window}``,
``vigil_slo_error_ratio{model,slo,window}``, ``vigil_slo_error_budget_remaining{model,slo}``,
``vigil_slo_alert{model,slo,severity}``, ``vigil_job_last_success{job,model}``,
``vigil_job_last_finished_timestamp_seconds{job,model}``, plus the scheduler's own
``vigil_scheduler_*`` series.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, Any]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class MetricsText:
    def __init__(self) -> None:
        self._families: dict[str, tuple[str, str, list[str]]] = {}

    def add(self, name: str, kind: str, help_text: str, labels: dict[str, Any], value: float | None) -> None:
        family = self._families.setdefault(name, (kind, help_text, []))
        if value is None:
            return
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return
        family[2].append(f"{name}{_labels(labels)} {value:.10g}")

    def render(self) -> str:
        out = []
        for name, (kind, help_text, samples) in self._families.items():
            if not samples:
                continue
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(samples)
        return "\n".join(out) + "\n"


def render_metrics(health: Sequence[Any] = (), slos: Sequence[Any] = (), jobs: Sequence[Any] = (),
                   extra: Iterable[tuple[str, str, str, dict[str, Any], float | None]] = ()) -> str:
    m = MetricsText()
    for h in health:
        m.add("vigil_health_score", "gauge", "Composite health score 0-100 of the model version",
              {"model": h.model, "version": h.version or ""}, h.score)
        for level in ("ok", "warning", "critical", "no_data"):
            m.add("vigil_health_level", "gauge", "1 for the model's current health level",
                  {"model": h.model, "level": level}, 1.0 if h.level == level else 0.0)
        for p in h.parts:
            m.add("vigil_health_part_score", "gauge", "Score 0-100 of one part of the health score",
                  {"model": h.model, "part": p.name}, p.score)
        m.add("vigil_health_evaluated_timestamp_seconds", "gauge", "When the health score was computed",
              {"model": h.model}, h.at.timestamp())
    for s in slos:
        base = {"model": s.model, "slo": s.slo}
        for w, v in s.burn_rate.items():
            m.add("vigil_slo_burn_rate", "gauge", "Error-budget burn rate per window", {**base, "window": w}, v)
        for w, v in s.error_ratio.items():
            m.add("vigil_slo_error_ratio", "gauge", "Error ratio per window", {**base, "window": w}, v)
        m.add("vigil_slo_error_budget_remaining", "gauge", "Share of the period's error budget left",
              base, s.budget_remaining)
        m.add("vigil_slo_objective", "gauge", "SLO objective (0-1)", base, s.objective)
        for sev in ("page", "ticket"):
            m.add("vigil_slo_alert", "gauge", "1 when the multiwindow burn-rate alert fires",
                  {**base, "severity": sev}, 1.0 if getattr(s, sev) else 0.0)
    for j in jobs:
        labels = {"job": j.job, "model": j.model or ""}
        if j.status in ("success", "failed"):
            m.add("vigil_job_last_success", "gauge", "1 when the job's last finished run succeeded",
                  labels, 1.0 if j.status == "success" else 0.0)
        if j.finished_at is not None:
            m.add("vigil_job_last_finished_timestamp_seconds", "gauge", "When the job last finished",
                  labels, j.finished_at.timestamp())
    for name, kind, help_text, labels, value in extra:
        m.add(name, kind, help_text, labels, value)
    return m.render()


def write_textfile(path: str | Path, text: str) -> Path:
    """Write atomically (temp file + rename in the same directory), as node-exporter requires."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def current_metrics(ctx: Any, extra: Iterable[tuple[str, str, str, dict[str, Any], float | None]] = ()) -> str:
    """Metrics for every configured model from the stored snapshots and job runs."""
    from core.runs import latest_run_per_job
    from monitoring.health.service import latest_health
    from monitoring.slo.service import latest_snapshots

    health, slos = [], []
    for model in ctx.models.names:
        h = latest_health(ctx, model)
        if h is not None:
            health.append(h)
        slos.extend(latest_snapshots(ctx, model))
    return render_metrics(health, slos, latest_run_per_job(ctx.engine), extra)
