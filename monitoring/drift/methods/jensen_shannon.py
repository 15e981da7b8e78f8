"""Jensen-Shannon distance: the worked example of a drift method plug-in.

JS(p, q) = sqrt((KL(p || m) + KL(q || m)) / 2), m = (p + q) / 2, in base 2, so it lies in [0, 1]
(the square root of the Jensen-Shannon divergence; Lin 1991, Endres and Schindelin 2003; equal to
scipy.spatial.distance.jensenshannon(p, q, base=2)). p and q are the reference and current shares
on B reference-quantile bins (numeric; B = the model's psi_bins) or over the levels of both sides
(categorical). Drifted when JS >= threshold (0.1 by default).

How to add a drift method (this file is the whole change; no migration, no other file):

1. Create ``monitoring/drift/methods/<name>.py`` with a subclass of
   :class:`monitoring.drift.methods.DriftMethod` that sets ``name``, ``kinds`` (``"numeric"``,
   ``"categorical"``), ``default_threshold`` and ``threshold_on`` (``"p_value"`` for a test,
   ``"distance"`` otherwise), and end the module with ``METHOD = YourMethod()``: the registry
   finds it by scanning the package.
2. ``fit(reference, settings)`` (optional) gets the whole reference once (a NumericBatch of its
   sorted finite values, or a CategoricalBatch of counts by level) and returns state (numpy arrays
   or JSON values), stored in the reference profile. A profile fitted before the method existed
   is fitted again from the profile's kept reference values when it has them.
3. ``accumulator(profile, state, settings)`` returns an object with ``add(batch)`` (a batch is
   prepared once per feature by the engine: sorted finite values, or counts by level),
   ``merge(other)`` (must give what one accumulator fed both windows would: a distributed
   engine calls it) and ``result()``, which returns ``self.method.row(feature, settings,
   statistic, p_value, ...)`` -- a long-form row, stored as one row per (feature, method).
4. List it per model in the models file: ``drift: {methods: [ks, psi, chi2, <name>]}``, and
   optionally ``drift: {thresholds: {<name>: 0.2}}``.
5. Test it against an independent reference (here scipy) and add it to the accumulator property
   test (tests/unit/drift/test_drift_accumulators.py runs every registered method).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from monitoring.drift import stats
from monitoring.drift.methods import CategoricalBatch, DriftMethod, NumericBatch, Settings
from monitoring.drift.methods._counting import BinCounts, LevelCounts
from monitoring.drift.results import MethodResult


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Base-2 Jensen-Shannon distance between two count (or share) vectors on the same cells."""
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(math.sqrt(max((kl_p + kl_q) / 2, 0.0)))


class JSAccumulator:
    def __init__(self, method: JensenShannon, profile: Any, state: Mapping[str, Any], settings: Settings) -> None:
        self.method, self.profile, self.settings, self.state = method, profile, settings, state
        self.numeric = profile.kind == "numeric"
        self.cells: BinCounts | LevelCounts = BinCounts(np.asarray(state["edges"])) if self.numeric else LevelCounts()

    def add(self, batch: NumericBatch | CategoricalBatch) -> None:
        self.cells.add(batch.values if self.numeric else batch.counts)  # type: ignore[arg-type, union-attr]

    def merge(self, other: JSAccumulator) -> JSAccumulator:
        self.cells.merge(other.cells)  # type: ignore[arg-type]
        return self

    def result(self) -> MethodResult:
        p = self.profile
        if p.n == 0 or self.cells.n == 0:
            return self.method.row(p.name, self.settings, None)
        if self.numeric:
            ref, cur = np.asarray(self.state["counts"], dtype=np.float64), self.cells.counts.astype(np.float64)  # type: ignore[union-attr]
        else:
            _, table = stats.union_table(p.counts, self.cells.counts)  # type: ignore[union-attr]
            ref, cur = table[0], table[1]
        return self.method.row(p.name, self.settings, js_distance(ref, cur))


class JensenShannon(DriftMethod):
    """Jensen-Shannon distance (base 2, in [0, 1]) between reference and current shares;
    drifted when it reaches the threshold."""

    name = "jensen_shannon"
    kinds = ("numeric", "categorical")
    default_threshold = 0.1
    threshold_on = "distance"

    def fit(self, reference: NumericBatch | CategoricalBatch, settings: Settings) -> dict[str, Any]:
        if not isinstance(reference, NumericBatch):
            return {}  # categorical: the profile's reference counts are the state
        edges = stats.psi_edges(reference.values, settings.bins)
        return {"edges": edges, "counts": stats.psi_bin_counts_sorted(reference.values, edges).astype(np.int64)}

    def accumulator(self, profile: Any, state: Mapping[str, Any], settings: Settings) -> JSAccumulator:
        return JSAccumulator(self, profile, state, settings)


METHOD = JensenShannon()
