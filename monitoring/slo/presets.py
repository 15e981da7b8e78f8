"""Metric-name presets: the PromQL for SLIs, latency and GPU saturation in the names people have.

Every query is a template with ``{{.window}}`` (Sloth's placeholder) for the range and
``{sel}`` for the label matchers that pick the model. Units are normalised on the way out:
latency in milliseconds, GPU utilisation in percent (0-100), GPU memory in MiB.

| preset | model label | availability | latency SLI | latency figures | GPU |
|---|---|---|---|---|---|
| fastapi | ``model`` | ``model_predictions_total{status=~"error|5.."}`` / all | histogram buckets (``le`` = threshold) | ``histogram_quantile`` p50/p95/p99 | ``gpu_memory_usage_bytes`` |
| triton | ``model`` | ``nv_inference_request_failure`` / (success + failure) (counters without ``_total``) | not available (no histogram) | average only: ``nv_inference_request_duration_us`` / requests, labelled *average* | ``nv_gpu_utilization`` (0-1), ``nv_gpu_memory_used_bytes`` |
| vllm | ``model_name`` | (finished - ``vllm:request_success_total``) / finished, finished = ``vllm:e2e_request_latency_seconds_count`` | histogram buckets | ``histogram_quantile`` | (use dcgm) |
| dcgm | (none: per GPU) | - | - | - | ``DCGM_FI_DEV_GPU_UTIL`` (%), ``DCGM_FI_DEV_FB_USED`` / ``_FREE`` (MiB) |

A latency SLO needs its threshold to be one of the histogram's bucket boundaries (``le``):
``threshold_ms: 250`` selects ``le="0.25"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WINDOW = "{{.window}}"


def le_value(threshold_ms: float) -> str:
    """Bucket boundary label as Prometheus client libraries write it: 250 ms -> ``"0.25"``."""
    seconds = float(threshold_ms) / 1000.0
    text = repr(seconds)
    return text[:-2] if text.endswith(".0") else text


def _le(value: str) -> str:
    return 'le="' + value + '"'


def selector(labels: dict[str, str], extra: str = "") -> str:
    parts = [f'{k}="{v}"' for k, v in sorted(labels.items())]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


@dataclass(frozen=True)
class Preset:
    name: str
    model_label: str | None
    detect_metric: str
    total: str | None = None
    errors: str | None = None
    latency_bucket: str | None = None  # histogram base name (without _bucket)
    latency_unit_to_ms: float = 1000.0
    average_latency: str | None = None  # (sum, count) ratio template, e.g. Triton
    gpu_util: str | None = None
    gpu_util_scale: float = 1.0  # multiply to get percent
    gpu_mem: str | None = None
    gpu_mem_scale: float = 1.0  # multiply to get MiB
    gpu_mem_free: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def labels_for(self, model: str | None) -> dict[str, str]:
        if model and self.model_label:
            return {self.model_label: model}
        return {}

    def quantile(self, q: float, labels: dict[str, str], window: str) -> str | None:
        if self.latency_bucket is None:
            return None
        return (f"histogram_quantile({q}, sum by (le) (rate({self.latency_bucket}_bucket"
                f"{selector(labels)}[{window}]))) * {self.latency_unit_to_ms}")

    def average_ms(self, labels: dict[str, str], window: str) -> str | None:
        if self.average_latency is None:
            return None
        return self.average_latency.format(sel=selector(labels), w=window)

    def gpu_util_query(self, labels: dict[str, str]) -> str | None:
        if self.gpu_util is None:
            return None
        return f"avg({self.gpu_util}{selector(labels)}) * {self.gpu_util_scale}"

    def gpu_mem_query(self, labels: dict[str, str]) -> str | None:
        if self.gpu_mem is None:
            return None
        return f"sum({self.gpu_mem}{selector(labels)}) * {self.gpu_mem_scale}"

    def gpu_mem_headroom_query(self, labels: dict[str, str]) -> str | None:
        """Share of GPU memory still free (0-1), where the preset knows the free memory."""
        if self.gpu_mem is None or self.gpu_mem_free is None:
            return None
        sel = selector(labels)
        return (f"sum({self.gpu_mem_free}{sel}) / (sum({self.gpu_mem}{sel}) + "
                f"sum({self.gpu_mem_free}{sel}))")


FASTAPI = Preset(
    name="fastapi",
    model_label="model",
    detect_metric="model_predictions_total",
    total="sum(rate(model_predictions_total{sel}[{w}]))",
    errors='sum(rate(model_predictions_total{ERRSEL}[{w}]))',
    latency_bucket="model_prediction_latency_seconds",
    latency_unit_to_ms=1000.0,
    gpu_mem="gpu_memory_usage_bytes",
    gpu_mem_scale=1.0 / (1024 * 1024),
    notes=("errors are predictions with status 'error' or an HTTP 5xx code",),
)

TRITON = Preset(
    name="triton",
    model_label="model",
    detect_metric="nv_inference_request_success",
    total=("(sum(rate(nv_inference_request_success{sel}[{w}])) + "
           "sum(rate(nv_inference_request_failure{sel}[{w}])))"),
    errors="sum(rate(nv_inference_request_failure{sel}[{w}]))",
    average_latency=("sum(rate(nv_inference_request_duration_us{sel}[{w}])) / "
                     "(sum(rate(nv_inference_request_success{sel}[{w}])) + "
                     "sum(rate(nv_inference_request_failure{sel}[{w}]))) / 1000"),
    gpu_util="nv_gpu_utilization",
    gpu_util_scale=100.0,
    gpu_mem="nv_gpu_memory_used_bytes",
    gpu_mem_scale=1.0 / (1024 * 1024),
    notes=("Triton has no latency histogram: latency SLOs are not available, latency is an average",),
)

VLLM = Preset(
    name="vllm",
    model_label="model_name",
    detect_metric="vllm:request_success_total",
    total="sum(rate(vllm:e2e_request_latency_seconds_count{sel}[{w}]))",
    errors=("clamp_min(sum(rate(vllm:e2e_request_latency_seconds_count{sel}[{w}])) - "
            "sum(rate(vllm:request_success_total{sel}[{w}])), 0)"),
    latency_bucket="vllm:e2e_request_latency_seconds",
    latency_unit_to_ms=1000.0,
    notes=("vLLM counts successes only: errors = finished requests - successful requests",),
)

DCGM = Preset(
    name="dcgm",
    model_label=None,
    detect_metric="DCGM_FI_DEV_GPU_UTIL",
    gpu_util="DCGM_FI_DEV_GPU_UTIL",
    gpu_util_scale=1.0,
    gpu_mem="DCGM_FI_DEV_FB_USED",
    gpu_mem_scale=1.0,
    gpu_mem_free="DCGM_FI_DEV_FB_FREE",
    notes=("DCGM reports per GPU; it carries no model label",),
)

PRESETS: dict[str, Preset] = {p.name: p for p in (FASTAPI, TRITON, VLLM, DCGM)}
SERVICE_PRESETS = ("fastapi", "triton", "vllm")


def get(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})") from None


def availability_queries(preset: Preset, labels: dict[str, str]) -> tuple[str, str] | None:
    """(error query, total query) templates with ``{{.window}}``."""
    if preset.total is None or preset.errors is None:
        return None
    sel = selector(labels)
    errsel = selector(labels, 'status=~"error|5.."')
    errors = preset.errors.replace("{ERRSEL}", errsel).replace("{sel}", sel).replace("{w}", WINDOW)
    total = preset.total.replace("{sel}", sel).replace("{w}", WINDOW)
    return errors, total


def latency_queries(preset: Preset, labels: dict[str, str], threshold_ms: float) -> tuple[str, str] | None:
    """(slow-request query, total query) from the histogram; None without a histogram."""
    if preset.latency_bucket is None:
        return None
    base = preset.latency_bucket
    le = le_value(threshold_ms)
    total = f"sum(rate({base}_count{selector(labels)}[{WINDOW}]))"
    good = f"sum(rate({base}_bucket{selector(labels, _le(le))}[{WINDOW}]))"
    return f"clamp_min({total} - {good}, 0)", total


def apdex_queries(preset: Preset, labels: dict[str, str], t_ms: float, window: str) -> tuple[str, str, str] | None:
    """(requests <= T, requests <= 4T, all requests) as rates over ``window``.

    Apdex = (satisfied + tolerating / 2) / total with tolerating = (<= 4T) - (<= T). Errors
    count as frustrated because the total is the availability total, which includes them (the
    fastapi histogram is assumed to observe the latency of all predictions; if yours observes
    only successes, errors are still in the total and so still frustrated)."""
    if preset.latency_bucket is None:
        return None
    base = preset.latency_bucket
    sat = f"sum(rate({base}_bucket{selector(labels, _le(le_value(t_ms)))}[{window}]))"
    tol = f"sum(rate({base}_bucket{selector(labels, _le(le_value(4 * t_ms)))}[{window}]))"
    total_t = availability_queries(preset, labels)
    total = (total_t[1].replace(WINDOW, window) if total_t else
             f"sum(rate({base}_count{selector(labels)}[{window}]))")
    return sat, tol, total
