"""Attribution drift and "drift that matters": pure functions of importance vectors.

Attribution drift (after Vertex AI Model Monitoring's feature-attribution drift): normalise
each importance vector to shares ``p_j = I_j / sum_k I_k`` and take half the L1 distance,

    d = 1/2 * sum_j |p_ref_j - p_cur_j|        (0 = same shares, 1 = disjoint)

which is the total-variation distance between the two share vectors. Drift is flagged when
``d > threshold`` (config ``thresholds.attribution_drift``, 0.2 by default). Rank changes list
each feature's rank in both vectors (rank 1 = most important).

Drift that matters: a feature's drift severity weighted by its share of the importance,
``impact_j = severity_j * p_j``, so a drifted feature that moves predictions ranks above a
drifted feature the model ignores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput
from monitoring.explain.importance import rank_order

DEFAULT_THRESHOLD = 0.2


def shares(vector: Mapping[str, float]) -> dict[str, float]:
    """Importance shares summing to 1 (all zeros stay zeros)."""
    for name, value in vector.items():
        if not value >= 0:  # negative or NaN
            raise InvalidInput(f"importance of {name!r} must be a non-negative number, got {value}")
    total = float(sum(vector.values()))
    return {name: (float(v) / total if total > 0 else 0.0) for name, v in vector.items()}


@dataclass(frozen=True)
class RankChange:
    feature: str
    reference_rank: int
    current_rank: int
    reference_share: float
    current_share: float

    @property
    def change(self) -> int:
        """Positive: the feature moved up (became more important)."""
        return self.reference_rank - self.current_rank


@dataclass(frozen=True)
class AttributionDrift:
    distance: float  # half L1 distance of the share vectors, in [0, 1]
    threshold: float
    changes: tuple[RankChange, ...]  # biggest |share change| first

    @property
    def drifted(self) -> bool:
        return self.distance > self.threshold

    @property
    def rank_changes(self) -> tuple[RankChange, ...]:
        return tuple(c for c in self.changes if c.change != 0)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "distance": self.distance,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "changes": [{**c.__dict__, "change": c.change} for c in self.changes],
        }


def attribution_drift(
    reference: Mapping[str, float], current: Mapping[str, float], *, threshold: float = DEFAULT_THRESHOLD
) -> AttributionDrift:
    """Compare two importance vectors (feature -> mean |SHAP|)."""
    if threshold < 0:
        raise InvalidInput("the attribution drift threshold must be >= 0")
    names = sorted(set(reference) | set(current))
    if not names:
        raise InvalidInput("no features to compare")
    ref = shares({n: float(reference.get(n, 0.0)) for n in names})
    cur = shares({n: float(current.get(n, 0.0)) for n in names})
    distance = 0.5 * sum(abs(ref[n] - cur[n]) for n in names)
    ref_rank = {n: i for i, n in enumerate(rank_order(ref), start=1)}
    cur_rank = {n: i for i, n in enumerate(rank_order(cur), start=1)}
    changes = [RankChange(n, ref_rank[n], cur_rank[n], ref[n], cur[n]) for n in names]
    changes.sort(key=lambda c: (-abs(c.current_share - c.reference_share), c.current_rank))
    return AttributionDrift(
        distance=float(min(max(distance, 0.0), 1.0)), threshold=float(threshold), changes=tuple(changes)
    )


@dataclass(frozen=True)
class FeatureImpact:
    feature: str
    severity: float  # drift severity as the drift check measured it (0 = none)
    importance_share: float  # share of the model's importance (0 for features that are not inputs)
    impact: float  # severity * importance_share
    drifted: bool
    is_model_input: bool


@dataclass(frozen=True)
class DriftThatMatters:
    features: tuple[FeatureImpact, ...]  # highest impact first

    @property
    def total_impact(self) -> float:
        return float(sum(f.impact for f in self.features))

    def drifted_that_matter(self, minimum_share: float = 0.0) -> tuple[FeatureImpact, ...]:
        return tuple(f for f in self.features if f.drifted and f.importance_share > minimum_share)


def drift_that_matters(
    importance: Mapping[str, float], severity: Mapping[str, float], drifted: Mapping[str, bool] | None = None
) -> DriftThatMatters:
    """Rank features by drift severity weighted by importance share.

    ``severity`` holds each feature's drift severity (any non-negative scale, e.g. the drift
    check's severity in [0, 1]); ``drifted`` whether the check flagged it (default: severity > 0).
    Features in ``severity`` but not in ``importance`` (metadata such as a site) get share 0.
    """
    share = shares({n: float(v) for n, v in importance.items()})
    names = sorted(set(severity) | set(share))
    out = []
    for name in names:
        sev = float(severity.get(name, 0.0))
        if not sev >= 0:  # negative or NaN
            raise InvalidInput(f"drift severity of {name!r} must be a non-negative number, got {sev}")
        flagged = bool(drifted.get(name, False)) if drifted is not None else sev > 0
        s = share.get(name, 0.0)
        out.append(
            FeatureImpact(
                feature=name,
                severity=sev,
                importance_share=s,
                impact=sev * s,
                drifted=flagged,
                is_model_input=name in share,
            )
        )
    out.sort(key=lambda f: (-f.impact, -f.severity, -f.importance_share, f.feature))
    return DriftThatMatters(features=tuple(out))
