"""Attribution drift and drift that matters (pure), on hand-computed cases."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from monitoring.explain.attribution import attribution_drift, drift_that_matters, shares


def test_attribution_drift_hand_computed() -> None:
    # shares: reference a .75 b .25 c 0; current a .25 b .25 c .5
    # distance = 1/2 (|.75-.25| + 0 + |0-.5|) = 0.5
    result = attribution_drift({"a": 3.0, "b": 1.0, "c": 0.0}, {"a": 1.0, "b": 1.0, "c": 2.0}, threshold=0.2)
    assert result.distance == pytest.approx(0.5)
    assert result.drifted
    ranks = {c.feature: (c.reference_rank, c.current_rank, c.change) for c in result.changes}
    assert ranks == {"a": (1, 2, -1), "b": (2, 3, -1), "c": (3, 1, 2)}
    assert {c.feature for c in result.rank_changes} == {"a", "b", "c"}
    assert result.changes[0].feature in {"a", "c"}  # the biggest share changes come first
    assert result.to_json_dict()["drifted"] is True


def test_a_rescaled_importance_vector_is_not_drift() -> None:
    result = attribution_drift({"a": 2.0, "b": 1.0}, {"a": 20.0, "b": 10.0})
    assert result.distance == pytest.approx(0.0)
    assert not result.drifted and result.rank_changes == ()


def test_threshold_is_respected_and_missing_features_count_as_zero() -> None:
    small = attribution_drift({"a": 0.5, "b": 0.5}, {"a": 0.6, "b": 0.4}, threshold=0.2)
    assert small.distance == pytest.approx(0.1) and not small.drifted
    disjoint = attribution_drift({"a": 1.0}, {"b": 1.0})
    assert disjoint.distance == pytest.approx(1.0)
    with pytest.raises(InvalidInput):
        shares({"a": -1.0})


def test_drift_that_matters_ranks_an_important_drifted_feature_first() -> None:
    result = drift_that_matters(
        importance={"important": 0.9, "unimportant": 0.1, "stable": 0.0},
        severity={"important": 0.3, "unimportant": 0.6, "stable": 0.0, "site": 1.0},
        drifted={"important": True, "unimportant": True, "stable": False, "site": True},
    )
    order = [f.feature for f in result.features]
    assert order.index("important") < order.index("unimportant")
    top = result.features[0]
    assert top.feature == "important" and top.impact == pytest.approx(0.27)
    unimportant = next(f for f in result.features if f.feature == "unimportant")
    assert unimportant.impact == pytest.approx(0.06)
    site = next(f for f in result.features if f.feature == "site")
    assert site.impact == 0 and not site.is_model_input and site.drifted
    assert [f.feature for f in result.drifted_that_matter()] == ["important", "unimportant"]
