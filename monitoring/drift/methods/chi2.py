"""Chi-square: Pearson's test of homogeneity on the 2 x K table, a categorical method on p-values.

The table is reference and current counts over the levels of both sides, rare levels pooled into
``__other__`` first (``stats.group_rare_levels``: expected count >= 5, at most K_max cells);
equal to scipy.stats.chi2_contingency(table, correction=False). The effect that must reach
``min_effect_psi`` is the PSI on the same table. State: none beyond the reference counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitoring.drift import stats
from monitoring.drift.methods import CategoricalBatch, DriftMethod, Settings
from monitoring.drift.methods._counting import LevelCounts
from monitoring.drift.results import MethodResult


class ChiSquareAccumulator:
    def __init__(self, method: ChiSquare, profile: Any, settings: Settings) -> None:
        self.method, self.profile, self.settings = method, profile, settings
        self.levels = LevelCounts()

    def add(self, batch: CategoricalBatch) -> None:
        self.levels.add(batch.counts)

    def merge(self, other: ChiSquareAccumulator) -> ChiSquareAccumulator:
        self.levels.merge(other.levels)
        return self

    def result(self) -> MethodResult:
        p, floor = self.profile, self.settings.min_effect_psi
        if p.n == 0 or self.levels.n == 0:
            return self.method.row(p.name, self.settings, None, None, min_effect=floor)
        grouped = stats.group_rare_levels(p.counts, self.levels.counts)
        chi = stats.chi2_from_table(grouped.categories, grouped.table)
        effect = stats.psi_from_counts(grouped.table[0], grouped.table[1]).value
        return self.method.row(p.name, self.settings, chi.statistic, chi.pvalue, effect=effect, min_effect=floor,
                               details={"dof": chi.dof, "grouped_levels": grouped.grouped})


class ChiSquare(DriftMethod):
    """Pearson chi-square test of homogeneity (scipy.stats.chi2_contingency, no continuity
    correction); drifted when the adjusted p-value is below alpha and PSI reaches min_effect_psi."""

    name = "chi2"
    kinds = ("categorical",)
    default_threshold = 0.05
    threshold_on = "p_value"

    def accumulator(self, profile: Any, state: Mapping[str, Any], settings: Settings) -> ChiSquareAccumulator:
        del state
        return ChiSquareAccumulator(self, profile, settings)


METHOD = ChiSquare()
