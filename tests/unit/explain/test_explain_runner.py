"""Each explainer path: additivity, determinism, and the right features on top."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InvalidInput
from monitoring.explain import runner
from monitoring.explain.importance import global_importance


def _data(rng: np.random.Generator, rows: int = 200) -> np.ndarray:
    return rng.normal(size=(rows, 10))


def test_deep_explainer_is_additive_on_a_torch_mlp(rng, names10, torch_mlp) -> None:
    x = _data(rng)
    result = runner.run_explainer(torch_mlp(10), x[:50], x[50:110], names10)
    assert result.explainer == "deep"
    assert result.device == "cpu" or result.device.startswith("cuda")
    assert result.values.shape == (60, 10)
    assert result.background_rows == 50
    assert result.additivity_max_error < 1e-4
    assert result.additivity_ok
    np.testing.assert_allclose(result.values.sum(axis=1) + result.base_value, result.outputs, atol=1e-4)


def test_gradient_explainer_is_additive_within_its_tolerance(rng, names10, torch_mlp) -> None:
    x = _data(rng)
    result = runner.run_explainer(torch_mlp(10), x[:50], x[50:80], names10, method="gradient")
    assert result.explainer == "gradient"
    assert result.additivity_ok, result.additivity_max_error


def test_deep_failure_falls_back_to_gradient(rng, names10, torch_mlp, monkeypatch) -> None:
    import shap

    def broken(*_args, **_kwargs):
        raise RuntimeError("unsupported layer")

    monkeypatch.setattr(shap, "DeepExplainer", broken)
    x = _data(rng)
    result = runner.run_explainer(torch_mlp(10), x[:30], x[30:40], names10)
    assert result.explainer == "gradient"
    assert any("DeepExplainer failed" in note for note in result.notes)


def test_tree_explainer_is_additive_on_gradient_boosting(rng, names10) -> None:
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

    x = _data(rng, 300)
    regressor = GradientBoostingRegressor(n_estimators=30, random_state=0).fit(x, 3 * x[:, 3] - x[:, 7] ** 2)
    result = runner.run_explainer(regressor, x[:50], x[50:150], names10, task="regression")
    assert result.explainer == "tree" and result.additivity_ok
    assert result.additivity_max_error < 1e-6 * max(1.0, float(np.abs(result.outputs).max()))

    classifier = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(x, x[:, 0] + x[:, 1] > 0)
    proba = runner.run_explainer(classifier, x[:50], x[50:100], names10, task="classification")
    assert proba.explainer == "tree" and proba.additivity_ok
    np.testing.assert_allclose(proba.outputs, classifier.predict_proba(x[50:100])[:, 1])


def test_permutation_explainer_is_additive_on_other_models(rng, names10) -> None:
    from sklearn.svm import SVR

    x = _data(rng, 120)
    svr = SVR().fit(x[:60], x[:60, 4])
    result = runner.run_explainer(svr, x[:20], x[60:66], names10, task="regression", max_evals=100)
    assert result.explainer == "permutation" and result.additivity_ok
    assert result.additivity_max_error < 1e-8

    def plain(rows: np.ndarray) -> np.ndarray:
        return 2 * rows[:, 2] + rows[:, 5] ** 2

    result = runner.run_explainer(plain, x[:20], x[60:80], names10, task="regression", max_evals=100)
    assert result.explainer == "permutation" and result.additivity_ok


@pytest.mark.parametrize("method", ["deep", "gradient", "permutation"])
def test_fixed_seeds_give_identical_importance(rng, names10, torch_mlp, method) -> None:
    x = _data(rng)
    model = torch_mlp(10)
    kind = "permutation" if method == "permutation" else method
    target = (
        (
            lambda rows: (
                model(__import__("torch").as_tensor(rows, dtype=__import__("torch").float32)).detach().numpy()
            )
        )
        if method == "permutation"
        else model
    )
    first = runner.run_explainer(target, x[:30], x[30:50], names10, method=kind, seed=7, max_evals=100)
    second = runner.run_explainer(target, x[:30], x[30:50], names10, method=kind, seed=7, max_evals=100)
    np.testing.assert_array_equal(first.values, second.values)
    assert global_importance(first.values, names10, seed=7) == global_importance(
        second.values, names10, seed=7
    )


def test_a_model_that_uses_two_features_ranks_them_on_top(rng, names10, torch_mlp) -> None:
    from sklearn.ensemble import GradientBoostingRegressor

    x = _data(rng, 300)
    deep = runner.run_explainer(torch_mlp(10, only=(3, 8)), x[:50], x[50:150], names10)
    assert set(global_importance(deep.values, names10).top(2)) == {"x3", "x8"}
    assert np.abs(deep.values[:, [0, 1, 2, 4, 5, 6, 7, 9]]).max() < 1e-6

    tree = GradientBoostingRegressor(n_estimators=40, random_state=0).fit(x, 2 * x[:, 1] + np.sin(x[:, 6]))
    explained = runner.run_explainer(tree, x[:50], x[50:150], names10, task="regression")
    assert set(global_importance(explained.values, names10).top(2)) == {"x1", "x6"}

    perm = runner.run_explainer(
        lambda r: r[:, 0] * r[:, 9], x[:20], x[50:70], names10, task="regression", max_evals=100
    )
    assert set(global_importance(perm.values, names10).top(2)) == {"x0", "x9"}


def test_a_width_mismatch_is_a_clear_error(rng, names10, torch_mlp) -> None:
    x = _data(rng)
    with pytest.raises(InvalidInput, match="takes 12 inputs"):
        runner.prepare(torch_mlp(12), np.hstack([x[:10], x[:10, :2]])[:, :10], names10)
    with pytest.raises(InvalidInput, match="columns"):
        runner.prepare(torch_mlp(10), x[:10, :9], names10)
