"""Cron mode follows file mode's rules (issue 8, item 11): a window in which a feature has no
usable value is stored as ``quality_failed`` with the failing features named, not as "no drift";
a window without rows stays ``no_data``. Runs on SQLite and PostgreSQL (``ctx``)."""

from __future__ import annotations

from datetime import timedelta

from monitoring.drift import service
from monitoring.logs.ingest import ingest_model
from tests.unit.logs.loghelpers import BASE, add_user, day_records, write_jsonl

DAY = timedelta(days=1)


def test_all_missing_feature_in_a_window_is_a_stored_quality_failure(ctx):
    op = add_user(ctx, "ops", "operator")
    logs = ctx.settings.data_dir / "logs/diabetes"
    write_jsonl(logs / "d0.jsonl", day_records(BASE, 300, seed=0))
    day1 = day_records(BASE + DAY, 300, start_index=1000, seed=1)
    for record in day1:
        record["features"]["bmi"] = None
    write_jsonl(logs / "d1.jsonl", day1)
    ingest_model(ctx, op, "diabetes", versions=["1"])
    service.fit_reference_profile(ctx, op, "diabetes", "1", source="window", start=BASE, end=BASE + DAY)

    quiet = service.run_drift_check(ctx, op, "diabetes", window="1d", at=BASE + DAY, report=False)
    run = service.run_drift_check(ctx, op, "diabetes", window="1d", at=BASE + 2 * DAY, report=False)
    assert quiet.status == "ok" and run.status == "quality_failed" and run.rows == 300
    assert quiet.quality["data_quality_failures"] == []
    assert run.quality["data_quality_failures"] == ["bmi"]
    assert run.quality["data_quality"] == {"bmi": "all_missing"}
    assert run.quality["missing_share"]["bmi"] == 1.0
    stored = service.latest_run(ctx, "diabetes")
    assert stored is not None and stored.status == "quality_failed"
    bmi = next(f for f in stored.features if f.feature == "bmi")
    assert not bmi.drifted and bmi.psi is None and bmi.missing_share_current == 1.0
    empty = service.run_drift_check(ctx, op, "diabetes", window="1d", at=BASE + 3 * DAY, report=False)
    assert empty.status == "no_data" and empty.rows == 0 and not empty.dataset_drift
