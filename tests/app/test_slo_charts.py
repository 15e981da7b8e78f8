"""The SLO page's tables and figures show what the SLO job stored and never recompute it: the
alert table shows the stored decision of each rule, and the latency and GPU figures draw each
version's own percentiles (a mean of two versions' p99s is a latency no request had)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd

from monitoring.slo.burn import RuleOutcome, evaluate_alerts
from ui import slo_charts

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def _all_y(fig) -> list[float]:  # type: ignore[no-untyped-def]
    return [float(y) for trace in fig.data for y in trace.y if y is not None and y == y]


def test_latency_figure_shows_each_versions_percentiles_never_their_mean() -> None:
    rng = np.random.default_rng(7)
    fast = rng.gamma(2.0, 10.0, 5_000)  # v1 answers in tens of ms
    slow = rng.gamma(2.0, 10.0, 5_000) * 20  # v2 in hundreds
    at = [NOW, NOW + timedelta(hours=1)]
    rows = [{"at": t, "version": v, "p50_ms": float(np.percentile(x, 50)), "p95_ms": float(np.percentile(x, 95)),
             "p99_ms": float(np.percentile(x, 99))} for t in at for v, x in (("1", fast), ("2", slow))]
    frame = pd.DataFrame(rows)
    fig = slo_charts.latency_figure(frame)
    by_name = {t.name: [float(y) for y in t.y] for t in fig.data}
    assert set(by_name) == {f"v{v} {p}" for v in "12" for p in ("p50", "p95", "p99")}
    assert by_name["v1 p99"] == [float(np.percentile(fast, 99))] * 2
    assert by_name["v2 p99"] == [float(np.percentile(slow, 99))] * 2
    mean_of_p99s = (np.percentile(fast, 99) + np.percentile(slow, 99)) / 2
    assert all(abs(y - mean_of_p99s) > 1 for y in _all_y(fig))  # the old chart drew exactly this line
    assert set(_all_y(fig)) <= set(frame[["p50_ms", "p95_ms", "p99_ms"]].to_numpy().ravel())


def test_latency_figure_from_prometheus_has_one_unlabelled_series() -> None:
    frame = pd.DataFrame({"at": [NOW], "version": [None], "p99_ms": [120.0], "average_ms": [40.0]})
    fig = slo_charts.latency_figure(frame)
    assert [(t.name, list(t.y)) for t in fig.data] == [("p99", [120.0]), ("average", [40.0])]


def test_gpu_figure_draws_each_version_not_their_average() -> None:
    frame = pd.DataFrame({"at": [NOW, NOW], "version": ["1", "2"], "gpu_utilization": [20.0, 80.0],
                          "gpu_memory_mb": [1000.0, 3000.0]})
    fig = slo_charts.gpu_figure(frame)
    assert {t.name: list(t.y) for t in fig.data} == {
        "v1 utilisation %": [20.0], "v1 memory MiB": [1000.0], "v2 utilisation %": [80.0], "v2 memory MiB": [3000.0]}
    assert 50.0 not in _all_y(fig) and 2000.0 not in _all_y(fig)


def _rule(severity: str, long: str, short: str, factor: float, burn: float, **flags: bool) -> RuleOutcome:
    return RuleOutcome(severity, long, short, 0.02, factor, burn, burn, flags.get("burning", False),
                       flags.get("firing", False), flags.get("held", False))


def test_alert_table_shows_the_stored_decision_not_its_own() -> None:
    # burns far above every threshold, but the job decided: one held back, one not firing
    stored = [_rule("page", "1h", "5m", 14.4, 50.0, burning=True, held=True),
              _rule("page", "6h", "30m", 6.0, 50.0, burning=True, firing=True),
              _rule("ticket", "1d", "2h", 3.0, 50.0)]
    table = slo_charts.alert_table(SimpleNamespace(alert_rules=stored, period="30d"))
    assert list(table["firing"]) == ["held: too few requests", "yes", "no"]
    assert list(table["threshold"]) == ["14.4", "6", "3"] and list(table["long burn"]) == ["50.00"] * 3


def test_alert_table_of_a_real_evaluation_and_of_an_old_snapshot() -> None:
    state = evaluate_alerts({"5m": 20.0, "1h": 16.0, "30m": 1.0, "6h": 1.0, "2h": 0.1, "1d": 0.1, "3d": 0.1},
                            "30d")
    table = slo_charts.alert_table(SimpleNamespace(alert_rules=list(state.rules)))
    assert list(table["firing"]) == ["yes", "no", "no", "no"] and state.page and not state.ticket
    empty = slo_charts.alert_table(SimpleNamespace(alert_rules=[]))
    assert empty.empty and list(empty.columns) == slo_charts.ALERT_COLUMNS


def test_burn_figure_draws_the_stored_page_threshold() -> None:
    frame = pd.DataFrame({"at": [NOW], "burn_1h": [2.0], "burn_5m": [3.0]})
    fig = slo_charts.burn_figure(frame, [_rule("page", "1h", "5m", 13.44, 2.0)])  # a 28-day period's factor
    assert [s.y0 for s in fig.layout.shapes] == [13.44]
    assert slo_charts.burn_figure(frame, []).layout.shapes == ()
