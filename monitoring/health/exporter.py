"""Owns Vigil's Prometheus exposition: which metrics exist, their labels, and how they leave the
process (a node-exporter textfile, the scheduler's ``/metrics`` endpoint). The format, escaping,
content negotiation and the atomic textfile write are prometheus_client's.

Used two ways: a textfile for node-exporter's textfile collector (``--textfile PATH`` of
``python -m jobs.health``; the file must end in ``.prom``; prometheus_client's
``write_to_textfile`` writes a temporary file beside it and renames it into place), and the
``/metrics`` endpoint that ``python -m jobs.scheduler`` serves (:func:`start_metrics_server`:
prometheus_client's WSGI app, plus ``/healthz``). Values without data are left out (an absent
sample is "no data" to Prometheus), never written as NaN.

Metrics: ``vigil_health_score{model,version}``, ``vigil_health_level{model,level}`` (1 for the
current level), ``vigil_health_part_score{model,part}``, ``vigil_slo_burn_rate{model,slo,window}``,
``vigil_slo_error_ratio{model,slo,window}``, ``vigil_slo_error_budget_remaining{model,slo}``,
``vigil_slo_alert{model,slo,severity}``, ``vigil_job_last_success{job,model}``,
``vigil_job_last_finished_timestamp_seconds{job,model}``, plus the scheduler's own
``vigil_scheduler_*`` series.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import generate_latest, make_wsgi_app, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer

log = logging.getLogger("vigil.metrics")

Sample = tuple[str, str, str, dict[str, Any], float | None]
"""(metric name, "gauge" or "counter", help text, labels, value or None for no data)."""


class Metrics:
    """A prometheus_client collector over a fixed set of samples (one scrape's worth)."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[str, str, list[tuple[dict[str, str], float]]]] = {}

    def add(self, name: str, kind: str, help_text: str, labels: dict[str, Any], value: float | None) -> None:
        family = self._families.setdefault(name, (kind, help_text, []))
        if value is None:
            return
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return
        family[2].append(({k: str(v) for k, v in labels.items()}, value))

    def collect(self) -> Iterator[Metric]:
        for name, (kind, help_text, samples) in self._families.items():
            if not samples:
                continue
            keys = list(samples[0][0])
            family: GaugeMetricFamily | CounterMetricFamily = (
                CounterMetricFamily(name, help_text, labels=keys) if kind == "counter"
                else GaugeMetricFamily(name, help_text, labels=keys))
            for labels, value in samples:
                family.add_metric([labels[k] for k in keys], value)
            yield family

    def text(self) -> str:
        """The text exposition format (0.0.4)."""
        return generate_latest(self).decode("utf-8")


def build_metrics(health: Sequence[Any] = (), slos: Sequence[Any] = (), jobs: Sequence[Any] = (),
                  extra: Iterable[Sample] = ()) -> Metrics:
    """The metrics of these health snapshots, SLO snapshots and job runs, plus ``extra`` samples."""
    m = Metrics()
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
    return m


def render_metrics(health: Sequence[Any] = (), slos: Sequence[Any] = (), jobs: Sequence[Any] = (),
                   extra: Iterable[Sample] = ()) -> str:
    """:func:`build_metrics` in the text exposition format."""
    return build_metrics(health, slos, jobs, extra).text()


def write_textfile(path: str | Path, metrics: Metrics) -> Path:
    """Write ``metrics`` for node-exporter's textfile collector, atomically (prometheus_client
    writes ``PATH.<pid>.<thread>`` and renames it over ``PATH``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), metrics)
    return path


def current_metrics(ctx: Any, extra: Iterable[Sample] = ()) -> Metrics:
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
    return build_metrics(health, slos, latest_run_per_job(ctx.engine), extra)


class ScrapeCollector:
    """Collected at each scrape: the stored results (when ``ctx`` is set) plus ``extra()``. When
    the database cannot be read, the ``extra()`` samples are still served, with
    ``vigil_metrics_database_up 0``."""

    def __init__(self, ctx: Any, extra: Callable[[], list[Sample]] = list) -> None:
        self.ctx, self.extra = ctx, extra

    def collect(self) -> Iterator[Metric]:
        if self.ctx is None:
            yield from build_metrics(extra=self.extra()).collect()
            return
        try:
            metrics = current_metrics(self.ctx, self.extra())
        except Exception as exc:  # noqa: BLE001 - database down: still serve the process's own series
            log.warning("metrics from the database failed: %s", exc)
            metrics = build_metrics(extra=[*self.extra(), (
                "vigil_metrics_database_up", "gauge", "0 when stored results could not be read", {}, 0.0)])
        yield from metrics.collect()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


def start_metrics_server(host: str, port: int, collector: Any) -> ThreadingWSGIServer:
    """Serve ``collector`` on ``/metrics`` (prometheus_client's WSGI app: text or OpenMetrics as
    the scraper asks, gzip when accepted) and ``ok`` on ``/healthz``, in a daemon thread; any other
    path is 404. Raises OSError when the port is taken. Stop with ``shutdown()`` and
    ``server_close()``."""
    metrics_app = make_wsgi_app(collector)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path.startswith("/metrics"):
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        if path.startswith("/healthz"):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
