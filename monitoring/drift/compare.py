"""Compare current data with a fitted ReferenceProfile (pure: data in, frozen report out).

``compare(profile, current, ...)`` takes a DataFrame, a pyarrow Table/RecordBatch, or an
iterable of them (batches), so memory stays bounded: per numeric feature each batch is sorted
once and reduced to PSI bin counts, range counts and (beyond the exact cap) counts at the
profile's quantile knots; only while the current values number at most ``profile.exact_cap`` are
they kept, for the exact KS test.

Decision rule (documented in the report's ``settings``):
- raw p-value: KS for numeric features, chi-square for categorical ones;
- adjusted across all features with Benjamini-Hochberg (default) or Bonferroni;
- drifted = adjusted p < alpha AND effect >= minimum, the effect being the KS statistic for
  numeric features (``min_effect_ks``) and PSI for categorical ones (``min_effect_psi``);
- severity from PSI: < 0.1 none, 0.1-0.25 moderate, >= 0.25 significant;
- dataset_drift = at least one drifted feature.

Categorical features: None, NaN and the empty string are missing (``methods.is_missing``), never a
category; before chi-square and PSI, rare levels are pooled into ``__other__``
(``methods.group_rare_levels``: expected count >= 5, at most K_max cells so PSI's expectation
under no drift stays <= 0.05); ``grouped_levels`` says how many were pooled.
Numeric features: +inf and -inf are non-finite, counted per side (``non_finite_reference``,
``non_finite_current``), left out of KS and PSI, and counted as out of range in the current data.

No data is never "no drift" (issue 8, item 11). Each feature carries ``data_quality``:
- ``ok``;
- ``no_data``: the current data has no rows at all;
- ``all_missing``: the current data has rows but no usable (non-missing, finite) value;
- ``reference_all_missing``: the reference has no usable value, so the feature cannot be tested.
The report's ``status`` is ``no_data`` (current data without rows), ``quality_failed`` (a
feature is ``all_missing`` or ``reference_all_missing``, listed in ``data_quality_failures``) or
``ok``. Neither is drift (``dataset_drift`` keeps its meaning), but neither is a pass:
``python -m jobs.drift`` exits 6 on ``no_data`` and 3 on ``quality_failed`` with
--fail-on-drift.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.errors import InvalidInput
from monitoring.drift import methods
from monitoring.drift.multitest import adjust_pvalues
from monitoring.drift.profile import CategoricalProfile, NumericProfile, ReferenceProfile


# Default minimum effect sizes (documented in the module docstring). KS 0.02 lets a 0.1-SD
# shift of one feature (KS about 0.04) be flagged at n = 10,000, while the adjusted p-value keeps
# false alarms at alpha; PSI 0.1 is the conventional "moderate" boundary.
DEFAULT_MIN_EFFECT_KS = 0.02
DEFAULT_MIN_EFFECT_PSI = 0.1


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # "numeric" | "categorical"
    ks_statistic: float | None
    ks_pvalue: float | None
    chi2_statistic: float | None
    chi2_pvalue: float | None
    psi: float | None
    p_value_adjusted: float | None
    drifted: bool
    severity: str
    missing_share_reference: float
    missing_share_current: float | None
    ks_error_bound: float | None = None  # 0.0 when exact, < 1/K on histograms, None if no KS
    ks_method: str | None = None  # "exact" | "asymp" | "histogram"
    n_reference: int = 0
    n_current: int = 0
    out_of_range_share_current: float | None = None  # numeric: share outside [ref min, ref max]
    data_quality: str = "ok"  # ok | no_data | all_missing | reference_all_missing
    non_finite_reference: int = 0  # numeric: +-inf values, left out of KS and PSI
    non_finite_current: int = 0
    grouped_levels: int | None = None  # categorical: rare levels pooled into "__other__"


#: Per-feature data-quality states that fail the gate (see the module docstring).
QUALITY_FAILURES = ("all_missing", "reference_all_missing")


@dataclass(frozen=True)
class DriftReport:
    rows_reference: int
    rows_current: int
    features: list[FeatureDrift]
    drifted_features: int
    dataset_drift: bool
    alpha: float = 0.05
    correction: str = "bh"
    min_effect_ks: float = DEFAULT_MIN_EFFECT_KS
    min_effect_psi: float = DEFAULT_MIN_EFFECT_PSI
    max_ks_error_bound: float = 0.0
    drifted_names: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | no_data | quality_failed
    data_quality_failures: list[str] = field(default_factory=list)

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
            "features": [_clean(asdict(f)) for f in self.features],
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


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


# --------------------------------------------------------------------------- accumulators
class _NumericAcc:
    def __init__(self, prof: NumericProfile, cap: int) -> None:
        self.prof, self.cap = prof, cap
        self.parts: list[np.ndarray] = []
        self.n = 0
        self.n_missing = 0
        self.histogram = False
        self.lt = np.zeros(len(prof.knots), dtype=np.int64)
        self.le = np.zeros(len(prof.knots), dtype=np.int64)
        self.psi = np.zeros(len(prof.psi_edges) + 1, dtype=np.int64)
        self.out_of_range = 0
        self.non_finite = 0

    def _knot_counts(self, s: np.ndarray) -> None:
        self.lt += np.searchsorted(s, self.prof.knots, side="left")
        self.le += np.searchsorted(s, self.prof.knots, side="right")

    def add(self, values: Any, name: str) -> None:
        arr = methods.as_float_array(values, f"column {name!r} of the current data")
        nm = int(np.count_nonzero(np.isnan(arr)))
        s = np.sort(arr)
        if nm:
            s = s[: s.shape[0] - nm]
        s, n_inf = methods.strip_infinite_sorted(s)
        self.n_missing += nm
        self.non_finite += n_inf
        if s.shape[0] == 0:
            return
        self.n += s.shape[0]
        self.psi += methods.psi_bin_counts_sorted(s, self.prof.psi_edges)
        if self.prof.n:
            self.out_of_range += int(np.searchsorted(s, self.prof.minimum, side="left"))
            self.out_of_range += int(s.shape[0] - np.searchsorted(s, self.prof.maximum, side="right"))
        if self.histogram:
            self._knot_counts(s)
            return
        self.parts.append(s)
        if self.n > self.cap:
            self.histogram = True
            for part in self.parts:
                self._knot_counts(part)
            self.parts = []

    def result(self) -> dict[str, Any]:
        p = self.prof
        total = self.n + self.n_missing + self.non_finite
        seen = self.n + self.non_finite  # +-inf are out of any reference range
        outside = (self.out_of_range + self.non_finite) / seen if seen and p.n else None
        out: dict[str, Any] = {
            "feature": p.name, "kind": "numeric", "chi2_statistic": None, "chi2_pvalue": None,
            "missing_share_reference": p.missing_share,
            "missing_share_current": self.n_missing / total if total else None,
            "n_reference": p.n, "n_current": self.n,
            "out_of_range_share_current": outside,
            "data_quality": _quality(p.n, self.n, total),
            "non_finite_reference": p.n_non_finite, "non_finite_current": self.non_finite,
        }
        if p.n == 0 or self.n == 0:
            out.update(ks_statistic=None, ks_pvalue=None, psi=None, ks_error_bound=None, ks_method=None)
            return out
        if not self.histogram and p.exact:
            # the parts are sorted runs: a stable (tim)sort merges them in linear time
            cur = self.parts[0] if len(self.parts) == 1 else np.sort(np.concatenate(self.parts), kind="stable")
            ks = methods.ks_sorted(p.sorted_values, cur)  # type: ignore[arg-type]
        else:
            if not self.histogram:
                for part in self.parts:
                    self._knot_counts(part)
            ks = methods.ks_from_knot_counts(len(p.knots), p.knot_lt, p.knot_le, p.n,
                                             self.lt, self.le, self.n)
        out.update(ks_statistic=ks.statistic, ks_pvalue=ks.pvalue, ks_error_bound=ks.error_bound,
                   ks_method=ks.method, psi=methods.psi_from_counts(p.psi_counts, self.psi).value)
        return out


class _CategoricalAcc:
    def __init__(self, prof: CategoricalProfile) -> None:
        self.prof = prof
        self.counts: dict[str, int] = {}
        self.n_missing = 0

    def add(self, values: Any, name: str) -> None:
        del name
        counts, missing = value_counts(values)
        self.n_missing += missing
        for k, c in counts.items():
            self.counts[k] = self.counts.get(k, 0) + c

    def result(self) -> dict[str, Any]:
        p = self.prof
        n = sum(self.counts.values())
        total = n + self.n_missing
        out: dict[str, Any] = {
            "feature": p.name, "kind": "categorical", "ks_statistic": None, "ks_pvalue": None,
            "ks_error_bound": None, "ks_method": None,
            "missing_share_reference": p.missing_share,
            "missing_share_current": self.n_missing / total if total else None,
            "n_reference": p.n, "n_current": n, "out_of_range_share_current": None,
            "data_quality": _quality(p.n, n, total),
        }
        if p.n == 0 or n == 0:
            out.update(chi2_statistic=None, chi2_pvalue=None, psi=None)
            return out
        grouped = methods.group_rare_levels(p.counts, self.counts)
        chi = methods.chi2_from_table(grouped.categories, grouped.table)
        out.update(chi2_statistic=chi.statistic, chi2_pvalue=chi.pvalue, grouped_levels=grouped.grouped,
                   psi=methods.psi_from_counts(grouped.table[0], grouped.table[1]).value)
        return out


def _quality(n_reference: int, n_current: int, values_current: int) -> str:
    """A feature's data-quality state from its usable value counts (see the module docstring)."""
    if values_current == 0:
        return "no_data"
    if n_current == 0:
        return "all_missing"
    if n_reference == 0:
        return "reference_all_missing"
    return "ok"


def value_counts(values: Any) -> tuple[dict[str, int], int]:
    """(counts of non-missing values keyed by their string form, number of missing values)."""
    if hasattr(values, "value_counts") and hasattr(values, "type"):  # pyarrow Array/ChunkedArray
        vc = values.value_counts()
        counts: dict[str, int] = {}
        missing = 0
        for v, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True):
            if methods.is_missing(v):
                missing += c
            else:
                counts[str(v)] = counts.get(str(v), 0) + c
        return counts, missing
    vals = list(values)
    counts = methods.category_counts(vals)
    return counts, len(vals) - sum(counts.values())


# --------------------------------------------------------------------------- batches
def _is_single_table(obj: Any) -> bool:
    return hasattr(obj, "columns") or hasattr(obj, "column_names")


def _batches(current: Any) -> Iterator[Any]:
    if _is_single_table(current):
        yield current
        return
    if not isinstance(current, Iterable):
        raise InvalidInput("current data must be a DataFrame, a pyarrow Table or an iterable of batches")
    yield from current


def _get(batch: Any, name: str) -> Any:
    try:
        if hasattr(batch, "column_names"):
            if name not in batch.column_names:
                raise KeyError(name)
            return batch.column(name)
        col = batch[name]
    except KeyError:
        raise InvalidInput(f"current data has no column {name!r}") from None
    return col


def _numeric_values(col: Any) -> Any:
    return col  # methods.as_float_array converts pyarrow, pandas and numpy columns


def compare(profile: ReferenceProfile, current: Any, *, alpha: float = 0.05, correction: str = "bh",
            min_effect_ks: float = DEFAULT_MIN_EFFECT_KS, min_effect_psi: float = DEFAULT_MIN_EFFECT_PSI,
            workers: int | None = None) -> DriftReport:
    """Compare current data (one table or an iterable of batches) with the reference profile."""
    if not 0 < alpha < 1:
        raise InvalidInput(f"alpha must lie in (0, 1), got {alpha}")
    accs: list[_NumericAcc | _CategoricalAcc] = [
        _NumericAcc(f, profile.exact_cap) if isinstance(f, NumericProfile) else _CategoricalAcc(f)
        for f in profile.features]
    rows = 0
    n_workers = max(1, min(workers or (os.cpu_count() or 1), len(accs) or 1))

    def feed(acc: _NumericAcc | _CategoricalAcc, batch: Any) -> None:
        col = _get(batch, acc.prof.name)
        acc.add(_numeric_values(col) if isinstance(acc, _NumericAcc) else col, acc.prof.name)

    pool = ThreadPoolExecutor(n_workers) if n_workers > 1 else None
    try:
        for batch in _batches(current):
            rows += int(batch.num_rows) if hasattr(batch, "num_rows") else len(batch)
            if pool is None:
                for acc in accs:
                    feed(acc, batch)
            else:
                list(pool.map(lambda a, b=batch: feed(a, b), accs))
        partial = list(pool.map(lambda a: a.result(), accs)) if pool else [a.result() for a in accs]
    finally:
        if pool is not None:
            pool.shutdown()
    return decide(profile.rows, rows, partial, alpha=alpha, correction=correction,
                  min_effect_ks=min_effect_ks, min_effect_psi=min_effect_psi)


def decide(rows_reference: int, rows_current: int, partial: list[dict[str, Any]], *, alpha: float,
           correction: str, min_effect_ks: float, min_effect_psi: float) -> DriftReport:
    """Apply multiple-testing control, effect-size minimums and PSI severity to raw statistics."""
    raw = [r["ks_pvalue"] if r["kind"] == "numeric" else r["chi2_pvalue"] for r in partial]
    adjusted = adjust_pvalues(raw, correction)
    feats: list[FeatureDrift] = []
    for r, adj in zip(partial, adjusted, strict=True):
        if r["kind"] == "numeric":
            effect_ok = r["ks_statistic"] is not None and r["ks_statistic"] >= min_effect_ks
        else:
            effect_ok = r["psi"] is not None and r["psi"] >= min_effect_psi
        drifted = bool(adj is not None and adj < alpha and effect_ok)
        feats.append(FeatureDrift(p_value_adjusted=adj, drifted=drifted,
                                  severity=methods.severity_from_psi(r["psi"]), **r))
    names = [f.feature for f in feats if f.drifted]
    bounds = [f.ks_error_bound for f in feats if f.ks_error_bound is not None]
    failures = [f.feature for f in feats if f.data_quality in QUALITY_FAILURES] if rows_current else []
    status = "no_data" if rows_current == 0 else "quality_failed" if failures else "ok"
    return DriftReport(rows_reference, rows_current, feats, len(names), bool(names), alpha, correction,
                       min_effect_ks, min_effect_psi, max(bounds) if bounds else 0.0, names, status, failures)
