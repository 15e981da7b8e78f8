"""Mergeable counting blocks several drift methods share (not a method: the registry skips
modules whose name starts with ``_``).

- :class:`CappedSample`: a window's sorted finite values while they number at most ``cap``
  (exact statistics), beyond it only their counts below and at the reference profile's quantile
  knots (histogram statistics). Which of the two a window ends in depends only on the window's
  total, never on how it was split into batches.
- :class:`BinCounts`: counts on fixed edges (bin = searchsorted(edges, v, "left")).
- :class:`LevelCounts`: counts by level of a categorical feature.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from monitoring.drift import stats


class CappedSample:
    def __init__(self, knots: np.ndarray, cap: int) -> None:
        self.knots, self.cap = knots, cap
        self.parts: list[np.ndarray] = []
        self.n = 0
        self.histogram = False
        self.lt = np.zeros(len(knots), dtype=np.int64)
        self.le = np.zeros(len(knots), dtype=np.int64)

    def _count(self, s: np.ndarray) -> None:
        self.lt += np.searchsorted(s, self.knots, side="left")
        self.le += np.searchsorted(s, self.knots, side="right")

    def _to_histogram(self) -> None:
        self.histogram = True
        for part in self.parts:
            self._count(part)
        self.parts = []

    def add(self, sorted_values: np.ndarray) -> None:
        if sorted_values.shape[0] == 0:
            return
        self.n += sorted_values.shape[0]
        if self.histogram:
            self._count(sorted_values)
            return
        self.parts.append(sorted_values)
        if self.n > self.cap:
            self._to_histogram()

    def merge(self, other: CappedSample) -> CappedSample:
        self.n += other.n
        if self.histogram or other.histogram or self.n > self.cap:
            if not self.histogram:
                self._to_histogram()
            if other.histogram:
                self.lt += other.lt
                self.le += other.le
            else:
                for part in other.parts:
                    self._count(part)
        else:
            self.parts += other.parts
        return self

    @property
    def exact(self) -> bool:
        return not self.histogram

    def sorted_values(self) -> np.ndarray:
        """All values, sorted (exact only): the parts are sorted runs, which a stable (tim)sort
        merges in linear time."""
        if len(self.parts) == 1:
            return self.parts[0]
        if not self.parts:
            return np.empty(0, dtype=np.float64)
        return np.sort(np.concatenate(self.parts), kind="stable")

    def knot_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(#values < knot, #values <= knot) at every knot."""
        if self.histogram:
            return self.lt, self.le
        lt, le = self.lt.copy(), self.le.copy()
        for part in self.parts:
            lt += np.searchsorted(part, self.knots, side="left")
            le += np.searchsorted(part, self.knots, side="right")
        return lt, le


class BinCounts:
    def __init__(self, edges: np.ndarray) -> None:
        self.edges = edges
        self.counts = np.zeros(len(edges) + 1, dtype=np.int64)
        self.n = 0

    def add(self, sorted_values: np.ndarray) -> None:
        self.n += int(sorted_values.shape[0])
        self.counts += stats.psi_bin_counts_sorted(sorted_values, self.edges)

    def merge(self, other: BinCounts) -> BinCounts:
        self.n += other.n
        self.counts += other.counts
        return self


class LevelCounts:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def add(self, counts: Mapping[str, int]) -> None:
        for k, c in counts.items():
            self.counts[k] = self.counts.get(k, 0) + int(c)

    def merge(self, other: LevelCounts) -> LevelCounts:
        self.add(other.counts)
        return self
