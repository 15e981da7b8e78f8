"""Small models for the explainability tests (the demo's models are trained elsewhere)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest


def make_torch_mlp(
    n_features: int,
    *,
    seed: int = 0,
    only: tuple[int, ...] | None = None,
    mean: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> Any:
    """The demo's architecture in small: standardisation inside, ReLU MLP, sigmoid probability.

    With ``only``, the first layer ignores every other input, so the output depends on those
    features alone.
    """
    import torch

    torch.manual_seed(seed)

    class MLP(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer(
                "mean",
                torch.as_tensor(mean if mean is not None else np.zeros(n_features), dtype=torch.float32),
            )
            self.register_buffer(
                "scale",
                torch.as_tensor(scale if scale is not None else np.ones(n_features), dtype=torch.float32),
            )
            self.net = torch.nn.Sequential(
                torch.nn.Linear(n_features, 16),
                torch.nn.ReLU(),
                torch.nn.Linear(16, 8),
                torch.nn.ReLU(),
                torch.nn.Linear(8, 1),
                torch.nn.Sigmoid(),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net((x - self.mean) / self.scale).squeeze(1)

    model = MLP()
    if only is not None:
        with torch.no_grad():
            weight = model.net[0].weight
            keep = torch.zeros_like(weight)
            keep[:, list(only)] = 1.0
            weight.mul_(keep).add_(keep * 0.5 * torch.sign(weight))  # strong weights on the kept inputs
    return model.eval()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def names10() -> list[str]:
    return [f"x{i}" for i in range(10)]


@pytest.fixture
def torch_mlp():  # type: ignore[no-untyped-def]
    return make_torch_mlp
