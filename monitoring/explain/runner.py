"""Choose a SHAP explainer for a model and run it, measuring what a reviewer needs to trust it.

Selection (``method="auto"``):

- a torch ``nn.Module`` -> ``shap.DeepExplainer`` (DeepLIFT with a background, exact additivity
  for ReLU/sigmoid MLPs); if it fails on the model's layers, ``shap.GradientExplainer``
  (expected gradients: additivity holds only in expectation). Runs on CUDA when
  ``torch.cuda.is_available()``, on the CPU otherwise.
- a tree ensemble (scikit-learn trees and boosting, XGBoost, LightGBM) -> ``shap.TreeExplainer``
  (interventional against the background; classifiers explained as a probability).
- anything else (an estimator with ``predict``/``predict_proba``, an MLflow pyfunc, a plain
  function of a 2-D array) -> the permutation explainer within ``max_evals`` model evaluations
  per explained row.

What is explained is one number per row: the probability of the positive class for a
classifier, the prediction for a regressor. Additivity check: ``max_i |sum_j phi_ij + base -
f(x_i)|`` compared with ``tolerance * max(1, max_i |f(x_i)|)`` where ``tolerance`` depends on
the explainer (:data:`TOLERANCES`). shap, torch and sklearn are imported lazily.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from core.errors import InvalidInput

Method = Literal["auto", "deep", "gradient", "tree", "permutation"]
Task = Literal["classification", "regression"]

# Relative additivity tolerance per explainer (times max(1, max |output|)). Deep, tree and
# permutation explanations are exact up to floating point; expected gradients are a Monte Carlo
# estimate whose error shrinks with the number of samples, so its tolerance is loose.
TOLERANCES: dict[str, float] = {"deep": 1e-4, "tree": 1e-4, "permutation": 1e-6, "gradient": 0.1}

_TREE_NAMES = (
    "DecisionTree",
    "RandomForest",
    "ExtraTrees",
    "GradientBoosting",
    "HistGradientBoosting",
    "XGB",
    "LGBM",
    "CatBoost",
    "IsolationForest",
    "Booster",
)


@dataclass(frozen=True, eq=False)
class Explanation:
    """SHAP values of ``data`` (rows x features) and how they were obtained."""

    explainer: str  # deep | gradient | tree | permutation
    device: str  # cpu | cuda:0 | ...
    feature_names: tuple[str, ...]
    values: np.ndarray  # (rows, features)
    base_value: float
    outputs: np.ndarray  # model output per row: what the values add up to
    data: np.ndarray  # the explained rows
    background_rows: int
    runtime_s: float
    additivity_max_error: float
    additivity_tolerance: float
    notes: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def additivity_ok(self) -> bool:
        return bool(self.additivity_max_error <= self.additivity_tolerance)


@dataclass(eq=False)
class PreparedExplainer:
    """An explainer built once on a background; :func:`explain` runs it on rows."""

    method: str
    device: str
    feature_names: tuple[str, ...]
    background: np.ndarray
    predict: Callable[[np.ndarray], np.ndarray]  # rows -> explained output (1-D)
    _run: Callable[[np.ndarray], tuple[np.ndarray, float]]  # rows -> (values, base)
    notes: list[str] = field(default_factory=list)


def torch_device() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu`` (CI has no GPU)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def is_torch_module(model: Any) -> bool:
    return any(c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in type(model).__mro__)


def is_tree_model(model: Any) -> bool:
    names = [c.__name__ for c in type(model).__mro__]
    return any(name.startswith(_TREE_NAMES) for name in names)


def model_input_width(model: Any) -> int | None:
    """Number of inputs the model expects, when it says so (first Linear layer, n_features_in_)."""
    if is_torch_module(model):
        import torch

        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                return int(module.in_features)
        return None
    width = getattr(model, "n_features_in_", None)
    return int(width) if width is not None else None


# ----------------------------------------------------------------------------- torch
def _torch_wrapper(model: Any, task: Task) -> Any:
    """The model with a 2-D, single-column output (what DeepExplainer expects).

    DeepLIFT's rules attach to modules, so a sigmoid applied as a function inside ``forward``
    (``torch.sigmoid(self.logits(x))``, as the demo's model does) would be treated as linear
    and break additivity. A classifier that exposes ``logits(x)`` is therefore explained as
    ``nn.Sigmoid()(model.logits(x))`` when that reproduces ``model(x)``.
    """
    import torch

    class _SingleOutput(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module, use_logits: bool):
            super().__init__()
            self.inner = inner
            self.use_logits = use_logits
            self.link = torch.nn.Sigmoid()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.inner.logits(x) if self.use_logits else self.inner(x)
            if out.dim() == 1:
                out = out.unsqueeze(1)
            elif out.shape[1] == 2 and task == "classification":
                out = out[:, 1:2]  # probability of the positive class
            else:
                out = out[:, :1]
            return self.link(out) if self.use_logits else out

    plain = _SingleOutput(model, False).eval()
    if task != "classification" or not callable(getattr(model, "logits", None)):
        return plain
    return _SingleOutput(model, True).eval(), plain


def _prepare_torch(
    model: Any,
    background: np.ndarray,
    task: Task,
    method: str,
    seed: int,
    device: str | None,
    gradient_samples: int,
) -> tuple[str, str, Callable, Callable, list[str]]:
    import shap
    import torch

    dev = torch.device(device or torch_device())
    notes: list[str] = []
    candidate = _torch_wrapper(model, task)
    if isinstance(candidate, tuple):
        via_logits, wrapped = candidate[0].to(dev), candidate[1].to(dev)
        dtype = next((p.dtype for p in wrapped.parameters()), torch.float32)
        probe = torch.as_tensor(background[:50], dtype=dtype, device=dev)
        with torch.no_grad():
            same = torch.allclose(via_logits(probe), wrapped(probe), atol=1e-6)
        if same:
            wrapped = via_logits
    else:
        wrapped = candidate.to(dev)
    dtype = next((p.dtype for p in wrapped.parameters()), torch.float32)
    bg = torch.as_tensor(background, dtype=dtype, device=dev)

    def predict(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = wrapped(torch.as_tensor(rows, dtype=dtype, device=dev))
        return out[:, 0].detach().cpu().numpy().astype(np.float64)

    def _squeeze(values: Any) -> np.ndarray:
        if isinstance(values, list):
            values = values[0]
        arr = np.asarray(values, dtype=np.float64)
        return arr[..., 0] if arr.ndim == 3 else arr

    if method in ("auto", "deep"):
        try:
            deep = shap.DeepExplainer(wrapped, bg)
            base = float(np.asarray(deep.expected_value).reshape(-1)[0])

            def run_deep(rows: np.ndarray) -> tuple[np.ndarray, float]:
                torch.manual_seed(seed)
                x = torch.as_tensor(rows, dtype=dtype, device=dev)
                return _squeeze(deep.shap_values(x, check_additivity=False)), base

            # Fail here, not later: on unsupported layers, or when DeepLIFT's rules do not cover
            # the model's operations (functional nonlinearities break additivity).
            probe_rows = np.asarray(background[:10])
            probe_values, _ = run_deep(probe_rows)
            error = float(np.max(np.abs(probe_values.sum(axis=1) + base - predict(probe_rows))))
            scale = max(1.0, float(np.max(np.abs(predict(probe_rows)))))
            if error > TOLERANCES["deep"] * scale:
                raise ValueError(f"additivity error {error:.3g} on the background probe")
            return "deep", str(dev), predict, run_deep, notes
        except Exception as exc:  # unsupported layer or op: fall back to expected gradients
            if method == "deep":
                raise
            notes.append(f"DeepExplainer failed ({type(exc).__name__}: {exc}); used GradientExplainer")

    grad = shap.GradientExplainer(wrapped, bg, batch_size=max(gradient_samples, 1))
    base = float(predict(np.asarray(background)).mean())

    def run_gradient(rows: np.ndarray) -> tuple[np.ndarray, float]:
        torch.manual_seed(seed)
        x = torch.as_tensor(rows, dtype=dtype, device=dev)
        return _squeeze(grad.shap_values(x, nsamples=gradient_samples, rseed=seed)), base

    return "gradient", str(dev), predict, run_gradient, notes


# ----------------------------------------------------------------------------- trees and others
def _frame_if_named(model: Any, feature_names: Sequence[str]) -> Callable[[np.ndarray], Any]:
    """Estimators fitted on DataFrames want DataFrames back (and warn otherwise)."""
    if getattr(model, "feature_names_in_", None) is not None or _is_pyfunc(model):
        import pandas as pd

        return lambda rows: pd.DataFrame(np.asarray(rows, dtype=np.float64), columns=list(feature_names))
    return lambda rows: np.asarray(rows, dtype=np.float64)


def _is_pyfunc(model: Any) -> bool:
    return type(model).__module__.startswith("mlflow.pyfunc")


def predict_function(
    model: Any, task: Task, feature_names: Sequence[str]
) -> Callable[[np.ndarray], np.ndarray]:
    """rows -> the explained output: P(positive class) for classifiers, the prediction otherwise."""
    as_input = _frame_if_named(model, feature_names)
    if task == "classification" and hasattr(model, "predict_proba"):

        def predict_proba(rows: np.ndarray) -> np.ndarray:
            proba = np.asarray(model.predict_proba(as_input(rows)), dtype=np.float64)
            return proba[:, -1] if proba.ndim == 2 else proba

        return predict_proba
    if hasattr(model, "predict"):

        def predict(rows: np.ndarray) -> np.ndarray:
            out = np.asarray(model.predict(as_input(rows)), dtype=np.float64)
            return out[:, -1] if out.ndim == 2 else out.reshape(-1)

        return predict
    if callable(model):
        return lambda rows: np.asarray(model(np.asarray(rows, dtype=np.float64)), dtype=np.float64).reshape(
            -1
        )
    raise InvalidInput(
        f"cannot explain a {type(model).__name__}: it has no predict method and is not callable"
    )


def _prepare_tree(
    model: Any, background: np.ndarray, task: Task, feature_names: Sequence[str]
) -> tuple[Callable, Callable]:
    import shap

    classifier = task == "classification" and hasattr(model, "predict_proba")
    explainer = shap.TreeExplainer(
        model,
        data=np.asarray(background, dtype=np.float64),
        feature_perturbation="interventional",
        model_output="probability" if classifier else "raw",
    )
    predict = predict_function(model, task, feature_names)
    expected = np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1)
    base = float(expected[-1])

    def run(rows: np.ndarray) -> tuple[np.ndarray, float]:
        values = explainer.shap_values(np.asarray(rows, dtype=np.float64), check_additivity=False)
        if isinstance(values, list):
            values = values[-1]
        arr = np.asarray(values, dtype=np.float64)
        return (arr[..., -1] if arr.ndim == 3 else arr), base

    return predict, run


def _prepare_permutation(
    model: Any, background: np.ndarray, task: Task, feature_names: Sequence[str], max_evals: int, seed: int
) -> tuple[Callable, Callable, list[str]]:
    import shap

    predict = predict_function(model, task, feature_names)
    n_features = background.shape[1]
    evals = max(int(max_evals), 2 * n_features + 1)
    notes = [] if evals == max_evals else [f"max_evals raised to {evals} (2 x features + 1)"]
    masker = shap.maskers.Independent(np.asarray(background, dtype=np.float64), max_samples=len(background))
    explainer = shap.explainers.Permutation(predict, masker, seed=seed)

    def run(rows: np.ndarray) -> tuple[np.ndarray, float]:
        result = explainer(np.asarray(rows, dtype=np.float64), max_evals=evals, silent=True)
        base = float(np.asarray(result.base_values, dtype=np.float64).reshape(-1)[0])
        return np.asarray(result.values, dtype=np.float64), base

    return predict, run, notes


def prepare(
    model: Any,
    background: np.ndarray,
    feature_names: Sequence[str],
    *,
    task: Task = "classification",
    method: Method = "auto",
    max_evals: int = 500,
    seed: int = 0,
    device: str | None = None,
    gradient_samples: int = 200,
) -> PreparedExplainer:
    """Build the explainer for ``model`` on ``background`` (rows x features, model inputs)."""
    background = np.asarray(background, dtype=np.float64)
    if background.ndim != 2 or background.shape[0] == 0:
        raise InvalidInput("the background sample must be a non-empty 2-D array")
    if background.shape[1] != len(feature_names):
        raise InvalidInput(f"background has {background.shape[1]} columns for {len(feature_names)} features")
    width = model_input_width(model)
    if width is not None and width != len(feature_names):
        raise InvalidInput(
            f"the model takes {width} inputs but {len(feature_names)} numeric features "
            "are configured; check the model's feature list in config/models.yaml"
        )
    names = tuple(feature_names)
    np.random.seed(seed)
    if is_torch_module(model) and method in ("auto", "deep", "gradient"):
        chosen, dev, predict, run, notes = _prepare_torch(
            model, background, task, method, seed, device, gradient_samples
        )
        return PreparedExplainer(chosen, dev, names, background, predict, run, notes)
    if method == "tree" or (method == "auto" and is_tree_model(model)):
        try:
            predict, run = _prepare_tree(model, background, task, names)
            return PreparedExplainer("tree", "cpu", names, background, predict, run)
        except Exception as exc:
            if method == "tree":
                raise
            fallback = f"TreeExplainer failed ({type(exc).__name__}: {exc}); used the permutation explainer"
            predict, run, notes = _prepare_permutation(model, background, task, names, max_evals, seed)
            return PreparedExplainer(
                "permutation", "cpu", names, background, predict, run, [fallback, *notes]
            )
    if method in ("deep", "gradient"):
        raise InvalidInput(f"method {method!r} needs a torch nn.Module, got {type(model).__name__}")
    predict, run, notes = _prepare_permutation(model, background, task, names, max_evals, seed)
    return PreparedExplainer("permutation", "cpu", names, background, predict, run, notes)


def explain(
    prepared: PreparedExplainer, rows: np.ndarray, *, seed: int = 0, tolerance: float | None = None
) -> Explanation:
    """SHAP values of ``rows`` with the runtime and the additivity check."""
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != len(prepared.feature_names):
        raise InvalidInput(f"rows must have {len(prepared.feature_names)} columns")
    np.random.seed(seed)
    started = time.perf_counter()
    values, base = prepared._run(rows)
    runtime = time.perf_counter() - started
    values = np.asarray(values, dtype=np.float64).reshape(rows.shape)
    outputs = prepared.predict(rows)
    error = float(np.max(np.abs(values.sum(axis=1) + base - outputs))) if len(rows) else 0.0
    scale = max(1.0, float(np.max(np.abs(outputs)))) if len(rows) else 1.0
    tol = (TOLERANCES[prepared.method] if tolerance is None else tolerance) * scale
    return Explanation(
        explainer=prepared.method,
        device=prepared.device,
        feature_names=prepared.feature_names,
        values=values,
        base_value=float(base),
        outputs=outputs,
        data=rows,
        background_rows=int(prepared.background.shape[0]),
        runtime_s=runtime,
        additivity_max_error=error,
        additivity_tolerance=tol,
        notes=tuple(prepared.notes),
    )


def run_explainer(
    model: Any,
    background: np.ndarray,
    rows: np.ndarray,
    feature_names: Sequence[str],
    *,
    task: Task = "classification",
    method: Method = "auto",
    max_evals: int = 500,
    seed: int = 0,
    device: str | None = None,
    tolerance: float | None = None,
) -> Explanation:
    """:func:`prepare` then :func:`explain`; the runtime includes building the explainer."""
    started = time.perf_counter()
    prepared = prepare(
        model,
        background,
        feature_names,
        task=task,
        method=method,
        max_evals=max_evals,
        seed=seed,
        device=device,
    )
    setup = time.perf_counter() - started
    result = explain(prepared, rows, seed=seed, tolerance=tolerance)
    return Explanation(**{**result.__dict__, "runtime_s": result.runtime_s + setup})
