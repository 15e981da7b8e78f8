"""jobs.slo against a real Prometheus: the numbers equal PromQL's own, in every preset's naming.

Prometheus is Debian's package, started by tests/prometheus_server.py on 127.0.0.1 with data
backfilled by promtool. Without the binaries the tests skip, under CI=true they fail.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from monitoring.slo import presets
from monitoring.slo.burn import WINDOWS
from monitoring.slo.prometheus import MAX_POINTS, PrometheusSource
from monitoring.slo.spec import load_slo_file, render
from tests.prometheus_server import PresetServer, preset_prometheus  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]

SLOTH = """
version: "prometheus/v1"
service: "fraud"
slos:
  - name: "requests-availability"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(model_predictions_total{model="fraud",status="error"}[{{.window}}]))
        total_query: sum(rate(model_predictions_total{model="fraud"}[{{.window}}]))
"""

OPENSLO = """
apiVersion: openslo/v1
kind: SLO
metadata: {name: llama-availability}
spec:
  service: llama
  indicator:
    metadata: {name: llama-success}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Prometheus, spec: {query: 'vllm:request_success_total{model_name="llama"}'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'vllm:e2e_request_latency_seconds_count{model_name="llama"}'}}}
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.999}]
"""


def _own(service: str, preset: str) -> str:
    return (f"service: {service}\npreset: {preset}\nslos:\n"
            "  - {name: availability, sli: availability, objective: 0.999, period: 30d}\n"
            "  - {name: latency-250ms, sli: latency, threshold_ms: 250, objective: 0.99, period: 28d}\n")


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs.slo", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})


def _promql(url: str, expr: str, at: float) -> float | None:
    body = requests.get(f"{url}/api/v1/query", params={"query": expr, "time": at}, timeout=10).json()
    assert body["status"] == "success", body
    result = body["data"]["result"]
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if math.isnan(value) else value


@pytest.mark.parametrize(("kind", "text"), [
    ("sloth", SLOTH), ("openslo", OPENSLO), ("fastapi", _own("fraud", "fastapi")),
    ("triton", _own("ranker", "triton")), ("vllm", _own("llama", "vllm")),
])
def test_jobs_slo_reproduces_promql(preset_prometheus: PresetServer, tmp_path: Path, kind: str, text: str) -> None:  # noqa: F811
    spec_file = tmp_path / f"{kind}.yaml"
    spec_file.write_text(text)
    at = preset_prometheus.scenario.end
    done = _run(["--prometheus-url", preset_prometheus.url, "--slo-file", str(spec_file),
                 "--at", at.isoformat(), "--format", "json"])
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == {"slos"}
    definitions = load_slo_file(spec_file)
    compared = 0
    for item, slo in zip(out["slos"], definitions):
        assert set(item) == {"service", "name", "objective", "period", "error_ratio", "burn_rate",
                             "error_budget_remaining", "alerts"}
        assert item["objective"] == slo.objective_as_written
        assert list(item["error_ratio"]) == [*WINDOWS, slo.period]
        if slo.error_query is None:  # Triton has no latency histogram: no data, not zero
            assert all(v is None for v in item["error_ratio"].values())
            assert item["error_budget_remaining"] is None
            continue
        for w, ours in item["error_ratio"].items():
            expected = _promql(preset_prometheus.url,
                               f"({render(slo.error_query, w)}) / ({render(slo.total_query or '', w)})",
                               at.timestamp())
            assert ours == pytest.approx(expected, rel=1e-9, abs=1e-12), (kind, w)
            burn = item["burn_rate"][w]
            assert burn == pytest.approx(expected / (1 - slo.objective), rel=1e-9)
            compared += 1
        period = item["error_ratio"][slo.period]
        assert item["error_budget_remaining"] == pytest.approx(1 - period / (1 - slo.objective), rel=1e-9)
    assert compared
    first = out["slos"][0]
    # the incident of the last 90 minutes: 5 % errors at 99.9 % -> burn 50 in 5m and 1h -> page
    assert first["burn_rate"]["5m"] == pytest.approx(50, rel=0.02)
    assert first["alerts"]["page"] is True


def test_before_the_incident_nothing_fires(preset_prometheus: PresetServer, tmp_path: Path) -> None:  # noqa: F811
    spec_file = tmp_path / "sloth.yaml"
    spec_file.write_text(SLOTH)
    at = preset_prometheus.scenario.incident_start - timedelta(hours=1)
    done = _run(["--prometheus-url", preset_prometheus.url, "--slo-file", str(spec_file), "--at", at.isoformat(),
                 "--format", "json"])
    item = json.loads(done.stdout)["slos"][0]
    assert item["alerts"] == {"page": False, "ticket": False}
    assert item["burn_rate"]["1h"] == pytest.approx(0.5, rel=0.01)


def test_latency_percentiles_gpu_and_triton_averages(preset_prometheus: PresetServer) -> None:  # noqa: F811
    source = PrometheusSource.from_url(preset_prometheus.url)
    at = preset_prometheus.scenario.end - timedelta(hours=3)
    fast = presets.get("fastapi")
    p50 = source.scalar(fast.quantile(0.5, fast.labels_for("fraud"), "1h") or "", at)
    p99 = source.scalar(fast.quantile(0.99, fast.labels_for("fraud"), "1h") or "", at)
    assert p50 is not None and p99 is not None and 0 < p50 < p99 <= 1000  # milliseconds
    triton = presets.get("triton")
    avg = source.scalar(triton.average_ms(triton.labels_for("ranker"), "1h") or "", at)
    assert avg == pytest.approx(80.0, rel=1e-6)  # 80,000 us per request -> 80 ms
    util = source.scalar(triton.gpu_util_query({}) or "", at)
    assert util == pytest.approx(55.0)  # 0.55 -> percent
    dcgm = presets.get("dcgm")
    head = source.scalar(dcgm.gpu_mem_headroom_query({}) or "", at)
    assert head == pytest.approx(10960 / 40960)
    assert source.scalar(triton.gpu_mem_query({}) or "", at) == pytest.approx(8192.0)  # bytes -> MiB


def test_range_queries_stay_under_the_point_limit(preset_prometheus: PresetServer) -> None:  # noqa: F811
    scenario = preset_prometheus.scenario
    source = PrometheusSource.from_url(preset_prometheus.url)
    # a 2-minute step over the whole 4 days is 2,881 points: fine in one go
    # a 10-second step would be 34,561 points: refused by Prometheus, so it must be chunked
    expr = 'sum(rate(model_predictions_total{model="fraud"}[5m]))'
    body = requests.get(f"{preset_prometheus.url}/api/v1/query_range",
                        params={"query": expr, "start": scenario.start.timestamp(), "end": scenario.end.timestamp(),
                                "step": 10}, timeout=30).json()
    assert body["status"] == "error" and "11,000" in body["error"] or "too many" in body.get("error", "")
    start = scenario.end - timedelta(days=2)
    (series,) = source.range(expr, start, scenario.end, 10.0)
    assert len(series.samples) == int(timedelta(days=2).total_seconds() // 10) + 1
    assert source.queries > 1  # chunked
    before = source.queries
    (auto,) = source.range(expr, scenario.start, scenario.end)
    assert len(auto.samples) <= MAX_POINTS and source.queries == before + 1


def test_prometheus_errors_are_clear(preset_prometheus: PresetServer, tmp_path: Path) -> None:  # noqa: F811
    from core.errors import InvalidInput

    source = PrometheusSource.from_url(preset_prometheus.url)
    with pytest.raises(InvalidInput, match="bad_data|parse"):
        source.scalar("sum(rate(", preset_prometheus.scenario.end)
    spec_file = tmp_path / "sloth.yaml"
    spec_file.write_text(SLOTH)
    # down: nothing listens
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = _run(["--prometheus-url", f"http://127.0.0.1:{port}", "--slo-file", str(spec_file), "--format", "json"])
    assert done.returncode == 5 and "Prometheus at http://127.0.0.1" in done.stderr and done.stdout == ""
    # slow: accepts the connection, never answers
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(server.accept()[0]), daemon=True).start()
    try:
        done = subprocess.run([sys.executable, "-m", "jobs.slo", "--prometheus-url",
                               f"http://127.0.0.1:{server.getsockname()[1]}", "--slo-file", str(spec_file),
                               "--format", "json"], cwd=REPO, capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PROMETHEUS_TIMEOUT": "1"})
        assert done.returncode == 5 and "did not answer within 1 s" in done.stderr
    finally:
        for c in held:
            c.close()
        server.close()


def test_generated_rules_pass_promtool(preset_prometheus: PresetServer, tmp_path: Path) -> None:  # noqa: F811
    from monitoring.slo.rules import render_rules

    spec_file = tmp_path / "fraud.yaml"
    spec_file.write_text(_own("fraud", "fastapi"))
    slos = load_slo_file(spec_file) + load_slo_file(_write(tmp_path / "s.yaml", SLOTH))
    rules = tmp_path / "rules.yml"
    rules.write_text(render_rules(slos, min_requests=100))
    done = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_configured_mode_detects_presets_and_stores(preset_prometheus: PresetServer, tmp_path: Path) -> None:  # noqa: F811
    from core.actor import Actor
    from core.config import ModelsConfig
    from core.context import AppContext
    from core.settings import Settings
    from governance.access import ensure_demo_accounts
    from monitoring.slo.service import get_series, latest_snapshots, run_slo_check

    def model(name: str) -> dict:
        return {"name": name, "registered_model": name, "logs": f"logs/{name}",
                "features": [{"name": "x"}],
                "slos": [{"name": "availability", "sli": "availability", "objective": 0.999, "period": "30d"},
                         {"name": "latency-250ms", "sli": "latency", "threshold_ms": 250, "objective": 0.99,
                          "period": "30d"}]}

    models = ModelsConfig.model_validate({"models": [model("fraud"), model("ranker"), model("llama")]})
    ctx = AppContext.create(Settings.from_env({"VIGIL_DATA_DIR": str(tmp_path / "data"),
                                               "PROMETHEUS_URL": preset_prometheus.url}), models=models)
    try:
        ensure_demo_accounts(ctx)
        actor = Actor(ctx.settings.job_user, "job")
        at = preset_prometheus.scenario.end
        expected = {"fraud": "fastapi", "ranker": "triton", "llama": "vllm"}
        for name, preset in expected.items():
            views = run_slo_check(ctx, actor, name, at=at)
            assert {v.source for v in views} == {"prometheus"}
            assert views[0].details["preset"] == preset and views[0].page
            assert latest_snapshots(ctx, name)[0].budget_remaining == views[0].budget_remaining
            burn = get_series(ctx, name, "burn:availability")
            assert burn is not None and any(p["page"] for p in burn.points)
        ranker = latest_snapshots(ctx, "ranker")
        assert ranker[0].details["latency"]["kind"] == "average"
        assert ranker[0].details["gpu"]["utilization_pct"] == pytest.approx(95.0)  # during the incident
        assert "Triton" in ranker[1].details["note"] and ranker[1].budget_remaining is None
    finally:
        ctx.engine.dispose()


def test_apdex_from_histogram(preset_prometheus: PresetServer) -> None:  # noqa: F811
    from monitoring.slo.service import _prom_latency

    source = PrometheusSource.from_url(preset_prometheus.url)
    calm = _prom_latency(source, "fastapi", "fraud", preset_prometheus.scenario.end - timedelta(hours=3), 100.0)
    hot = _prom_latency(source, "fastapi", "fraud", preset_prometheus.scenario.end, 100.0)
    assert calm["apdex"] is not None and hot["apdex"] is not None and 0 < hot["apdex"] < calm["apdex"] <= 1
