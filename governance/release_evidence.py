"""Evidence for a release's non-metric gates, and the champion-vs-challenger comparison by window.

:func:`collect_evidence` measures, for a model and a candidate version, the values that the gates
of governance.release_gates read besides the metrics logged with the version:

- ``latency_p95_ms``: the p95 latency of the version's successful requests in the inference logs
  of the last :data:`LOOKBACK` (its shadow / canary / production traffic), computed by the SLO
  service's log reader (monitoring.slo.logs_source.version_traffic, DuckDB's ``quantile_cont``);
- ``drift_share`` and ``psi``: the version's *evaluation data* compared by the drift engine with
  the champion's current reference profile (monitoring.drift.pipeline.compare_with_model_settings:
  the model's methods, alpha, multiple-testing correction and minimum effects, as a drift run).
  ``drift_share`` = drifted features / features tested, ``psi`` = the largest PSI of a feature;
- ``completeness_pct``: the share of non-missing values of the configured features in the same
  evaluation data (monitoring.drift.quality.missing_share per feature: NaN, None and the empty
  category are missing), in percent.

The evaluation data is the version's own served traffic in the log store when it has any in the
look-back window, else the data logged with the version in MLflow
(``reference/reference.parquet`` of its run, governance.registry). Every value carries a
``source`` that says where it came from. A value that cannot be measured (no traffic, no champion,
no reference profile, a service down) comes back as ``Evidence(None, "no evidence: <why>")``, so
its gate shows "no evidence" with the reason: never a pass, never an exception.

:func:`compare_by_window` is the read behind the Approvals page's "by window" table: per day (per
hour when the two versions overlapped two days or less) where *both* the champion and the
challenger served requests, each version's requests, error ratio and p95 latency (the SLO
service's ``metrics_series``) and, where the logs carry labels, its accuracy (classification) or
RMSE (regression) computed as a drift run computes a window's performance
(monitoring.drift.window_stats.prediction_and_performance).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from core.config import ModelSpec
from core.redact import redact_text
from core.timeutil import utc_or_now
from governance.rbac import require_view
from governance.release_gates import Evidence

log = logging.getLogger("vigil.releases")

#: How far back the logs are searched for a version's traffic (ending at the request's moment).
LOOKBACK = timedelta(days=30)
#: The evidence keys this module measures (governance.release_gates.evidence_key).
KEYS = ("drift_share", "psi", "latency_p95_ms", "completeness_pct")
#: Overlaps of at most this many days are compared per hour instead of per day.
HOURLY_UP_TO_DAYS = 2


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact_text(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:300]


def _none(reason: str) -> Evidence:
    return Evidence(None, f"no evidence: {reason}")


def _days(first: datetime, last: datetime) -> str:
    a, b = f"{first.astimezone(UTC):%Y-%m-%d}", f"{last.astimezone(UTC):%Y-%m-%d}"
    return a if a == b else f"{a}..{b}"


# -- the version's evaluation data -----------------------------------------------------------------
@dataclass(frozen=True)
class EvaluationData:
    """Where a version's evaluation data comes from (``what``, for the sources) and its batches
    (feature-named DataFrames with every configured feature)."""

    what: str
    batches: Callable[[], Iterator[pd.DataFrame]]


def _traffic_data(ctx: Any, spec: ModelSpec, version: str, start: datetime, end: datetime,
                  traffic: dict[str, Any]) -> EvaluationData:
    from monitoring.logs.schema import feature_column
    from monitoring.logs.store import iter_window_batches

    columns = [feature_column(f.name) for f in spec.features]
    rename = {feature_column(f.name): f.name for f in spec.features}

    def batches() -> Iterator[pd.DataFrame]:
        for batch in iter_window_batches(ctx.settings, spec.name, start, end, columns=columns, spec=spec,
                                         version=version):
            yield batch.to_pandas().rename(columns=rename)

    what = (f"inference logs of version {version} ({traffic['requests']:,} requests "
            f"{_days(traffic['first'], traffic['last'])})")
    return EvaluationData(what, batches)


def _logged_data(ctx: Any, spec: ModelSpec, version: str) -> EvaluationData:
    from governance.registry import REFERENCE_ARTIFACT
    from monitoring.drift.profile_store import registry

    frame = registry(ctx).reference_data(spec.registered_model, version)  # NotFound / ServiceUnavailable
    for f in spec.features:  # a configured feature the dataset lacks is missing in every row
        if f.name not in frame.columns:
            frame[f.name] = None
    frame = frame[[f.name for f in spec.features]]
    what = f"data logged with version {version} in MLflow ({REFERENCE_ARTIFACT}, {len(frame):,} rows)"
    return EvaluationData(what, lambda: iter([frame]))


@dataclass
class _MissingCounter:
    """Counts the rows and the missing values of the configured features while batches stream."""

    features: list[str]
    rows: int = 0
    missing: dict[str, int] = field(default_factory=dict)

    def through(self, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from monitoring.drift.quality import missing_share

        for frame in batches:
            n = len(frame)
            if not n:
                continue
            self.rows += n
            for name in self.features:
                share = missing_share(frame[name].to_numpy())
                self.missing[name] = self.missing.get(name, 0) + round((share or 0.0) * n)
            yield frame


# -- collecting --------------------------------------------------------------------------------------
def collect_evidence(ctx: Any, model: str, version: str, *, now: datetime | None = None,
                     keys: tuple[str, ...] | frozenset[str] = KEYS,
                     lookback: timedelta = LOOKBACK) -> dict[str, Evidence]:
    """Evidence of ``keys`` (default: all of :data:`KEYS`) for ``model`` ``version`` as of ``now``.

    Never raises for an unavailable source: each missing value is an ``Evidence(None, reason)``.
    Reads only (MLflow, the log store, the stored reference profiles); a trusted internal read
    (the caller, governance.releases.request_release, has checked ``release.request``)."""
    wanted = set(keys) & set(KEYS)
    if not wanted:
        return {}
    spec = ctx.models.get(model)
    version = str(version)
    end = utc_or_now(now)
    start = end - lookback
    out: dict[str, Evidence] = {}

    traffic: dict[str, Any] | None = None
    traffic_error = ""
    try:
        from core.storage import logstore_location
        from monitoring.slo.logs_source import version_traffic

        traffic = version_traffic(logstore_location(ctx.settings), spec.name, version, start, end)
    except Exception as exc:  # noqa: BLE001  a log store that does not answer is degraded, not fatal
        log.warning("%s version %s: inference logs unreadable for release evidence: %s", model, version, _why(exc))
        traffic_error = f"the inference logs could not be read ({_why(exc)})"
    if "latency_p95_ms" in wanted:
        if traffic is None:
            out["latency_p95_ms"] = _none(traffic_error)
        elif not traffic["requests"]:
            out["latency_p95_ms"] = _none(f"version {version} served no request in the inference logs "
                                          f"{_days(start, end)}")
        elif traffic["p95_ms"] is None:
            out["latency_p95_ms"] = _none(f"version {version} served {traffic['requests']:,} requests in the "
                                          f"inference logs {_days(start, end)}, none of them successful")
        else:
            ok = traffic["requests"] - traffic["errors"]
            out["latency_p95_ms"] = Evidence(
                traffic["p95_ms"], f"inference logs, version {version}, {traffic['requests']:,} requests "
                                   f"{_days(traffic['first'], traffic['last'])} (p95 of the {ok:,} successful)")
    if wanted & {"drift_share", "psi", "completeness_pct"}:
        out.update(_data_evidence(ctx, spec, version, start, end, traffic, wanted))
    return {k: v for k, v in out.items() if k in wanted}


def _evaluation_data(ctx: Any, spec: ModelSpec, version: str, start: datetime, end: datetime,
                     traffic: dict[str, Any] | None) -> EvaluationData:
    if traffic and traffic["requests"]:
        return _traffic_data(ctx, spec, version, start, end, traffic)
    return _logged_data(ctx, spec, version)


def _champion_profile(ctx: Any, spec: ModelSpec) -> tuple[Any, Any, str]:
    """(the champion's current profile view, the loaded profile, "") or (None, None, why not)."""
    from monitoring.drift.profile_store import current_profile, load_profile, registry

    try:
        champion = registry(ctx).champion(spec.registered_model)
    except Exception as exc:  # noqa: BLE001  MLflow down or not set up
        return None, None, f"the MLflow registry did not name the champion ({_why(exc)})"
    if champion is None:
        return None, None, f"{spec.registered_model} has no champion to compare with"
    try:
        view = current_profile(ctx, spec.name, champion.version)
        if view is None:
            return None, None, (f"champion version {champion.version} has no reference profile yet (the "
                                "drift job fits it from the champion's training data on its next run)")
        return view, load_profile(ctx, view), ""
    except Exception as exc:  # noqa: BLE001  database or artifact store unreadable
        return None, None, (f"the reference profile of champion version {champion.version} could not be "
                            f"read ({_why(exc)})")


def _data_evidence(ctx: Any, spec: ModelSpec, version: str, start: datetime, end: datetime,
                   traffic: dict[str, Any] | None, wanted: set[str]) -> dict[str, Evidence]:
    from monitoring.drift.pipeline import compare_with_model_settings

    drift_keys = wanted & {"drift_share", "psi"}
    try:
        data = _evaluation_data(ctx, spec, version, start, end, traffic)
    except Exception as exc:  # noqa: BLE001  MLflow down, no run, no artifact
        where = f"version {version} served no request in the inference logs {_days(start, end)}" \
            if traffic is not None else "the inference logs could not be read"
        reason = f"{where}, and its logged data could not be read ({_why(exc)})"
        return {k: _none(reason) for k in wanted & {"drift_share", "psi", "completeness_pct"}}
    view = profile = None
    no_profile = ""
    if drift_keys:
        view, profile, no_profile = _champion_profile(ctx, spec)
    counter = _MissingCounter([f.name for f in spec.features])
    out: dict[str, Evidence] = {}
    try:
        if profile is not None:
            report = compare_with_model_settings(profile, counter.through(data.batches()), spec)
        else:
            for _ in counter.through(data.batches()):
                pass
            report = None
    except Exception as exc:  # noqa: BLE001  a read failed half-way: nothing measured is trusted
        reason = f"reading {data.what} failed ({_why(exc)})"
        return {k: _none(reason) for k in wanted & {"drift_share", "psi", "completeness_pct"}}
    if "completeness_pct" in wanted:
        values = counter.rows * len(counter.features)
        missing = sum(counter.missing.values())
        out["completeness_pct"] = (
            Evidence(100.0 * (values - missing) / values,
                     f"{data.what}: {missing:,} of {values:,} values of the {len(counter.features)} "
                     "configured features missing")
            if values else _none(f"{data.what} has no rows"))
    if drift_keys:
        out.update(_drift_evidence(spec, version, data, view, report, no_profile))
    return out


def _drift_evidence(spec: ModelSpec, version: str, data: EvaluationData, view: Any, report: Any,
                    no_profile: str) -> dict[str, Evidence]:
    if report is None:
        return {"drift_share": _none(no_profile), "psi": _none(no_profile)}
    against = f"vs champion version {view.version} reference profile #{view.id} ({view.source})"
    if report.status == "no_data" or not report.features:
        reason = f"{data.what} has no rows to compare {against}"
        return {"drift_share": _none(reason), "psi": _none(reason)}
    features = report.features
    drifted = sum(1 for f in features if f.drifted)
    quality = (f"; data-quality failures: {', '.join(report.data_quality_failures)}"
               if report.data_quality_failures else "")
    out = {"drift_share": Evidence(
        drifted / len(features),
        f"drift of {data.what} {against}: {drifted} of {len(features)} features drifted "
        f"({report.correction.upper()}, alpha {report.alpha:g}){quality}")}
    psis = [(f.psi, f.feature) for f in features if f.psi is not None]
    if psis:
        value, feature = max(psis)
        out["psi"] = Evidence(value, f"largest PSI ({feature}) of {data.what} {against}")
    else:
        out["psi"] = _none(f"PSI is not among {spec.name}'s drift methods or had no usable values {against}")
    return out


# -- champion vs challenger, by window -----------------------------------------------------------------
@dataclass(frozen=True)
class WindowPoint:
    """One version's figures in one window where both versions served."""

    window_start: datetime
    version: str
    role: str  # champion | challenger
    requests: int
    error_ratio: float | None
    p95_ms: float | None
    labelled: int
    performance: float | None  # the comparison's metric (accuracy or RMSE) over the labelled requests


@dataclass(frozen=True)
class WindowComparison:
    """Champion and challenger per window of their common traffic (see :func:`compare_by_window`).

    ``points`` is empty when there is nothing to compare; ``note`` then says why."""

    model: str
    champion: str | None
    challenger: str
    window: str  # "1d" | "1h"
    metric: str  # accuracy | rmse
    points: tuple[WindowPoint, ...] = ()
    note: str = ""

    @property
    def windows(self) -> list[datetime]:
        return sorted({p.window_start for p in self.points})


def compare_by_window(ctx: Any, model: str, version: str, *, viewer: str | None,
                      champion: str | None = None, now: datetime | None = None,
                      lookback: timedelta = LOOKBACK) -> WindowComparison:
    """The champion (``champion``, default: the registry's) and ``version`` per window of the last
    ``lookback`` where both served requests; ``viewer`` needs ``model.view`` on the model.
    A log store or registry that does not answer gives an empty comparison with the reason."""
    require_view(ctx, viewer, model)
    spec = ctx.models.get(model)
    version = str(version)
    metric = "accuracy" if spec.task == "classification" else "rmse"
    empty = WindowComparison(model, champion, version, "1d", metric)
    if champion is None:
        from monitoring.drift.profile_store import registry

        try:
            found = registry(ctx).champion(spec.registered_model)
        except Exception as exc:  # noqa: BLE001  MLflow down: degraded, not a crash
            return _note(empty, f"MLflow is degraded: {_why(exc)}")
        if found is None:
            return _note(empty, "The model has no champion yet: nothing to compare with.")
        champion = found.version
    champion = str(champion)
    empty = WindowComparison(model, champion, version, "1d", metric)
    if champion == version:
        return _note(empty, f"Version {version} is the champion now.")
    end = utc_or_now(now)
    try:
        series = _series(ctx, spec, champion, version, end - lookback, end, "1d")
        both = _overlap(series, champion, version)
        window = "1d"
        if 0 < len(both) <= HOURLY_UP_TO_DAYS:
            window = "1h"
            lo = min(both)
            series = _series(ctx, spec, champion, version, lo, min(max(both) + timedelta(days=1), end), window)
            both = _overlap(series, champion, version)
        if not both:
            return _note(empty, f"Versions {champion} and {version} have not served traffic in the same window "
                                f"in the inference logs {_days(end - lookback, end)}.")
        performance = _performance(ctx, spec, (champion, version), min(both), max(both) + _step(window), window)
    except Exception as exc:  # noqa: BLE001  log store unreadable: degraded
        log.warning("%s: comparison by window failed: %s", model, _why(exc))
        return _note(empty, f"The inference logs could not be read: {_why(exc)}")
    points = []
    for row in series.itertuples(index=False):
        if row.at not in both:
            continue
        labelled, value = performance.get((row.at, row.version), (0, None))
        points.append(WindowPoint(row.at, row.version, "champion" if row.version == champion else "challenger",
                                  int(row.requests), _float(row.error_rate), _float(row.p95_ms), labelled, value))
    points.sort(key=lambda p: (p.window_start, p.role != "champion"))
    return WindowComparison(model, champion, version, window, metric, tuple(points))


def _note(comparison: WindowComparison, note: str) -> WindowComparison:
    return WindowComparison(comparison.model, comparison.champion, comparison.challenger, comparison.window,
                            comparison.metric, (), note)


def _float(value: Any) -> float | None:
    from monitoring.drift.window_stats import float_or_none

    return float_or_none(value)


def _step(window: str) -> timedelta:
    return timedelta(hours=1) if window == "1h" else timedelta(days=1)


def _series(ctx: Any, spec: ModelSpec, champion: str, version: str, start: datetime, end: datetime,
            window: str) -> pd.DataFrame:
    from core.storage import logstore_location
    from monitoring.slo.logs_source import metrics_series

    # metrics_series counts requests in (start, end]; a window starts inclusive, so a request at
    # exactly ``start`` (the window's first second) must count: ask from just before it
    frame = metrics_series(logstore_location(ctx.settings), spec.name, start - timedelta(milliseconds=1), end,
                           bucket=window)
    frame = frame[frame["version"].isin([champion, version])]
    frame = frame.assign(at=[t.to_pydatetime() for t in frame["at"]])
    return frame


def _overlap(series: pd.DataFrame, champion: str, version: str) -> set[datetime]:
    served = series[series["requests"] > 0]
    a = set(served.loc[served["version"] == champion, "at"])
    b = set(served.loc[served["version"] == version, "at"])
    return a & b


def _performance(ctx: Any, spec: ModelSpec, versions: tuple[str, str], start: datetime, end: datetime,
                 window: str) -> dict[tuple[datetime, str], tuple[int, float | None]]:
    """(window start, version) -> (labelled requests, accuracy or RMSE) where labels exist."""
    from monitoring.drift.window_stats import PREDICTION_COLUMNS, prediction_and_performance, prediction_frame
    from monitoring.logs.store import iter_window_batches

    metric = "accuracy" if spec.task == "classification" else "rmse"
    size = int(_step(window).total_seconds())
    out: dict[tuple[datetime, str], tuple[int, float | None]] = {}
    columns = ["timestamp", *PREDICTION_COLUMNS]
    for version in versions:
        frames = [b.to_pandas() for b in iter_window_batches(ctx.settings, spec.name, start, end, columns=columns,
                                                               spec=spec, version=version)]
        if not frames:
            continue
        data = pd.concat(frames, ignore_index=True)
        data = data[data["label"].notna()]
        if data.empty:
            continue
        seconds = (data["timestamp"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
        buckets = (seconds // size) * size  # metrics_series' buckets: floor(epoch / size) * size
        for bucket, group in data.groupby(buckets):
            _, perf = prediction_and_performance(spec, prediction_frame([group.drop(columns="timestamp")]),
                                                 pd.DataFrame(), "", {"bins": spec.thresholds.psi_bins})
            at = datetime.fromtimestamp(int(bucket), UTC)
            if perf:
                out[(at, version)] = (int(perf.get("labelled", 0)), _float(perf.get(metric)))
    return out
