"""Data quality per window (pure): missing shares, values outside the reference range,
unseen categories, schema violations and completeness.

- missing share = missing values / values (NaN and None are missing);
- out-of-range share (numeric) = non-missing values < reference min or > reference max, divided
  by the non-missing values; unseen share (categorical) = values whose category the reference
  never saw, divided by the non-missing values;
- completeness = valid rows / (valid rows + rows quarantined for schema violations).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from monitoring.drift import stats
from monitoring.drift.profile import CategoricalProfile, NumericProfile, ReferenceProfile


@dataclass(frozen=True)
class FeatureQuality:
    feature: str
    kind: str
    rows: int
    missing_share: float | None
    out_of_range_share: float | None  # numeric: outside [min, max]; categorical: unseen category
    reference_missing_share: float


@dataclass(frozen=True)
class WindowQuality:
    valid_rows: int
    invalid_rows: int
    completeness: float | None
    features: tuple[FeatureQuality, ...]

    @property
    def max_missing_share(self) -> float:
        vals = [f.missing_share for f in self.features if f.missing_share is not None]
        return max(vals) if vals else 0.0


def missing_share(values: Any) -> float | None:
    vals = list(values) if not isinstance(values, np.ndarray) else values
    n = len(vals)
    if n == 0:
        return None
    if isinstance(vals, np.ndarray) and vals.dtype.kind == "f":
        return float(np.count_nonzero(np.isnan(vals)) / n)
    missing = sum(1 for v in vals if stats.is_missing(v))
    return missing / n


def out_of_range_share(values: Any, minimum: float, maximum: float) -> float | None:
    arr = stats.drop_missing(stats.as_float_array(values))
    if arr.shape[0] == 0:
        return None
    return float(np.count_nonzero((arr < minimum) | (arr > maximum)) / arr.shape[0])


def unseen_share(values: Any, known: Mapping[str, int]) -> float | None:
    counts = stats.category_counts(values)
    n = sum(counts.values())
    if n == 0:
        return None
    return sum(c for k, c in counts.items() if k not in known) / n


def completeness(valid_rows: int, invalid_rows: int) -> float | None:
    total = valid_rows + invalid_rows
    return valid_rows / total if total else None


def window_quality(profile: ReferenceProfile, columns: Mapping[str, Any], *, invalid_rows: int = 0) -> WindowQuality:
    """Quality of one window's valid rows (``columns``: feature name -> values) against a profile."""
    feats = []
    rows = 0
    for f in profile.features:
        vals = columns.get(f.name)
        if vals is None:
            feats.append(FeatureQuality(f.name, f.kind, 0, None, None, f.missing_share))
            continue
        rows = max(rows, len(vals))
        if isinstance(f, NumericProfile):
            arr = stats.as_float_array(vals, f"column {f.name!r}")
            oor = out_of_range_share(arr, f.minimum, f.maximum) if f.n else None
            feats.append(FeatureQuality(f.name, "numeric", len(arr), missing_share(arr), oor, f.missing_share))
        elif isinstance(f, CategoricalProfile):
            feats.append(FeatureQuality(f.name, "categorical", len(vals), missing_share(vals),
                                        unseen_share(vals, f.counts), f.missing_share))
    return WindowQuality(rows, invalid_rows, completeness(rows, invalid_rows), tuple(feats))
