"""A real Prometheus for tests: backfill OpenMetrics text with promtool, serve it on 127.0.0.1.

Facts this relies on (Debian's prometheus 2.42, see shared FINDINGS): ``promtool tsdb
create-blocks-from openmetrics FILE DIR`` wants timestamps in seconds, a final ``# EOF`` and
data older than about three hours (the head block's range); the server must be started with
``--storage.tsdb.retention.time`` raised or it deletes the old blocks at once.

Fixtures (register with ``pytest_plugins = ["tests.prometheus_server"]`` or import them):

- ``prometheus_factory``: ``start(openmetrics_text) -> PrometheusHandle(url, end)``; servers are
  stopped at the end of the test.
- ``preset_prometheus``: one session-wide server with four days of data in every preset's
  naming (FastAPI-style, Triton, DCGM, vLLM) ending at ``END`` with an incident in the last
  90 minutes (see :func:`preset_scenario`).

A missing binary skips locally and fails under CI=true (``tests.conftest.server_missing``).
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

STEP_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PrometheusHandle:
    url: str
    process: subprocess.Popen
    workdir: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def binaries() -> tuple[str, str] | None:
    prom, tool = shutil.which("prometheus"), shutil.which("promtool")
    return (prom, tool) if prom and tool else None


def backfill_and_serve(openmetrics: str, workdir: Path) -> PrometheusHandle:
    found = binaries()
    if found is None:
        raise FileNotFoundError("prometheus/promtool not on PATH (apt-get install prometheus)")
    prom, tool = found
    if not openmetrics.rstrip().endswith("# EOF"):
        openmetrics = openmetrics.rstrip("\n") + "\n# EOF\n"
    data = workdir / "tsdb"
    data.mkdir(parents=True, exist_ok=True)
    source = workdir / "data.om"
    source.write_text(openmetrics, encoding="utf-8")
    # larger blocks: the default of 2 h makes one block per 2 hours and takes 10x longer
    done = subprocess.run([tool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=96h",
                           str(source), str(data)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"promtool backfill failed: {done.stderr[-2000:]}")
    return serve(prom, "global:\n  scrape_interval: 1m\nscrape_configs: []\n", workdir, data,
                 "--storage.tsdb.retention.time=100y")


def serve_scraping(target: str, workdir: Path) -> PrometheusHandle:
    """Prometheus scraping ``target`` (host:port) every second and evaluating every second."""
    found = binaries()
    if found is None:
        raise FileNotFoundError("prometheus not on PATH (apt-get install prometheus)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = ("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
              f"scrape_configs: [{{job_name: serving, static_configs: [{{targets: ['{target}']}}]}}]\n")
    return serve(found[0], config, workdir, workdir / "tsdb")


def serve(prom: str, config_text: str, workdir: Path, data: Path, *args: str) -> PrometheusHandle:
    """Start ``prom`` on a free port with ``config_text`` and wait (60 s at most) until it is ready."""
    config = workdir / "prometheus.yml"
    config.write_text(config_text, encoding="utf-8")
    port = _free_port()
    log = open(workdir / "prometheus.log", "w")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [prom, f"--config.file={config}", f"--storage.tsdb.path={data}",
         f"--web.listen-address=127.0.0.1:{port}", *args, "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    handle = PrometheusHandle(url, process, workdir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited: {(workdir / 'prometheus.log').read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return handle
        except requests.RequestException:
            pass
        time.sleep(0.2)
    handle.stop()
    raise RuntimeError("prometheus did not become ready within 60 s")


# ---------------------------------------------------------------------------------------
# OpenMetrics text building
# ---------------------------------------------------------------------------------------

def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


class OpenMetrics:
    """Collects families; each family's samples are written together, in time order."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, list[tuple[str, dict[str, str], list[tuple[float, float]]]]]] = {}

    def add(self, family: str, kind: str, sample_name: str, labels: dict[str, str],
            points: list[tuple[float, float]]) -> None:
        self.families.setdefault(family, (kind, []))[1].append((sample_name, labels, points))

    def text(self) -> str:
        out: list[str] = []
        for family, (kind, series) in self.families.items():
            out.append(f"# TYPE {family} {kind}")
            times = sorted({t for _, _, pts in series for t, _ in pts})
            index = [dict(pts) for _, _, pts in series]
            for t in times:
                for (name, labels, _), values in zip(series, index):
                    if t in values:
                        out.append(f"{name}{_labels(labels)} {values[t]:.10g} {int(t)}")
        out.append("# EOF")
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------
# The preset scenario
# ---------------------------------------------------------------------------------------

BUCKETS_S = (0.05, 0.1, 0.25, 0.4, 0.5, 1.0)


@dataclass(frozen=True)
class Scenario:
    end: datetime          # last sample; evaluate SLOs here
    start: datetime
    incident_start: datetime
    text: str


def _end_time() -> datetime:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=6)


def preset_scenario(days: int = 4) -> Scenario:
    """Four days of minute samples ending six hours ago, in each preset's naming.

    Traffic is 10 req/s per model; normally 0.05 % errors and ~2 % of requests over 250 ms;
    during the last 90 minutes 5 % errors and 30 % slow: a page alert for the availability SLO
    at 99.9 % (burn 50 > 14.4) on fastapi (model ``fraud``), triton (``ranker``) and vLLM
    (``llama``). DCGM carries GPU utilisation and frame-buffer memory for two GPUs.
    """
    end = _end_time()
    start = end - timedelta(days=days)
    incident = end - timedelta(minutes=90)
    om = OpenMetrics()
    times = [start.timestamp() + i * STEP_S for i in range(int((end - start).total_seconds() // STEP_S) + 1)]

    def cumulative(rate_fn: Callable[[float], float]) -> list[tuple[float, float]]:
        total, out = 0.0, []
        for t in times:
            out.append((t, round(total, 3)))
            total += rate_fn(t) * STEP_S
        return out

    def err_share(t: float) -> float:
        return 0.05 if t >= incident.timestamp() else 0.0005

    def slow_share(t: float) -> float:
        return 0.30 if t >= incident.timestamp() else 0.02

    rps = 10.0
    # FastAPI-style, model "fraud", versions 1 and 2 (2 takes 30 %)
    for version, share in (("1", 0.7), ("2", 0.3)):
        base = {"model": "fraud", "model_version": version}
        r = rps * share
        om.add("model_predictions", "counter", "model_predictions_total", {**base, "status": "ok"},
               cumulative(lambda t, r=r: r * (1 - err_share(t))))
        om.add("model_predictions", "counter", "model_predictions_total", {**base, "status": "error"},
               cumulative(lambda t, r=r: r * err_share(t)))
        for le in BUCKETS_S:
            def under(t: float, le: float = le, r: float = r) -> float:
                slow = slow_share(t)
                if le < 0.25:
                    return r * (1 - slow) * (0.5 if le == 0.05 else 0.8)
                if le == 0.25:
                    return r * (1 - slow)
                return r * (1 - slow * (0.5 if le < 1.0 else 0.1))
            om.add("model_prediction_latency_seconds", "histogram", "model_prediction_latency_seconds_bucket",
                   {**base, "le": repr(le)}, cumulative(under))
        om.add("model_prediction_latency_seconds", "histogram", "model_prediction_latency_seconds_bucket",
               {**base, "le": "+Inf"}, cumulative(lambda t, r=r: r))
        om.add("model_prediction_latency_seconds", "histogram", "model_prediction_latency_seconds_count",
               base, cumulative(lambda t, r=r: r))
        om.add("model_prediction_latency_seconds", "histogram", "model_prediction_latency_seconds_sum",
               base, cumulative(lambda t, r=r: r * (0.12 + 0.3 * slow_share(t))))
        om.add("gpu_memory_usage_bytes", "gauge", "gpu_memory_usage_bytes", base,
               [(t, 6 * 1024 ** 3 + (1024 ** 3 if t >= incident.timestamp() else 0)) for t in times])
    # Triton, model "ranker" (counters without _total: typed unknown, as OpenMetrics reserves
    # counter samples for names ending in _total)
    tb = {"model": "ranker", "version": "1"}
    om.add("nv_inference_request_success", "unknown", "nv_inference_request_success", tb,
           cumulative(lambda t: rps * (1 - err_share(t))))
    om.add("nv_inference_request_failure", "unknown", "nv_inference_request_failure", tb,
           cumulative(lambda t: rps * err_share(t)))
    om.add("nv_inference_request_duration_us", "unknown", "nv_inference_request_duration_us", tb,
           cumulative(lambda t: rps * (80_000 if t < incident.timestamp() else 400_000)))
    om.add("nv_gpu_utilization", "gauge", "nv_gpu_utilization", {"gpu_uuid": "GPU-1"},
           [(t, 0.55 + 0.4 * (t >= incident.timestamp())) for t in times])
    om.add("nv_gpu_memory_used_bytes", "gauge", "nv_gpu_memory_used_bytes", {"gpu_uuid": "GPU-1"},
           [(t, 8 * 1024 ** 3) for t in times])
    # vLLM, model "llama"
    vb = {"model_name": "llama"}
    om.add("vllm:request_success", "counter", "vllm:request_success_total", {**vb, "finished_reason": "stop"},
           cumulative(lambda t: rps * (1 - err_share(t))))
    for le in BUCKETS_S:
        om.add("vllm:e2e_request_latency_seconds", "histogram", "vllm:e2e_request_latency_seconds_bucket",
               {**vb, "le": repr(le)},
               cumulative(lambda t, le=le: rps * (1 - slow_share(t)) * min(1.0, le / 0.25) if le <= 0.25
                          else rps * (1 - slow_share(t) * 0.5)))
    om.add("vllm:e2e_request_latency_seconds", "histogram", "vllm:e2e_request_latency_seconds_bucket",
           {**vb, "le": "+Inf"}, cumulative(lambda t: rps))
    om.add("vllm:e2e_request_latency_seconds", "histogram", "vllm:e2e_request_latency_seconds_count",
           vb, cumulative(lambda t: rps))
    om.add("vllm:e2e_request_latency_seconds", "histogram", "vllm:e2e_request_latency_seconds_sum",
           vb, cumulative(lambda t: rps * 0.2))
    # DCGM, two GPUs
    for gpu in ("0", "1"):
        g = {"gpu": gpu, "UUID": f"GPU-{gpu}", "Hostname": "node-a"}
        om.add("DCGM_FI_DEV_GPU_UTIL", "gauge", "DCGM_FI_DEV_GPU_UTIL", g,
               [(t, 40.0 + 10 * math.sin(t / 3600.0) + (50 if t >= incident.timestamp() else 0)) for t in times])
        om.add("DCGM_FI_DEV_FB_USED", "gauge", "DCGM_FI_DEV_FB_USED", g, [(t, 30000.0) for t in times])
        om.add("DCGM_FI_DEV_FB_FREE", "gauge", "DCGM_FI_DEV_FB_FREE", g, [(t, 10960.0) for t in times])
    return Scenario(end, start, incident, om.text())


def _require_binaries() -> None:
    if binaries() is None:
        from tests.conftest import server_missing

        server_missing("Prometheus (the prometheus and promtool binaries)")


@pytest.fixture
def prometheus_factory() -> Iterator[Callable[[str], PrometheusHandle]]:
    _require_binaries()
    handles: list[PrometheusHandle] = []
    dirs: list[tempfile.TemporaryDirectory] = []

    def start(openmetrics: str) -> PrometheusHandle:
        tmp = tempfile.TemporaryDirectory(prefix="vigil-prom-")
        dirs.append(tmp)
        handle = backfill_and_serve(openmetrics, Path(tmp.name))
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()
    for tmp in dirs:
        tmp.cleanup()


@dataclass(frozen=True)
class PresetServer:
    url: str
    scenario: Scenario


@pytest.fixture(scope="session")
def preset_prometheus() -> Iterator[PresetServer]:
    _require_binaries()
    scenario = preset_scenario()
    with tempfile.TemporaryDirectory(prefix="vigil-prom-") as tmp:
        handle = backfill_and_serve(scenario.text, Path(tmp))
        try:
            yield PresetServer(handle.url, scenario)
        finally:
            handle.stop()
