"""A real Prometheus scrapes the /metrics endpoint the scheduler serves (monitoring.health.exporter
on prometheus_client): the target is up and every sample arrives with its labels and value."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import requests

from monitoring.health.exporter import ScrapeCollector, start_metrics_server
from tests.prometheus_server import _free_port, binaries

pytestmark = pytest.mark.integration


def _query(url: str, promql: str) -> list[dict]:
    body = requests.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_scrapes_the_metrics_endpoint(tmp_path: Path) -> None:
    found = binaries()
    if found is None:
        from tests.conftest import server_missing

        server_missing("Prometheus (the prometheus binary)")
    runs = {"ok": 3.0}
    samples = lambda: [  # noqa: E731 - read at each scrape
        ("vigil_scheduler_leader", "gauge", "1 on the leader", {}, 1.0),
        ("vigil_scheduler_job_runs_total", "counter", "Runs started", {"job": "drift", "outcome": "ok"},
         runs["ok"]),
        ("vigil_health_score", "gauge", "Health score", {"model": 'we"ird\\model', "version": "3"}, 87.5),
        ("vigil_slo_burn_rate", "gauge", "Burn rate", {"model": "m", "window": "30d"}, None),  # no data
    ]
    server = start_metrics_server("127.0.0.1", 0, ScrapeCollector(None, samples))
    target = f"127.0.0.1:{server.server_address[1]}"
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
                      f"  - job_name: vigil\n    static_configs:\n      - targets: ['{target}']\n")
    log = open(tmp_path / "prometheus.log", "w")  # noqa: SIM115 (closed below)
    prometheus = subprocess.Popen([found[0], f"--config.file={config}",
                                   f"--storage.tsdb.path={tmp_path / 'db'}",
                                   f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                  stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline, result = time.monotonic() + 60, []
        while time.monotonic() < deadline and not result:
            try:
                result = _query(url, 'vigil_scheduler_job_runs_total{job="vigil"}')
            except requests.RequestException:
                pass
            if not result:
                time.sleep(0.5)
        assert result, (tmp_path / "prometheus.log").read_text()[-2000:]
        assert result[0]["metric"]["outcome"] == "ok" and float(result[0]["value"][1]) == 3.0
        # the label "job" of the sample is kept as exported_job beside the scrape's own job label
        assert result[0]["metric"].get("exported_job") == "drift"
        assert float(_query(url, 'up{job="vigil"}')[0]["value"][1]) == 1.0
        assert float(_query(url, "vigil_scheduler_leader")[0]["value"][1]) == 1.0
        health = _query(url, "vigil_health_score")
        assert health[0]["metric"]["model"] == 'we"ird\\model' and float(health[0]["value"][1]) == 87.5
        assert _query(url, "vigil_slo_burn_rate") == []  # no data is an absent sample, never NaN
    finally:
        prometheus.terminate()
        try:
            prometheus.wait(timeout=10)
        except subprocess.TimeoutExpired:
            prometheus.kill()
            prometheus.wait()
        log.close()
        server.shutdown()
        server.server_close()
