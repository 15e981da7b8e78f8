"""Validation of inference-log records against a model's schema (see monitoring.logs.schema).

:func:`validate_record` turns one parsed record into a normalised row for the log store, or
returns the reason it must be quarantined. Reasons (the first failing check wins):

- ``malformed line``: not parseable (bad JSON, bad CSV row) or not an object
- ``not valid UTF-8``: the line's bytes are not UTF-8 (kept verbatim, never "repaired")
- ``line too long``: a line over 16 MiB (its first 4 KiB are kept)
- ``missing field: <field>``: a required field is absent or null; for features ``features.<name>``
- ``wrong type: <field>``: a value of the wrong type or out of its domain (in JSONL and Parquet
  a number given as text is wrong; in CSV, where every value is text, numbers are parsed)
- ``unknown model``: the record names a model that is not this configured model
- ``unknown version <v>``: the registry does not know the version (checked only when it answered)
- ``timestamp out of range``: before 2000-01-01 or more than one day in the future
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.config import ModelSpec
from monitoring.logs.schema import FEATURE_PREFIX, REQUIRED_FIELDS, STATUSES, feature_column

MIN_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=1)
MALFORMED = "malformed line"
NOT_UTF8 = "not valid UTF-8"
TOO_LONG = "line too long"


class Invalid(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ValidationContext:
    """What a record is checked against: the model's spec, known versions and the clock."""

    spec: ModelSpec
    known_versions: frozenset[str] | None = None  # None: the registry did not answer, accept any
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    text_values: bool = False  # CSV: every value is text, so numbers are parsed from strings

    @property
    def latest_allowed(self) -> datetime:
        return self.now + MAX_FUTURE


NUMERIC_FIELDS = ("score", "latency_ms", "batch_size", "gpu_id", "gpu_utilization", "gpu_memory_mb")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _float(
    value: Any,
    name: str,
    *,
    required: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if required:
            raise Invalid(f"missing field: {name}")
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise Invalid(f"wrong type: {name}") from None
    if not _is_number(value):
        raise Invalid(f"wrong type: {name}")
    out = float(value)
    if math.isnan(out):
        if required:
            raise Invalid(f"missing field: {name}")
        return None
    if math.isinf(out) or (minimum is not None and out < minimum) or (maximum is not None and out > maximum):
        raise Invalid(f"wrong type: {name}")
    return out


def _int(value: Any, name: str, *, minimum: int | None = None) -> int | None:
    out = _float(value, name)
    if out is None:
        return None
    if not out.is_integer() or (minimum is not None and out < minimum):
        raise Invalid(f"wrong type: {name}")
    return int(out)


def _text(value: Any, name: str, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if required:
            raise Invalid(f"missing field: {name}")
        return None
    if isinstance(value, str):
        if required and value.strip() == "":
            raise Invalid(f"missing field: {name}")
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    raise Invalid(f"wrong type: {name}")


def parse_timestamp(value: Any) -> datetime:
    """ISO-8601 (offset or ``Z``; a naive value is read as UTC) or epoch seconds -> aware UTC."""
    if isinstance(value, datetime):
        ts = value
    elif _is_number(value):
        try:
            ts = datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            raise Invalid("timestamp out of range") from None
    elif isinstance(value, str):
        text = value.strip()
        try:
            ts = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            try:
                ts = datetime.fromtimestamp(float(text), UTC)
            except (ValueError, OverflowError, OSError):
                raise Invalid("wrong type: timestamp") from None
    else:
        raise Invalid("wrong type: timestamp")
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def _features(record: dict[str, Any], spec: ModelSpec) -> dict[str, Any]:
    """The record's features as a name -> value mapping (nested object or flat ``f_`` columns)."""
    if "features" in record and record["features"] is not None:
        features = record["features"]
        if not isinstance(features, dict):
            raise Invalid("wrong type: features")
        return features
    flat = {k[len(FEATURE_PREFIX) :]: v for k, v in record.items() if k.startswith(FEATURE_PREFIX)}
    if not flat:
        raise Invalid("missing field: features")
    return flat


def validate_record(record: Any, vctx: ValidationContext) -> dict[str, Any]:
    """Return the normalised store row for ``record`` or raise :class:`Invalid` with the reason."""
    if not isinstance(record, dict):
        raise Invalid(MALFORMED)
    spec = vctx.spec
    for name in REQUIRED_FIELDS:
        if name == "features":
            continue
        value = record.get(name)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            raise Invalid(f"missing field: {name}")
    features = _features(record, spec)

    model = _text(record["model"], "model", required=True)
    if model != spec.name:
        raise Invalid("unknown model")
    version = _text(record["version"], "version", required=True)
    assert version is not None
    if vctx.known_versions is not None and version not in vctx.known_versions:
        raise Invalid(f"unknown version {version}")
    ts = parse_timestamp(record["timestamp"])
    if ts < MIN_TIMESTAMP or ts > vctx.latest_allowed:
        raise Invalid("timestamp out of range")

    status = _text(record["status"], "status", required=True)
    if status not in STATUSES:
        raise Invalid("wrong type: status")
    if not vctx.text_values:  # JSON and Parquet carry types: a number given as text is wrong
        for name in NUMERIC_FIELDS:
            if isinstance(record.get(name), str):
                raise Invalid(f"wrong type: {name}")
    row: dict[str, Any] = {
        "timestamp": ts,
        "model": model,
        "version": version,
        "request_id": _text(record["request_id"], "request_id", required=True),
        "prediction": _text(record.get("prediction"), "prediction"),
        "score": _float(record.get("score"), "score"),
        "label": _text(record.get("label"), "label"),
        "latency_ms": _float(record["latency_ms"], "latency_ms", required=True, minimum=0.0),
        "status": status,
        "error": _text(record.get("error"), "error"),
        "batch_size": _int(record.get("batch_size"), "batch_size", minimum=1),
        "gpu_id": _int(record.get("gpu_id"), "gpu_id", minimum=0),
        "gpu_utilization": _float(
            record.get("gpu_utilization"), "gpu_utilization", minimum=0.0, maximum=100.0
        ),
        "gpu_memory_mb": _float(record.get("gpu_memory_mb"), "gpu_memory_mb", minimum=0.0),
    }
    for feat in spec.features:
        if feat.name not in features:
            raise Invalid(f"missing field: features.{feat.name}")
        value = features[feat.name]
        if feat.type == "numeric":
            if isinstance(value, str) and not vctx.text_values:
                raise Invalid(f"wrong type: {feat.name}")
            row[feature_column(feat.name)] = _float(value, feat.name)
        else:
            row[feature_column(feat.name)] = _text(value, feat.name)
    return row
