"""The same SLIs from the ingested inference logs (Parquet log store, read with DuckDB).

- availability: good = ``status = 'ok'``, total = all requests;
- latency: good = successful requests with ``latency_ms <= threshold_ms``, total = successful
  requests (errors are counted by the availability SLO, not twice);
- a window ``w`` at time ``at`` covers ``(at - w, at]``.

:func:`evaluate` gives the jobs.slo numbers at one instant; :func:`burn_series` the burn rates
of every alert window and the remaining budget at each step (hourly by default) from 5-minute
buckets, so the SLO page shows when an incident paged; :func:`metrics_series` latency
percentiles, error rate, throughput and GPU figures per bucket.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.storage import Location
from monitoring.logs.store import duckdb_source, has_stored_logs
from monitoring.slo import burn
from monitoring.slo.burn import WINDOWS, SLOResult, duration_seconds

BUCKET_S = 300
Store = Path | str | Location  # the log store: a directory, an fsspec URL or a Location


def _connect():  # type: ignore[no-untyped-def]
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    return con


def has_logs(logstore_dir: Store, model: str) -> bool:
    return has_stored_logs(logstore_dir, model)


def _source(con: Any, logstore_dir: Store, model: str) -> str:
    """The model's partitions as a DuckDB table expression on ``con`` (local disk or a URL)."""
    return duckdb_source(con, logstore_dir, model)


def _rows(con: Any, logstore_dir: Store, model: str, columns: str, start: datetime, end: datetime, *,
          by_version: bool = False) -> str:
    """``WITH r AS (...)``: the model's requests with ``ts`` (epoch seconds) and ``columns``, read
    only from the date partitions of ``start``..``end`` (UTC); ``by_version`` adds a ``?``
    parameter for one version."""
    version = " AND CAST(version AS VARCHAR) = ?" if by_version else ""
    return (f"WITH r AS (SELECT epoch(timestamp) AS ts, {columns} FROM {_source(con, logstore_dir, model)} "
            f"WHERE CAST(date AS VARCHAR) BETWEEN '{start.astimezone(UTC):%Y-%m-%d}' "
            f"AND '{end.astimezone(UTC):%Y-%m-%d}'{version}) ")


def _ts(moment: datetime) -> float:
    return moment.astimezone(UTC).timestamp()


def _ok_quantile(q: float) -> str:
    """The latency percentile of the logs (ms): DuckDB's ``quantile_cont`` (linear interpolation,
    numpy.percentile's default) over the successful requests."""
    return f"quantile_cont(latency_ms, {float(q)!r}) FILTER (WHERE status = 'ok')"


def _condition(sli: str, threshold_ms: float | None) -> tuple[str, str]:
    """SQL (bad, total) predicates for an SLI."""
    if sli == "latency":
        t = float(threshold_ms or 0)
        return (f"status = 'ok' AND latency_ms > {t!r}", "status = 'ok'")
    return ("status <> 'ok'", "TRUE")


def window_counts(logstore_dir: Store, model: str, at: datetime, windows: list[str],
                  sli: str = "availability", threshold_ms: float | None = None) -> dict[str, tuple[int, int]]:
    """``{window: (bad, total)}`` at ``at``; empty dict when the model has no logs."""
    if not has_logs(logstore_dir, model):
        return {}
    bad, total = _condition(sli, threshold_ms)
    end = _ts(at)
    longest = max(duration_seconds(w) for w in windows)
    parts = []
    for w in windows:
        start = end - duration_seconds(w)
        cond = f"ts > {start!r}"
        parts.append(f"count(*) FILTER (WHERE {cond} AND {bad})")
        parts.append(f"count(*) FILTER (WHERE {cond} AND {total})")
    con = _connect()
    try:
        sql = (_rows(con, logstore_dir, model, "status, latency_ms", datetime.fromtimestamp(end - longest, UTC),
                     datetime.fromtimestamp(end, UTC)) +
               f"SELECT {', '.join(parts)} FROM r WHERE ts > {end - longest!r} AND ts <= {end!r}")
        row = con.execute(sql).fetchone()
    finally:
        con.close()
    return {w: (int(row[2 * i]), int(row[2 * i + 1])) for i, w in enumerate(windows)}


def evaluate(logstore_dir: Store, model: str, slo: Any, at: datetime, *, min_requests: float = 0) -> SLOResult:
    """One SLO (``spec.SLODefinition`` or config ``SLOSpec``-like) evaluated from the logs."""
    windows = list(WINDOWS) + ([slo.period] if slo.period not in WINDOWS else [])
    counts = window_counts(logstore_dir, model, at, windows, getattr(slo, "sli", "availability"),
                           getattr(slo, "threshold_ms", None))
    ratios = {w: burn.error_ratio(*counts[w]) if w in counts else None for w in windows}
    requests = {w: float(counts[w][1]) if w in counts else None for w in windows}
    written = getattr(slo, "objective_as_written", slo.objective)
    return burn.summarise(model, slo.name, written, slo.objective, slo.period, ratios, requests,
                          min_requests=min_requests, sli=getattr(slo, "sli", "availability"),
                          at=at.astimezone(UTC).isoformat())


def _buckets(logstore_dir: Store, model: str, start: datetime, end: datetime, sli: str,
             threshold_ms: float | None) -> pd.DataFrame:
    """bad/total per 5-minute bucket (bucket ``b`` covers ``(b - 5m, b]`` by its end time)."""
    bad, total = _condition(sli, threshold_ms)
    lo, hi = _ts(start), _ts(end)
    con = _connect()
    try:
        sql = (_rows(con, logstore_dir, model, "status, latency_ms", start, end) +
               f"SELECT CAST(ceil((ts - {lo!r}) / {BUCKET_S}) AS BIGINT) AS k, "
               f"count(*) FILTER (WHERE {bad}) AS bad, count(*) FILTER (WHERE {total}) AS total "
               f"FROM r WHERE ts > {lo!r} AND ts <= {hi!r} GROUP BY k ORDER BY k")
        return con.execute(sql).df()
    finally:
        con.close()


def burn_series(logstore_dir: Store, model: str, slo: Any, start: datetime, end: datetime, *,
                step: timedelta = timedelta(hours=1), min_requests: float = 0) -> pd.DataFrame:
    """Burn rate of each alert window, remaining budget and alert states at each step.

    Computed from 5-minute buckets with cumulative sums, so each point's windows are exact to
    the bucket. The budget of a point covers the period ending at that point.
    """
    columns = ["at", "requests", *[f"burn_{w}" for w in WINDOWS], "error_ratio_period",
               "budget_remaining", "page", "ticket"]
    if not has_logs(logstore_dir, model):
        return pd.DataFrame(columns=columns)
    period_s = duration_seconds(slo.period)
    origin = start - timedelta(seconds=period_s)
    frame = _buckets(logstore_dir, model, origin, end, getattr(slo, "sli", "availability"),
                     getattr(slo, "threshold_ms", None))
    n = int(np.ceil((end - origin).total_seconds() / BUCKET_S)) + 1
    bad = np.zeros(n)
    tot = np.zeros(n)
    if len(frame):
        k = frame["k"].to_numpy().clip(0, n - 1)
        np.add.at(bad, k, frame["bad"].to_numpy(dtype=float))
        np.add.at(tot, k, frame["total"].to_numpy(dtype=float))
    cbad, ctot = np.concatenate([[0], np.cumsum(bad)]), np.concatenate([[0], np.cumsum(tot)])
    rows = []
    t = start
    step_s = step.total_seconds()
    while t <= end:
        idx = int(round((t - origin).total_seconds() / BUCKET_S))
        idx = min(idx, n - 1)

        def window(seconds: float) -> tuple[float, float]:
            lo = max(idx - int(seconds // BUCKET_S), 0)
            return cbad[idx + 1] - cbad[lo + 1], ctot[idx + 1] - ctot[lo + 1]

        ratios, reqs = {}, {}
        for w in list(WINDOWS) + [slo.period]:
            b, tt = window(duration_seconds(w))
            ratios[w] = burn.error_ratio(b, tt)
            reqs[w] = tt
        res = burn.summarise(model, slo.name, slo.objective, slo.objective, slo.period, ratios, reqs,
                             min_requests=min_requests)
        rows.append({"at": t, "requests": reqs["1h"],
                     **{f"burn_{w}": res.burn_rate[w] for w in WINDOWS},
                     "error_ratio_period": res.error_ratio[slo.period],
                     "budget_remaining": res.error_budget_remaining,
                     "page": res.alerts.page, "ticket": res.alerts.ticket})
        t += timedelta(seconds=step_s)
    return pd.DataFrame(rows, columns=columns)


def metrics_series(logstore_dir: Store, model: str, start: datetime, end: datetime, *,
                   bucket: str = "1h") -> pd.DataFrame:
    """Per bucket: requests, error_rate, p50/p95/p99 latency (ms, successful requests), mean GPU
    utilisation (%) and memory (MiB), per version."""
    columns = ["at", "version", "requests", "error_rate", "p50_ms", "p95_ms", "p99_ms",
               "gpu_utilization", "gpu_memory_mb"]
    if not has_logs(logstore_dir, model):
        return pd.DataFrame(columns=columns)
    size = duration_seconds(bucket)
    lo, hi = _ts(start), _ts(end)
    con = _connect()
    try:
        sql = (_rows(con, logstore_dir, model, "* EXCLUDE (timestamp)", start, end) +
               f"SELECT CAST(floor(ts / {size}) * {size} AS DOUBLE) AS b, CAST(version AS VARCHAR) AS version, "
               f"count(*) AS requests, avg(CASE WHEN status <> 'ok' THEN 1.0 ELSE 0.0 END) AS error_rate, "
               f"{_ok_quantile(0.5)} AS p50_ms, {_ok_quantile(0.95)} AS p95_ms, {_ok_quantile(0.99)} AS p99_ms, "
               f"avg(gpu_utilization) AS gpu_utilization, avg(gpu_memory_mb) AS gpu_memory_mb "
               f"FROM r WHERE ts > {lo!r} AND ts <= {hi!r} GROUP BY b, version ORDER BY b, version")
        frame = con.execute(sql).df()
    finally:
        con.close()
    frame["at"] = pd.to_datetime(frame.pop("b"), unit="s", utc=True)
    return frame[columns]


def version_traffic(logstore_dir: Store, model: str, version: str, start: datetime,
                    end: datetime) -> dict[str, Any]:
    """What one model version served in ``(start, end]``: requests, errors, error_ratio, p95_ms
    (successful requests, :func:`_ok_quantile`), first and last request (UTC); requests 0 and
    None figures when it served nothing there."""
    out: dict[str, Any] = {"requests": 0, "errors": 0, "error_ratio": None, "p95_ms": None,
                           "first": None, "last": None}
    if not has_logs(logstore_dir, model):
        return out
    lo, hi = _ts(start), _ts(end)
    con = _connect()
    try:
        sql = (_rows(con, logstore_dir, model, "status, latency_ms", start, end, by_version=True) +
               f"SELECT count(*), count(*) FILTER (WHERE status <> 'ok'), {_ok_quantile(0.95)}, min(ts), max(ts) "
               f"FROM r WHERE ts > {lo!r} AND ts <= {hi!r}")
        requests, errors, p95, first, last = con.execute(sql, [str(version)]).fetchone()
    finally:
        con.close()
    if not requests:
        return out
    return {"requests": int(requests), "errors": int(errors), "error_ratio": burn.error_ratio(errors, requests),
            "p95_ms": float(p95) if p95 is not None else None,
            "first": datetime.fromtimestamp(first, UTC), "last": datetime.fromtimestamp(last, UTC)}


def summary(logstore_dir: Store, model: str, at: datetime, *, window: str = "1h",
            apdex_t_ms: float = 100.0, version: str | None = None) -> dict[str, Any]:
    """Figures of the last ``window`` (and the window before it) for the health score; with
    ``version``, the window figures of that model version's requests only (governance.auto_rollback
    judges a newly promoted champion by them)."""
    empty = {"requests": 0, "previous_requests": 0, "error_rate": None, "previous_error_rate": None,
             "p50_ms": None, "p95_ms": None, "p99_ms": None, "apdex": None, "gpu_utilization": None,
             "gpu_memory_mb": None, "last_ts": None, "version": None, "hourly_requests": []}
    if not has_logs(logstore_dir, model):
        return empty
    end = _ts(at)
    w = duration_seconds(window)
    t = float(apdex_t_ms)
    con = _connect()
    try:
        src = _source(con, logstore_dir, model)
        only = "" if version is None else " WHERE CAST(version AS VARCHAR) = '" + str(version).replace("'", "''") + "'"
        row = con.execute(
            f"WITH r AS (SELECT epoch(timestamp) AS ts, status, latency_ms, gpu_utilization, gpu_memory_mb, "
            f"CAST(version AS VARCHAR) AS version FROM {src}{only}) "
            f"SELECT count(*) FILTER (WHERE ts > {end - w!r}), "
            f"count(*) FILTER (WHERE ts <= {end - w!r}), "
            f"avg(CASE WHEN status <> 'ok' THEN 1.0 ELSE 0.0 END) FILTER (WHERE ts > {end - w!r}), "
            f"avg(CASE WHEN status <> 'ok' THEN 1.0 ELSE 0.0 END) FILTER (WHERE ts <= {end - w!r}), "
            f"quantile_cont(latency_ms, 0.5) FILTER (WHERE ts > {end - w!r} AND status = 'ok'), "
            f"quantile_cont(latency_ms, 0.95) FILTER (WHERE ts > {end - w!r} AND status = 'ok'), "
            f"quantile_cont(latency_ms, 0.99) FILTER (WHERE ts > {end - w!r} AND status = 'ok'), "
            f"count(*) FILTER (WHERE ts > {end - w!r} AND status = 'ok' AND latency_ms <= {t!r}), "
            f"count(*) FILTER (WHERE ts > {end - w!r} AND status = 'ok' AND latency_ms > {t!r} AND latency_ms <= {4 * t!r}), "
            f"avg(gpu_utilization) FILTER (WHERE ts > {end - w!r}), "
            f"avg(gpu_memory_mb) FILTER (WHERE ts > {end - w!r}), "
            f"arg_max(version, ts) FILTER (WHERE ts > {end - w!r}) "
            f"FROM r WHERE ts > {end - 2 * w!r} AND ts <= {end!r}").fetchone()
        last = con.execute(f"SELECT max(epoch(timestamp)) FROM {src} WHERE epoch(timestamp) <= {end!r}").fetchone()[0]
        hourly = con.execute(
            f"SELECT CAST(floor((epoch(timestamp) - {end!r}) / 3600) AS BIGINT) AS h, count(*) FROM {src} "
            f"WHERE epoch(timestamp) > {end - 24 * 3600!r} AND epoch(timestamp) <= {end!r} GROUP BY h ORDER BY h").fetchall()
    finally:
        con.close()
    counts = dict(hourly)
    out = dict(empty)
    out.update({
        "requests": int(row[0]), "previous_requests": int(row[1]), "error_rate": row[2],
        "previous_error_rate": row[3], "p50_ms": row[4], "p95_ms": row[5], "p99_ms": row[6],
        "apdex": burn.apdex(row[7], row[8], row[0]) if row[0] else None,
        "gpu_utilization": row[9], "gpu_memory_mb": row[10], "version": row[11],
        "last_ts": datetime.fromtimestamp(last, UTC) if last is not None else None,
        "hourly_requests": [int(counts.get(h, 0)) for h in range(-24, 0)],
    })
    return out
