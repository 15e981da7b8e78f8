"""Global importance, bootstrap intervals and beeswarm data (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InvalidInput
from monitoring.explain.importance import ImportanceResult, beeswarm_data, global_importance, top_features


def test_mean_absolute_shap_ranks_features() -> None:
    values = np.array([[1.0, -2.0, 0.0], [-3.0, 2.0, 0.5], [2.0, 2.0, -0.5]])
    result = global_importance(values, ["a", "b", "c"], n_boot=0)
    assert [f.feature for f in result.features] == ["a", "b", "c"] or result.features[0].mean_abs == 2.0
    by_name = {f.feature: f for f in result.features}
    assert by_name["a"].mean_abs == pytest.approx(2.0)
    assert by_name["b"].mean_abs == pytest.approx(2.0)
    assert by_name["c"].mean_abs == pytest.approx(1 / 3)
    assert [f.rank for f in result.features] == [1, 2, 3]
    assert [f.feature for f in result.features] == ["a", "b", "c"]  # tie a/b broken by name
    assert sum(f.share for f in result.features) == pytest.approx(1.0)
    assert by_name["a"].mean == pytest.approx(0.0)
    assert top_features(result, 1) == ("a",)


def test_bootstrap_interval_brackets_the_mean_and_is_deterministic(rng) -> None:
    values = rng.normal(size=(500, 4)) * np.array([1.0, 2.0, 0.1, 0.5])
    first = global_importance(values, list("abcd"), n_boot=300, seed=3)
    again = global_importance(values, list("abcd"), n_boot=300, seed=3)
    assert first == again
    for f in first.features:
        assert f.low <= f.mean_abs <= f.high
        assert f.high - f.low < 0.5 * f.mean_abs  # 500 rows: a narrow interval
    assert first.top(2) == ("b", "a")
    assert ImportanceResult.from_json_dict(first.to_json_dict()) == first


def test_invalid_input_is_rejected() -> None:
    with pytest.raises(InvalidInput):
        global_importance(np.zeros((3, 2)), ["a"])
    with pytest.raises(InvalidInput):
        global_importance(np.zeros((0, 1)), ["a"])


def test_beeswarm_points_carry_scaled_feature_values(rng) -> None:
    values = rng.normal(size=(1000, 3))
    data = rng.normal(size=(1000, 3))
    data[0, 2] = np.nan
    swarm = beeswarm_data(values, data, ["a", "b", "c"], max_points=100, features=["c", "a"])
    assert [b.feature for b in swarm] == ["c", "a"]
    assert all(len(b.shap_values) == 100 for b in swarm)
    scaled = [v for b in swarm for v in b.scaled_values if v is not None]
    assert min(scaled) >= 0 and max(scaled) <= 1
    assert beeswarm_data(values, data, ["a", "b", "c"], max_points=100) == beeswarm_data(
        values, data, ["a", "b", "c"], max_points=100
    )
