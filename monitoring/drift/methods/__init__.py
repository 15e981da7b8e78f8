"""Drift methods as plug-ins: the contract, the registry that discovers them, and the settings.

A drift method is ONE module in this package (``ks.py``, ``psi.py``, ``chi2.py``,
``wasserstein.py``, ``jensen_shannon.py``) that defines ``METHOD``, an instance of a
:class:`DriftMethod` subclass declaring

- ``name``: what the models file lists under ``drift.methods`` and what result rows carry;
- ``kinds``: the feature kinds it serves (``"numeric"``, ``"categorical"``);
- ``default_threshold`` and ``threshold_on``: ``"p_value"`` (a test; drifted when the adjusted
  p-value is below the threshold, which the model's ``thresholds.drift_alpha`` sets) or
  ``"distance"`` (drifted when the statistic reaches the threshold, which the model's
  ``drift.thresholds.<name>`` may set);
- ``fit(reference, settings)``: state from the whole reference (sorted finite values, or counts
  by level), stored in the reference profile beside the shared per-feature profile;
- ``accumulator(profile, state, settings)``: a per-window accumulator with ``add(batch)``,
  ``merge(other)`` and ``result()`` -> :class:`monitoring.drift.results.MethodResult`.

``merge`` is what a distributed engine calls: an accumulator fed any split of a window into
batches, merged, gives the result of one accumulator fed the whole window (a property test holds
every method to it). The engine prepares each batch once per feature (numeric: the finite values,
sorted; categorical: counts by level, missing values left out), so methods never sort twice.

The registry (:func:`registry`) imports every module of this package whose name does not start
with ``_`` and collects its ``METHOD``: adding a method is adding a module (see
``jensen_shannon.py``, the worked example). The pure arithmetic the methods share lives in
monitoring.drift.stats and is re-exported here for existing callers.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from core.errors import InvalidInput
from monitoring.drift.results import MethodResult
from monitoring.drift.stats import *  # noqa: F403  (the shared arithmetic, re-exported)
from monitoring.drift.stats import SCIPY_EXACT_MAX_N  # noqa: F401  (named for readers and linters)

#: The methods a model uses unless its models file says otherwise: KS for numeric features,
#: chi-square for categorical ones, PSI for both (severity and the categorical effect size).
DEFAULT_METHODS = ("ks", "psi", "chi2")


@dataclass(frozen=True)
class NumericBatch:
    """One batch of a numeric feature: its finite values (missing and +-inf left out), sorted."""

    values: np.ndarray


@dataclass(frozen=True)
class CategoricalBatch:
    """One batch of a categorical feature: counts by level (string form), missing left out."""

    counts: Mapping[str, int]


@dataclass(frozen=True)
class Settings:
    """What the methods and the decision read: the model's thresholds, as data."""

    alpha: float = 0.05
    correction: str = "bh"
    min_effect_ks: float = 0.02
    min_effect_psi: float = 0.1
    bins: int = 10
    exact_cap: int = 100_000  # current values kept for exact statistics (the profile's cap)
    thresholds: Mapping[str, float] = field(default_factory=dict)  # distance method -> threshold

    def threshold(self, method: DriftMethod) -> float:
        if method.threshold_on == "p_value":
            return self.alpha
        return float(self.thresholds.get(method.name, method.default_threshold))


class Accumulator(Protocol):
    def add(self, batch: Any) -> None: ...

    def merge(self, other: Any) -> Any: ...

    def result(self) -> MethodResult: ...


class DriftMethod:
    """Base of a drift method (see the module docstring); subclasses set the class attributes."""

    name: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]]
    default_threshold: ClassVar[float]
    threshold_on: ClassVar[str]  # "p_value" | "distance"

    @property
    def doc(self) -> str:
        return (type(self).__doc__ or "").strip()

    def fit(self, reference: NumericBatch | CategoricalBatch, settings: Settings) -> dict[str, Any]:
        """State from the whole reference, stored in the profile (numpy arrays or JSON values).
        Default: none (the method reads the shared feature profile)."""
        del reference, settings
        return {}

    def accumulator(self, profile: Any, state: Mapping[str, Any], settings: Settings) -> Accumulator:
        raise NotImplementedError

    def severity(self, statistic: float | None, threshold: float) -> str:
        """none / moderate / significant for a distance (tests: decided by the engine).
        Default: below the threshold none, below 2.5 x threshold moderate (PSI's 0.1 / 0.25)."""
        if statistic is None or not np.isfinite(statistic) or statistic < threshold:
            return "none"
        return "moderate" if statistic < 2.5 * threshold else "significant"

    def row(self, feature: str, settings: Settings, statistic: float | None, p_value: float | None = None,
            **extra: Any) -> MethodResult:
        """A result row with this method's name, threshold and (raw) decision."""
        threshold = settings.threshold(self)
        if self.threshold_on == "p_value":
            effect, floor = extra.get("effect"), extra.get("min_effect")
            drifted = (p_value is not None and p_value < threshold
                       and (floor is None or (effect is not None and effect >= floor)))
            severity = "none"
        else:
            drifted = statistic is not None and statistic >= threshold
            severity = self.severity(statistic, threshold)
        return MethodResult(feature=feature, method=self.name, statistic=statistic, p_value=p_value,
                            threshold=threshold, drifted=bool(drifted), severity=severity,
                            threshold_on=self.threshold_on, **extra)


_REGISTRY: dict[str, DriftMethod] = {}


def register(method: DriftMethod) -> DriftMethod:
    """Add a method to the registry (discovery calls it for each module's ``METHOD``)."""
    if method.name in _REGISTRY and _REGISTRY[method.name] is not method:
        raise ValueError(f"drift method {method.name!r} registered twice")
    _REGISTRY[method.name] = method
    return method


def registry() -> dict[str, DriftMethod]:
    """Every method of this package, by name (modules imported on the first call)."""
    if not _REGISTRY:
        for info in pkgutil.iter_modules(__path__):
            if info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{__name__}.{info.name}")
            if isinstance(getattr(module, "METHOD", None), DriftMethod):
                register(module.METHOD)
    return _REGISTRY


def get_method(name: str) -> DriftMethod:
    try:
        return registry()[name]
    except KeyError:
        raise InvalidInput(f"unknown drift method {name!r}; known: {', '.join(sorted(registry()))}") from None


def select(names: Sequence[str] | None = None) -> tuple[DriftMethod, ...]:
    """The methods named (default DEFAULT_METHODS), each once, in the given order; InvalidInput
    for an unknown name."""
    chosen = list(dict.fromkeys(names if names else DEFAULT_METHODS))
    return tuple(get_method(n) for n in chosen)


def for_kind(selected: Sequence[DriftMethod], kind: str) -> tuple[DriftMethod, ...]:
    return tuple(m for m in selected if kind in m.kinds)
