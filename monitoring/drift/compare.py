"""The drift engine: compare current data with a fitted ReferenceProfile (pure: data in, report out).

``compare(profile, current, ...)`` takes a DataFrame, a pyarrow Table/RecordBatch, or an
iterable of them (batches), so memory stays bounded. Per feature and batch the engine prepares
the values once (numeric: the finite values, sorted; categorical: counts by level), counts the
data-quality facts (missing, +-inf, out of range) in a mergeable :class:`FeatureAccumulator`,
and hands the prepared batch to the accumulator of every selected drift method
(monitoring.drift.methods; default KS, PSI, chi-square). This module owns running them and the
decision; the methods own their statistics.

Decision rule (documented in the report's ``settings``):
- every method gives one long-form row per feature (monitoring.drift.results.MethodResult);
- the p-values of all test rows (KS for numeric, chi-square for categorical by default) are
  adjusted together with Benjamini-Hochberg (default) or Bonferroni (monitoring.drift.multitest);
- a test row drifts when its adjusted p < alpha AND its effect >= minimum (the KS statistic for
  KS, ``min_effect_ks``; PSI for chi-square, ``min_effect_psi``); a distance row when its
  statistic reaches its threshold;
- a feature drifts when one of its test rows does; a feature without a selected test (only
  distances) drifts when one of its distance rows does (a distance has no null distribution
  to correct, so with a test present the test decides and distances give the severity);
- the feature's severity is the worst severity of its distance rows (PSI by default: < 0.1 none,
  0.1-0.25 moderate, >= 0.25 significant); a drifted test row carries that severity, at least
  moderate;
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

import dataclasses
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from core.errors import InvalidInput
from monitoring.drift import methods as registry
from monitoring.drift import stats
from monitoring.drift.methods import CategoricalBatch, DriftMethod, NumericBatch, Settings
from monitoring.drift.multitest import adjust_pvalues
from monitoring.drift.profile import FeatureProfile, NumericProfile, ReferenceProfile, method_state
from monitoring.drift.results import QUALITY_FAILURES, DriftReport, FeatureSummary, MethodResult
from monitoring.drift.stats import value_counts  # noqa: F401  (re-exported: filemode and tests use it)

# Default minimum effect sizes (documented in the module docstring). KS 0.02 lets a 0.1-SD
# shift of one feature (KS about 0.04) be flagged at n = 10,000, while the adjusted p-value keeps
# false alarms at alpha; PSI 0.1 is the conventional "moderate" boundary.
DEFAULT_MIN_EFFECT_KS = 0.02
DEFAULT_MIN_EFFECT_PSI = 0.1
SEVERITY_RANK = {"none": 0, "moderate": 1, "significant": 2}


# --------------------------------------------------------------------------- accumulators
class FeatureAccumulator:
    """One feature's window: data-quality counts plus one accumulator per selected method.
    ``add`` prepares a batch once for all methods; ``merge`` combines two windows' accumulators."""

    def __init__(self, prof: FeatureProfile, selected: Sequence[DriftMethod], settings: Settings) -> None:
        self.prof, self.settings = prof, settings
        self.numeric = isinstance(prof, NumericProfile)
        self.methods = [(m, m.accumulator(prof, method_state(prof, m, settings.bins), settings))
                        for m in registry.for_kind(selected, prof.kind)]
        self.n = 0
        self.n_missing = 0
        self.non_finite = 0
        self.out_of_range = 0

    def add(self, values: Any) -> None:
        name = self.prof.name
        if self.numeric:
            arr = stats.as_float_array(values, f"column {name!r} of the current data")
            nm = int(np.count_nonzero(np.isnan(arr)))
            s = np.sort(arr)
            if nm:
                s = s[: s.shape[0] - nm]
            s, n_inf = stats.strip_infinite_sorted(s)
            self.n_missing += nm
            self.non_finite += n_inf
            if s.shape[0] == 0:
                return
            self.n += s.shape[0]
            p = self.prof
            if p.n:
                self.out_of_range += int(np.searchsorted(s, p.minimum, side="left"))  # type: ignore[union-attr]
                self.out_of_range += int(s.shape[0] - np.searchsorted(s, p.maximum, side="right"))  # type: ignore[union-attr]
            batch: NumericBatch | CategoricalBatch = NumericBatch(s)
        else:
            counts, missing = value_counts(values)
            self.n_missing += missing
            self.n += sum(counts.values())
            batch = CategoricalBatch(counts)
        for _, acc in self.methods:
            acc.add(batch)

    def merge(self, other: FeatureAccumulator) -> FeatureAccumulator:
        self.n += other.n
        self.n_missing += other.n_missing
        self.non_finite += other.non_finite
        self.out_of_range += other.out_of_range
        for (_, mine), (_, theirs) in zip(self.methods, other.methods, strict=True):
            mine.merge(theirs)
        return self

    def result(self) -> FeatureSummary:
        p = self.prof
        total = self.n + self.n_missing + self.non_finite
        rows = tuple(acc.result() for _, acc in self.methods)
        if self.numeric:
            seen = self.n + self.non_finite  # +-inf are out of any reference range
            outside = (self.out_of_range + self.non_finite) / seen if seen and p.n else None
            return FeatureSummary(
                p.name, "numeric", missing_share_reference=p.missing_share,
                missing_share_current=self.n_missing / total if total else None,
                n_reference=p.n, n_current=self.n, out_of_range_share_current=outside,
                data_quality=_quality(p.n, self.n, total), non_finite_reference=p.n_non_finite,  # type: ignore[union-attr]
                non_finite_current=self.non_finite, results=rows)
        return FeatureSummary(
            p.name, "categorical", missing_share_reference=p.missing_share,
            missing_share_current=self.n_missing / total if total else None,
            n_reference=p.n, n_current=self.n, data_quality=_quality(p.n, self.n, total), results=rows)


def _quality(n_reference: int, n_current: int, values_current: int) -> str:
    """A feature's data-quality state from its usable value counts (see the module docstring)."""
    if values_current == 0:
        return "no_data"
    if n_current == 0:
        return "all_missing"
    if n_reference == 0:
        return "reference_all_missing"
    return "ok"


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


def compare(profile: ReferenceProfile, current: Any, *, alpha: float = 0.05, correction: str = "bh",
            min_effect_ks: float = DEFAULT_MIN_EFFECT_KS, min_effect_psi: float = DEFAULT_MIN_EFFECT_PSI,
            workers: int | None = None, methods: Sequence[str] | None = None,
            thresholds: dict[str, float] | None = None) -> DriftReport:
    """Compare current data (one table or an iterable of batches) with the reference profile,
    running the drift methods named in ``methods`` (default: KS, PSI, chi-square);
    ``thresholds``: distance method -> threshold (default: each method's own)."""
    if not 0 < alpha < 1:
        raise InvalidInput(f"alpha must lie in (0, 1), got {alpha}")
    settings = Settings(alpha=alpha, correction=correction, min_effect_ks=min_effect_ks,
                        min_effect_psi=min_effect_psi, bins=profile.bins, exact_cap=profile.exact_cap,
                        thresholds=dict(thresholds or {}))
    selected = registry.select(methods)
    accs = [FeatureAccumulator(f, selected, settings) for f in profile.features]
    rows = 0
    n_workers = max(1, min(workers or (os.cpu_count() or 1), len(accs) or 1))

    def feed(acc: FeatureAccumulator, batch: Any) -> None:
        acc.add(_get(batch, acc.prof.name))

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
    return decide(profile.rows, rows, partial, settings)


def decide(rows_reference: int, rows_current: int, features: Sequence[FeatureSummary],
           settings: Settings) -> DriftReport:
    """Multiple-testing control over the long-form p-values of every test row, then each row's
    and each feature's decision and severity (rule: the module docstring)."""
    flat = [(i, j) for i, f in enumerate(features) for j, r in enumerate(f.results) if r.threshold_on == "p_value"]
    adjusted = adjust_pvalues([features[i].results[j].p_value for i, j in flat], settings.correction)
    adj_of = dict(zip(flat, adjusted, strict=True))
    out: list[FeatureSummary] = []
    for i, f in enumerate(features):
        distances = [r for r in f.results if r.threshold_on == "distance"]
        severity = max((r.severity for r in distances), key=SEVERITY_RANK.__getitem__, default="none")
        rows: list[MethodResult] = []
        for j, r in enumerate(f.results):
            if r.threshold_on == "p_value":
                adj = adj_of[(i, j)]
                drifted = bool(adj is not None and adj < r.threshold
                               and (r.min_effect is None or (r.effect is not None and r.effect >= r.min_effect)))
                sev = max(severity, "moderate", key=SEVERITY_RANK.__getitem__) if drifted else "none"
                r = dataclasses.replace(r, p_value_adjusted=adj, drifted=drifted, severity=sev)
            rows.append(r)
        tests = [r for r in rows if r.threshold_on == "p_value"]
        drifted = any(r.drifted for r in (tests or rows))
        out.append(dataclasses.replace(f, results=tuple(rows), drifted=drifted, severity=severity))
    names = [f.feature for f in out if f.drifted]
    bounds = [r.error_bound for f in out for r in f.results if r.method == "ks" and r.error_bound is not None]
    failures = [f.feature for f in out if f.data_quality in QUALITY_FAILURES] if rows_current else []
    status = "no_data" if rows_current == 0 else "quality_failed" if failures else "ok"
    return DriftReport(rows_reference, rows_current, out, len(names), bool(names), settings.alpha,
                       settings.correction, settings.min_effect_ks, settings.min_effect_psi,
                       max(bounds) if bounds else 0.0, names, status, failures)
