"""The demo's models and how each version is trained (fixed seeds, so every build is the same).

``BreastCancerMLP`` is pickled into MLflow (``serialization_format="pickle"``), so this class
must stay importable as ``demo.models.BreastCancerMLP`` for saved versions to load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from demo.data import DemoDataset


class BreastCancerMLP(nn.Module):
    """Raw cell-nucleus measurements in, probability of malignant out, shape (n, 1).

    Standardisation lives inside the module (buffers ``mean`` and ``std``), so callers feed
    the 30 features exactly as logged.
    """

    def __init__(self, mean: np.ndarray, std: np.ndarray, hidden: Sequence[int] = (16,)):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(np.where(std > 0, std, 1.0), dtype=torch.float32))
        layers: list[nn.Module] = []
        width = len(mean)
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))


@dataclass(frozen=True)
class VersionSpec:
    """How one demo version is trained; ``name`` is stored as the version tag ``demo_spec``."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""


BREAST_CANCER_SPECS: tuple[VersionSpec, ...] = (
    VersionSpec(
        "v1",
        {"hidden": [4], "epochs": 10, "lr": 0.005, "weight_decay": 0.0, "seed": 2},
        "MLP 30-4-1, 10 epochs: an undertrained baseline",
    ),
    VersionSpec(
        "v2",
        {"hidden": [8], "epochs": 30, "lr": 0.01, "weight_decay": 0.0, "seed": 1},
        "MLP 30-8-1, 30 epochs",
    ),
    VersionSpec(
        "v3",
        {"hidden": [8], "epochs": 60, "lr": 0.01, "weight_decay": 0.0, "seed": 1},
        "MLP 30-8-1, 60 epochs",
    ),
)
DIABETES_SPECS: tuple[VersionSpec, ...] = (
    VersionSpec(
        "v1",
        {"n_estimators": 10, "max_depth": 1, "learning_rate": 0.1, "subsample": 1.0, "random_state": 1},
        "10 stumps: a quick baseline",
    ),
    VersionSpec(
        "v2",
        {"n_estimators": 60, "max_depth": 2, "learning_rate": 0.05, "subsample": 1.0, "random_state": 2},
        "60 trees of depth 2",
    ),
    VersionSpec(
        "v3",
        {"n_estimators": 100, "max_depth": 1, "learning_rate": 0.1, "subsample": 1.0, "random_state": 3},
        "100 stumps",
    ),
)
SPECS = {"breast-cancer": BREAST_CANCER_SPECS, "diabetes": DIABETES_SPECS}


def retrain_spec(model: str, n: int) -> VersionSpec:
    """The n-th retrain (1-based): the champion recipe with a new seed."""
    base = SPECS[model][-1]
    params = dict(base.params)
    key = "seed" if "seed" in params else "random_state"
    params[key] = int(params[key]) + 100 * n
    return VersionSpec(f"retrain-{n}", params, f"{base.description} (retrain {n}, seed {params[key]})")


def train_breast_cancer(data: DemoDataset, spec: VersionSpec) -> BreastCancerMLP:
    p = spec.params
    torch.manual_seed(int(p["seed"]))
    X = torch.as_tensor(data.X_train, dtype=torch.float32)
    y = torch.as_tensor(data.y_train, dtype=torch.float32).reshape(-1, 1)
    model = BreastCancerMLP(data.X_train.mean(axis=0), data.X_train.std(axis=0), hidden=p["hidden"])
    optimiser = torch.optim.Adam(model.parameters(), lr=float(p["lr"]), weight_decay=float(p["weight_decay"]))
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    for _ in range(int(p["epochs"])):
        optimiser.zero_grad()
        loss = loss_fn(model.logits(X), y)
        loss.backward()
        optimiser.step()
    model.eval()
    return model


def predict_proba(model: nn.Module, X: np.ndarray, device: str = "cpu") -> np.ndarray:
    with torch.no_grad():
        out = model(torch.as_tensor(X, dtype=torch.float32, device=device))
    return out.reshape(-1).detach().cpu().numpy().astype(np.float64)


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    pred = (proba >= 0.5).astype(int)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, proba)),
    }


def train_diabetes(data: DemoDataset, spec: VersionSpec) -> Any:
    from sklearn.ensemble import GradientBoostingRegressor

    model = GradientBoostingRegressor(**spec.params)
    model.fit(data.X_train, data.y_train)
    return model


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {
        "rmse": float(np.sqrt(mean_squared_error(y, pred))),
        "mae": float(mean_absolute_error(y, pred)),
        "r2": float(r2_score(y, pred)),
    }


def train(data: DemoDataset, spec: VersionSpec) -> tuple[Any, dict[str, float]]:
    """Train one version and score it on the held-out split."""
    if data.model == "breast-cancer":
        model = train_breast_cancer(data, spec)
        return model, classification_metrics(data.y_test, predict_proba(model, data.X_test))
    model = train_diabetes(data, spec)
    return model, regression_metrics(data.y_test, model.predict(data.X_test))
