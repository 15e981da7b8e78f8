"""The drift result types, long form: one :class:`MethodResult` per (feature, method), one
:class:`FeatureSummary` per feature (its data quality and the decision over its rows), and the
:class:`DriftReport` of a comparison, which also writes the file-mode JSON contract.

This module owns the shape of a result and nothing else: the engine (monitoring.drift.compare)
fills them, the service stores them (one row per feature and method), the page pivots them only
for display. A new drift method adds rows, never columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Per-feature data-quality states that fail the gate (see monitoring.drift.compare).
QUALITY_FAILURES = ("all_missing", "reference_all_missing")


@dataclass(frozen=True)
class MethodResult:
    """One drift method's verdict on one feature (a row of the long-form table).

    ``threshold_on`` says what ``threshold`` bounds: ``"p_value"`` (drifted when the adjusted
    p-value is below it and ``effect`` reaches ``min_effect``) or ``"distance"`` (drifted when
    ``statistic`` reaches it). ``p_value_adjusted`` is filled by the multiple-testing step.
    ``statistic`` None means the method could not be computed (no usable values on a side).
    """

    feature: str
    method: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool = False
    severity: str = "none"
    threshold_on: str = "p_value"
    p_value_adjusted: float | None = None
    effect: float | None = None
    min_effect: float | None = None
    error_bound: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FeatureSummary:
    """One feature of a comparison: its data quality, its method rows and the decision over them.

    The properties (``ks_statistic``, ``psi`` ...) read a method's row: a pivot for display and
    for the file-mode JSON, not stored twice.
    """

    feature: str
    kind: str  # "numeric" | "categorical"
    drifted: bool = False
    severity: str = "none"
    missing_share_reference: float | None = None
    missing_share_current: float | None = None
    n_reference: int = 0
    n_current: int = 0
    out_of_range_share_current: float | None = None  # numeric: share outside [ref min, ref max]
    data_quality: str = "ok"  # ok | no_data | all_missing | reference_all_missing
    non_finite_reference: int = 0  # numeric: +-inf values, left out of every method
    non_finite_current: int = 0
    results: tuple[MethodResult, ...] = ()
    histogram: Mapping[str, Any] = field(default_factory=dict)  # the page's current-window chart shares

    def result(self, method: str) -> MethodResult | None:
        return next((r for r in self.results if r.method == method), None)

    def _stat(self, method: str, attr: str = "statistic") -> Any:
        r = self.result(method)
        return None if r is None else getattr(r, attr)

    @property
    def p_value_adjusted(self) -> float | None:
        """The smallest adjusted p-value of the feature's tests (None without a test)."""
        ps = [r.p_value_adjusted for r in self.results if r.p_value_adjusted is not None]
        return min(ps) if ps else None

    @property
    def p_value(self) -> float | None:
        ps = [r.p_value for r in self.results if r.threshold_on == "p_value" and r.p_value is not None]
        return min(ps) if ps else None

    @property
    def ks_statistic(self) -> float | None:
        return self._stat("ks")

    @property
    def ks_pvalue(self) -> float | None:
        return self._stat("ks", "p_value")

    @property
    def ks_error_bound(self) -> float | None:
        return self._stat("ks", "error_bound")

    @property
    def ks_method(self) -> str | None:
        r = self.result("ks")
        return None if r is None else r.details.get("how")

    @property
    def chi2_statistic(self) -> float | None:
        return self._stat("chi2")

    @property
    def chi2_pvalue(self) -> float | None:
        return self._stat("chi2", "p_value")

    @property
    def psi(self) -> float | None:
        return self._stat("psi")

    @property
    def grouped_levels(self) -> int | None:
        for r in self.results:
            if "grouped_levels" in r.details:
                return r.details["grouped_levels"]
        return None


#: The file-mode JSON's per-feature keys, in their order (issue 3, item 5): a pivot of the
#: default methods' rows (ks, chi2, psi) and the feature's summary.
CONTRACT_KEYS = ("feature", "kind", "ks_statistic", "ks_pvalue", "chi2_statistic", "chi2_pvalue", "psi",
                 "p_value_adjusted", "drifted", "severity", "missing_share_reference",
                 "missing_share_current", "ks_error_bound", "ks_method", "n_reference", "n_current",
                 "out_of_range_share_current", "data_quality", "non_finite_reference",
                 "non_finite_current", "grouped_levels")


def contract_row(f: FeatureSummary) -> dict[str, Any]:
    """One feature as the file-mode JSON writes it (non-finite floats as null)."""
    out = {k: getattr(f, k) for k in CONTRACT_KEYS}
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


@dataclass(frozen=True)
class DriftReport:
    rows_reference: int
    rows_current: int
    features: list[FeatureSummary]
    drifted_features: int
    dataset_drift: bool
    alpha: float = 0.05
    correction: str = "bh"
    min_effect_ks: float = 0.02
    min_effect_psi: float = 0.1
    max_ks_error_bound: float = 0.0
    drifted_names: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | no_data | quality_failed
    data_quality_failures: list[str] = field(default_factory=list)

    @property
    def results(self) -> list[MethodResult]:
        """Every (feature, method) row, features in profile order."""
        return [r for f in self.features for r in f.results]

    @property
    def data_quality_failed(self) -> bool:
        return bool(self.data_quality_failures)

    @property
    def share_drifted(self) -> float:
        return self.drifted_features / len(self.features) if self.features else 0.0

    def to_json_dict(self) -> dict[str, Any]:
        """The file-mode JSON object (issue 3, item 5) plus a few documented extra keys."""
        return {
            "rows": {"reference": self.rows_reference, "current": self.rows_current},
            "features": [contract_row(f) for f in self.features],
            "drifted_features": self.drifted_features,
            "dataset_drift": self.dataset_drift,
            "settings": {"alpha": self.alpha, "correction": self.correction,
                         "min_effect_ks": self.min_effect_ks, "min_effect_psi": self.min_effect_psi,
                         "rule": "drifted = adjusted p < alpha and effect >= minimum "
                                 "(KS statistic for numeric, PSI for categorical); "
                                 "dataset_drift = any drifted feature; status no_data when the "
                                 "current data has no rows, quality_failed when a feature has "
                                 "no usable value in the current data or the reference"},
            "max_ks_error_bound": self.max_ks_error_bound,
            "status": self.status,
            "data_quality_failed": self.data_quality_failed,
            "data_quality_failures": list(self.data_quality_failures),
        }
