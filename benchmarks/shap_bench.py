"""SHAP benchmark: the demo's torch model, 30 features, 1,000 explained rows against 100
background rows. Target: DeepExplainer under 30 s on two CPU cores.

    python -m benchmarks.shap_bench [--threads 2] [--repeats 3] [--rows 1000] [--background 100]

Runs on the GPU when torch sees one (the device is reported), otherwise on the CPU with
``torch.set_num_threads(--threads)``. Times are medians of ``--repeats`` runs of
monitoring.explain.runner (building the explainer included); the permutation explainer is
timed on a few rows for reference and reported per row. Figures go to benchmarks/RESULTS.md,
section "shap".
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import core  # noqa: F401  (telemetry off)
from benchmarks._results import machine_line, write_section


def demo_model_and_data(seed: int = 0):  # type: ignore[no-untyped-def]
    """The demo's BreastCancerMLP (30-8-1, the champion's recipe) trained on breast_cancer."""
    import torch
    from sklearn.datasets import load_breast_cancer

    from demo.models import BreastCancerMLP

    data = load_breast_cancer()
    x, y = data.data.astype(np.float64), data.target.astype(np.float64)
    torch.manual_seed(1)
    model = BreastCancerMLP(x.mean(axis=0), x.std(axis=0), hidden=(8,))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32).reshape(-1, 1)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for _ in range(60):
        optimiser.zero_grad()
        loss_fn(model.logits(xt), yt).backward()
        optimiser.step()
    model.eval()
    names = [str(n).replace(" ", "_") for n in data.feature_names]
    return model, x, names


CPU_TIMES: dict[str, float] = {}


def _time(fn, repeats: int, name: str = "") -> tuple[float, list[float], object]:  # type: ignore[no-untyped-def]
    """Median wall time of ``repeats`` runs; the median process CPU time goes to CPU_TIMES[name]."""
    times, cpu, result = [], [], None
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    CPU_TIMES[name] = statistics.median(cpu)
    return statistics.median(times), times, result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--background", type=int, default=100)
    p.add_argument("--permutation-rows", type=int, default=5)
    p.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = p.parse_args()

    import torch

    from monitoring.explain import runner

    torch.set_num_threads(args.threads)
    device = runner.torch_device()
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else None
    model, x, names = demo_model_and_data()
    rng = np.random.default_rng(0)
    background = x[rng.choice(len(x), size=args.background, replace=False)]
    rows = x[rng.choice(len(x), size=args.rows, replace=True)]

    def deep():  # type: ignore[no-untyped-def]
        return runner.run_explainer(model, background, rows, names, method="deep", device=device)

    def gradient():  # type: ignore[no-untyped-def]
        return runner.run_explainer(model, background, rows, names, method="gradient", device=device)

    runner.run_explainer(model, background, rows[:5], names, method="deep", device=device)  # warm-up/imports
    deep_s, deep_all, deep_result = _time(deep, args.repeats, "deep")
    grad_s, grad_all, grad_result = _time(gradient, args.repeats, "gradient")
    cpu_model = model.cpu()

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return cpu_model(torch.as_tensor(batch, dtype=torch.float32))[:, 0].numpy()

    prows = rows[: args.permutation_rows]
    # The first permutation run JIT-compiles shap's numba masking code (~25 s on 2 busy cores).
    runner.run_explainer(predict, background, prows[:1], names, method="permutation", max_evals=500)
    perm_s, _, perm_result = _time(
        lambda: runner.run_explainer(
            predict, background, prows, names, method="permutation", task="classification", max_evals=500
        ),
        1,
        "permutation",
    )
    per_row = perm_s / len(prows)

    load = ", ".join(f"{v:.1f}" for v in __import__("os").getloadavg())
    where = f"GPU {gpu} (cuda)" if gpu else f"CPU, torch.set_num_threads({args.threads})"
    status = "meets" if deep_s < 30 else "MISSES"
    lines = [
        "## SHAP explainers (benchmarks/shap_bench.py)",
        "",
        (
            f"Machine: {machine_line()}; device: {where}; torch {torch.__version__}, shap "
            f"{__import__('shap').__version__}."
        ),
        (
            f"Model: the demo's BreastCancerMLP 30-8-1 (standardisation inside, sigmoid output); "
            f"{args.rows} explained rows, {args.background} background rows; median of {args.repeats}."
        ),
        "",
        "| explainer | wall time | per row | process CPU time | additivity max error | runs (s) |",
        "|---|---|---|---|---|---|",
        (
            f"| DeepExplainer | {deep_s:.2f} s | {1000 * deep_s / args.rows:.2f} ms | {CPU_TIMES['deep']:.2f} s | "
            f"{deep_result.additivity_max_error:.2e} | {', '.join(f'{t:.2f}' for t in deep_all)} |"
        ),
        (
            f"| GradientExplainer (200 samples) | {grad_s:.2f} s | {1000 * grad_s / args.rows:.2f} ms | {CPU_TIMES['gradient']:.2f} s | "
            f"{grad_result.additivity_max_error:.2e} | {', '.join(f'{t:.2f}' for t in grad_all)} |"
        ),
        (
            f"| permutation (max_evals 500, CPU, {len(prows)} rows) | {perm_s:.2f} s | {1000 * per_row:.1f} ms | {CPU_TIMES['permutation']:.2f} s | "
            f"{perm_result.additivity_max_error:.2e} | for reference: ~{per_row * args.rows:.0f} s for {args.rows} rows |"
        ),
        "",
        (
            f"Target: DeepExplainer under 30 s for {args.rows} rows: {status} ({deep_s:.2f} s wall, "
            f"{CPU_TIMES['deep']:.2f} s CPU). Load average during the run: {load}."
        ),
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("shap-gpu" if gpu else "shap", text)


if __name__ == "__main__":
    main()
