"""Run the registered models over a timeline, batch by batch, as an inference server would.

The breast-cancer MLP runs in torch (on CUDA when a GPU is present, reading the GPU's index,
utilisation and allocated memory after each batch); the diabetes model is a scikit-learn
estimator on the CPU, so its GPU fields stay empty.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from demo.timeline import Timeline


@dataclass(frozen=True)
class Served:
    """Per-request model outputs aligned with the timeline's rows (None/NaN where failed)."""

    prediction: np.ndarray  # object: int class / float value / None
    score: np.ndarray  # float64, NaN when absent
    gpu_id: np.ndarray  # object: int / None
    gpu_utilization: np.ndarray  # object: float / None
    gpu_memory_mb: np.ndarray  # object: float / None


def torch_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def gpu_reading(device: str) -> tuple[int | None, float | None, float | None]:
    """(device index, utilisation %, allocated MiB) from torch.cuda; all None on CPU."""
    if not device.startswith("cuda"):
        return None, None, None
    import torch

    index = torch.cuda.current_device()
    try:
        utilization: float | None = float(torch.cuda.utilization(index))
    except Exception:  # noqa: BLE001  needs NVML (pynvml / nvidia-ml-py); absent means unknown
        utilization = None
    memory = round(torch.cuda.memory_allocated(index) / 2**20, 2)
    return index, utilization, memory


def _batch_bounds(timeline: Timeline) -> np.ndarray:
    """Start offsets of each batch plus the end (batches are consecutive rows)."""
    starts = np.flatnonzero(np.r_[True, timeline.batch[1:] != timeline.batch[:-1]])
    return np.r_[starts, len(timeline)]


def serve(
    timeline: Timeline,
    models: Mapping[str, Any],
    *,
    task: str,
    device: str = "cpu",
    progress: Callable[[str], None] | None = None,
) -> Served:
    """Score every batch with the model of its version spec (``models``: spec -> model)."""
    n = len(timeline)
    prediction = np.full(n, None, dtype=object)
    score = np.full(n, np.nan)
    gpu_id = np.full(n, None, dtype=object)
    gpu_util = np.full(n, None, dtype=object)
    gpu_mem = np.full(n, None, dtype=object)
    bounds = _batch_bounds(timeline)
    ok = timeline.status == "ok"
    use_torch = task == "classification"
    if use_torch:
        import torch

        tensor = torch.as_tensor(timeline.X, dtype=torch.float32)
    for b in range(len(bounds) - 1):
        lo, hi = int(bounds[b]), int(bounds[b + 1])
        spec = timeline.version_spec[lo]
        model = models[spec]
        if use_torch:
            with torch.no_grad():
                out = model(tensor[lo:hi].to(device)).reshape(-1).cpu().numpy().astype(np.float64)
            score[lo:hi] = np.round(out, 6)
            prediction[lo:hi] = (out >= 0.5).astype(int).tolist()
            reading = gpu_reading(device)
            gpu_id[lo:hi], gpu_util[lo:hi], gpu_mem[lo:hi] = reading
        else:
            prediction[lo:hi] = np.round(model.predict(timeline.X[lo:hi]), 3).tolist()
        if progress and b and b % 2000 == 0:
            progress(f"{timeline.model}: {b}/{len(bounds) - 1} batches served")
    prediction[~ok] = None
    score[~ok] = np.nan
    return Served(prediction, score, gpu_id, gpu_util, gpu_mem)
