"""The demo's models: deterministic training, a forward pass shaped as the registry promises."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from demo.data import load
from demo.models import SPECS, BreastCancerMLP, predict_proba, retrain_spec, train


@pytest.fixture(scope="module", autouse=True)
def _one_thread():  # type: ignore[no-untyped-def]
    """Tiny models: one thread is fastest and keeps the shared cores free."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def breast_cancer():  # type: ignore[no-untyped-def]
    return load("breast-cancer")


def test_training_with_the_same_spec_gives_the_same_model(breast_cancer) -> None:  # type: ignore[no-untyped-def]
    a, metrics_a = train(breast_cancer, SPECS["breast-cancer"][1])
    b, metrics_b = train(breast_cancer, SPECS["breast-cancer"][1])
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert metrics_a == metrics_b


def test_forward_takes_raw_features_and_returns_probabilities(breast_cancer) -> None:  # type: ignore[no-untyped-def]
    model, _ = train(breast_cancer, SPECS["breast-cancer"][2])
    x = torch.as_tensor(breast_cancer.X_test[:7], dtype=torch.float32)
    out = model(x)
    assert out.shape == (7, 1)
    assert torch.equal(out, model(x))  # eval mode: the same input gives the same output
    assert bool(((out > 0) & (out < 1)).all())
    assert {"mean", "std"} <= set(model.state_dict())  # standardisation travels with the weights
    malignant = breast_cancer.X_test[breast_cancer.y_test == 1]
    benign = breast_cancer.X_test[breast_cancer.y_test == 0]
    assert predict_proba(model, malignant).mean() > 0.8
    assert predict_proba(model, benign).mean() < 0.2


def test_versions_improve_and_the_champion_passes_the_release_gates(breast_cancer) -> None:  # type: ignore[no-untyped-def]
    accuracy = [train(breast_cancer, spec)[1]["accuracy"] for spec in SPECS["breast-cancer"]]
    assert accuracy[0] < accuracy[1] < accuracy[2]
    champion = train(breast_cancer, SPECS["breast-cancer"][2])[1]
    assert champion["accuracy"] >= 0.90 and champion["roc_auc"] >= 0.95  # config gates
    assert accuracy[0] < 0.90  # v1 would fail the accuracy gate: the demo shows a refusal
    rmse = [train(load("diabetes"), spec)[1]["rmse"] for spec in SPECS["diabetes"]]
    assert rmse[0] > rmse[1] > rmse[2] and rmse[2] < 65.0


def test_retrain_uses_the_champion_recipe_with_a_new_seed() -> None:
    first, second = retrain_spec("breast-cancer", 1), retrain_spec("breast-cancer", 2)
    assert first.name == "retrain-1" and second.name == "retrain-2"
    assert first.params["hidden"] == SPECS["breast-cancer"][-1].params["hidden"]
    assert first.params["seed"] != second.params["seed"]


def test_zero_spread_features_do_not_divide_by_zero() -> None:
    model = BreastCancerMLP(np.zeros(3), np.array([1.0, 0.0, 2.0]), hidden=[2])
    assert torch.isfinite(model(torch.ones(2, 3))).all()
