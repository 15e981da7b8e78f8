"""Record validation and PII masking, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitoring.logs.quarantine import MASK, mask_raw
from monitoring.logs.validate import Invalid, ValidationContext, parse_timestamp, validate_record
from tests.unit.logs.loghelpers import BASE, diabetes_record


@pytest.fixture
def vctx(models_config):
    return ValidationContext(
        spec=models_config.get("diabetes"),
        known_versions=frozenset({"1"}),
        now=datetime(2026, 11, 22, tzinfo=UTC),
    )


def test_valid_record_is_normalised(vctx):
    row = validate_record(diabetes_record(1, BASE), vctx)
    assert row["timestamp"] == BASE and row["f_site"] == "south" and isinstance(row["f_bmi"], float)
    assert row["prediction"] is not None and isinstance(row["prediction"], str)


def test_timestamps_epoch_z_and_naive():
    assert parse_timestamp(1_700_000_000) == datetime.fromtimestamp(1_700_000_000, UTC)
    assert parse_timestamp("2026-11-01T00:00:00Z") == BASE
    assert parse_timestamp("2026-11-01T01:00:00+01:00") == BASE
    assert parse_timestamp("2026-11-01 00:00:00") == BASE


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"status": "maybe"}, "wrong type: status"),
        ({"batch_size": 0}, "wrong type: batch_size"),
        ({"gpu_utilization": 140}, "wrong type: gpu_utilization"),
        ({"features": [1, 2]}, "wrong type: features"),
        ({"timestamp": "yesterday"}, "wrong type: timestamp"),
        ({"request_id": None}, "missing field: request_id"),
        ({"version": 2}, "unknown version 2"),
        ({"latency_ms": "12.5"}, "wrong type: latency_ms"),
        ({"latency_ms": "fast"}, "wrong type: latency_ms"),
        ({"timestamp": "2026-11-24T00:00:00+00:00"}, "timestamp out of range"),
    ],
)
def test_reasons(vctx, change, reason):
    record = dict(diabetes_record(1, BASE), **change)
    with pytest.raises(Invalid) as info:
        validate_record(record, vctx)
    assert info.value.reason == reason


def test_unknown_versions_accepted_when_registry_silent(models_config):
    vctx = ValidationContext(spec=models_config.get("diabetes"), known_versions=None)
    assert validate_record(diabetes_record(1, BASE, version="42"), vctx)["version"] == "42"


def test_mask_raw_hides_pii_values():
    raw = '{"model": "breast-cancer", "features": {"patient_zip": "90210", "site": "north"}}'
    masked = mask_raw(raw, ["patient_zip"])
    assert "90210" not in masked and MASK in masked and "north" in masked
    broken = '{"features": {"patient_zip": "90210", "site": '
    assert "90210" not in mask_raw(broken, ["patient_zip"])
    assert "90210" not in mask_raw("2026-11-01,90210,north", ["patient_zip"])
    assert mask_raw(raw, []) == raw
