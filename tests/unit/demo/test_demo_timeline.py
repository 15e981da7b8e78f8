"""The demo timeline: deterministic, shaped like real traffic, with the documented incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from demo import (
    INCIDENTS,
    MAX_BATCH_SIZE,
    REQUESTS_PER_DAY,
    TIMELINE_DAYS,
    incident_windows,
    timeline_bounds,
)
from demo.data import load
from demo.timeline import build_timeline

ANCHOR = datetime(2026, 11, 1, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def breast_cancer():  # type: ignore[no-untyped-def]
    data = load("breast-cancer")
    return data, build_timeline(data, ANCHOR)


@pytest.fixture(scope="module")
def diabetes():  # type: ignore[no-untyped-def]
    data = load("diabetes")
    return data, build_timeline(data, ANCHOR)


def test_same_anchor_and_seed_give_the_same_timeline() -> None:
    data = load("diabetes")
    a = build_timeline(data, ANCHOR, scale=0.2)
    b = build_timeline(data, ANCHOR, scale=0.2)
    assert np.array_equal(a.arrival_us, b.arrival_us)
    assert np.array_equal(a.X, b.X)
    assert a.request_id.tolist() == b.request_id.tolist()
    assert a.status.tolist() == b.status.tolist()
    other = build_timeline(data, ANCHOR, scale=0.2, seed=7)
    assert not np.array_equal(a.arrival_us, other.arrival_us)


def test_timeline_covers_thirty_calendar_days_ending_at_the_anchor() -> None:
    start, end = timeline_bounds(ANCHOR)
    assert end == ANCHOR and start == datetime(2026, 10, 3, tzinfo=UTC)
    midnight = datetime(2026, 11, 1, tzinfo=UTC)
    start, end = timeline_bounds(midnight)  # day 30 is then the full day before
    assert start == datetime(2026, 10, 2, tzinfo=UTC) and (end - start) == timedelta(days=TIMELINE_DAYS)


def test_traffic_volume_daily_rhythm_and_batches(breast_cancer) -> None:  # type: ignore[no-untyped-def]
    _, tl = breast_cancer
    full_days = np.bincount(tl.day)[1:TIMELINE_DAYS]
    assert abs(full_days.mean() / REQUESTS_PER_DAY["breast-cancer"] - 1) < 0.1
    hours = (tl.arrival_us // 3_600_000_000) % 24
    per_hour = np.bincount(hours, minlength=24)
    assert per_hour[14] > 2.5 * per_hour[2]  # busy afternoons, quiet nights
    assert tl.batch_size.min() >= 1 and tl.batch_size.max() <= MAX_BATCH_SIZE
    assert len(set(tl.request_id.tolist())) == len(tl)
    assert np.all(np.diff(tl.arrival_us) >= 0) and np.all(tl.finished_us < int(ANCHOR.timestamp() * 1e6))
    assert 0.25 < tl.label_known.mean() < 0.35


def test_versions_roll_out_and_each_batch_runs_on_one_version(breast_cancer) -> None:  # type: ignore[no-untyped-def]
    _, tl = breast_cancer
    assert set(tl.version_spec[tl.day <= 11]) == {"v2"}
    assert set(tl.version_spec[tl.day >= 14]) == {"v3"}
    for batch in np.unique(tl.batch)[::50]:
        assert len(set(tl.version_spec[tl.batch == batch])) == 1


def test_breast_cancer_drift_window_shifts_texture_and_site_mix(breast_cancer) -> None:  # type: ignore[no-untyped-def]
    data, tl = breast_cancer
    incident = next(i for i in INCIDENTS if i.name == "breast-cancer-drift")
    inside = tl.in_window(*incident.window(ANCHOR))
    assert inside.sum() > 4000
    for feature in ("mean_texture", "worst_texture"):
        j = data.numeric.index(feature)
        shift = (tl.X[inside, j].mean() - tl.X[~inside, j].mean()) / data.X_train[:, j].std()
        assert shift == pytest.approx(1.5, abs=0.25)
    j = data.numeric.index("mean_radius")
    assert abs(tl.X[inside, j].mean() - tl.X[~inside, j].mean()) / data.X_train[:, j].std() < 0.15
    site = tl.categorical["site"]
    assert (site[inside] == "riverside-clinic").mean() == pytest.approx(0.5, abs=0.05)
    assert (site[~inside] == "riverside-clinic").mean() == pytest.approx(0.12, abs=0.03)


def test_diabetes_drift_window_shifts_bmi(diabetes) -> None:  # type: ignore[no-untyped-def]
    data, tl = diabetes
    start, end = incident_windows(ANCHOR)["diabetes-drift"]
    assert (start, end) == (datetime(2026, 10, 22, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC))
    inside = tl.in_window(start, end)
    j = data.numeric.index("bmi")
    shift = (tl.X[inside, j].mean() - tl.X[~inside, j].mean()) / data.X_train[:, j].std()
    assert shift == pytest.approx(1.2, abs=0.25)


def test_latency_and_error_incident(breast_cancer) -> None:  # type: ignore[no-untyped-def]
    _, tl = breast_cancer
    start, end = incident_windows(ANCHOR)["breast-cancer-latency-errors"]
    assert (start, end) == (datetime(2026, 10, 26, 9, tzinfo=UTC), datetime(2026, 10, 26, 12, tzinfo=UTC))
    inside = tl.in_window(start, end)
    errors_inside = (tl.status[inside] == "error").mean()
    assert 0.08 < errors_inside < 0.25
    assert (tl.latency_ms[inside] > 250).mean() > 0.7  # above the SLO threshold for most requests
    outside = ~inside
    assert (tl.status[outside] == "error").mean() < 0.003
    assert np.percentile(tl.latency_ms[outside & (tl.status == "ok")], 99) < 250
    assert np.median(tl.latency_ms[outside]) == pytest.approx(40 * 1.3, rel=0.35)
    messages = set(tl.error[tl.status == "error"].tolist())
    assert any("CUDA out of memory" in m for m in messages) and any("timeout" in m for m in messages)
    assert all(e is None for e in tl.error[tl.status == "ok"])
