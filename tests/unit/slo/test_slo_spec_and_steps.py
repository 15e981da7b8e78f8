"""SLO spec formats (own, Sloth prometheus/v1, OpenSLO v1), presets and range-query step sizing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.errors import InvalidInput
from monitoring.slo import presets
from monitoring.slo.prometheus import MAX_POINTS, chunks, points, step_for
from monitoring.slo.spec import load_slo_file, parse_documents, render

SLOTH = """
version: "prometheus/v1"
service: "myservice"
labels: {owner: team}
slos:
  - name: "requests-availability"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
  - name: raw
    objective: 99.5
    sli:
      raw:
        error_ratio_query: sum(rate(errors[{{.window}}])) / sum(rate(all[{{.window}}]))
"""

OPENSLO = """
apiVersion: openslo/v1
kind: SLI
metadata: {name: good-ratio}
spec:
  ratioMetric:
    counter: true
    good: {metricSource: {type: Prometheus, spec: {query: 'http_requests_total{code="200"}'}}}
    total: {metricSource: {type: Prometheus, spec: {query: 'http_requests_total'}}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: web-availability}
spec:
  service: web
  indicatorRef: good-ratio
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{displayName: good, target: 0.995}]
"""


def test_sloth_spec() -> None:
    import yaml

    slos = parse_documents(list(yaml.safe_load_all(SLOTH)))
    assert [s.name for s in slos] == ["requests-availability", "raw"]
    first = slos[0]
    assert first.objective == pytest.approx(0.999) and first.objective_as_written == 99.9
    assert first.period == "30d" and first.service == "myservice"
    assert "[1h]" in render(first.error_query or "", "1h")
    assert slos[1].ratio_query and "[5m]" in render(slos[1].ratio_query, "5m")


def test_openslo_ratio(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text(OPENSLO)
    (slo,) = load_slo_file(path)
    assert slo.period == "28d" and slo.objective == pytest.approx(0.995) and slo.service == "web"
    assert render(slo.total_query or "", "1h") == "sum(increase(http_requests_total[1h]))"
    assert "clamp_min" in (slo.error_query or "")


def test_own_spec_uses_presets() -> None:
    doc = {"service": "fraud", "preset": "fastapi",
           "slos": [{"name": "a", "sli": "availability", "objective": 0.999, "period": "30d"},
                    {"name": "l", "sli": "latency", "threshold_ms": 250, "objective": 0.99, "period": "28d"}]}
    a, lat = parse_documents([doc])
    assert 'model="fraud"' in (a.total_query or "")
    assert 'le="0.25"' in (lat.error_query or "")
    triton = parse_documents([{**doc, "preset": "triton"}])
    assert triton[1].error_query is None and "Triton" in triton[1].note


def test_bad_specs_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not found"):
        load_slo_file(tmp_path / "missing.yaml")
    with pytest.raises(InvalidInput, match="objective"):
        parse_documents([{"version": "prometheus/v1", "service": "s",
                          "slos": [{"name": "x", "objective": 120, "sli": {"events": {"error_query": "a", "total_query": "b"}}}]}])


def test_le_values() -> None:
    assert presets.le_value(250) == "0.25"
    assert presets.le_value(1000) == "1"
    assert presets.le_value(100) == "0.1"


def test_step_never_exceeds_the_limit() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for span in (timedelta(minutes=5), timedelta(hours=3), timedelta(days=1), timedelta(days=30),
                 timedelta(days=365), timedelta(seconds=11_000), timedelta(seconds=10_999)):
        step = step_for(start, start + span)
        assert points(start, start + span, step) <= MAX_POINTS
    # a fixed fine step over a long range is chunked, each chunk under the limit, no overlap
    end = start + timedelta(days=30)
    parts = chunks(start, end, 60.0)
    assert len(parts) > 1
    assert all(points(lo, hi, 60.0) <= MAX_POINTS for lo, hi in parts)
    assert parts[0][0] == start and parts[-1][1] == end
    assert all((b[0] - a[1]).total_seconds() == 60.0 for a, b in zip(parts, parts[1:]))
    assert sum(points(lo, hi, 60.0) for lo, hi in parts) == points(start, end, 60.0)


def test_naive_times_are_refused() -> None:
    from monitoring.slo.prometheus import PrometheusSource

    source = PrometheusSource.from_url("http://127.0.0.1:9")
    with pytest.raises(InvalidInput, match="timezone"):
        source.instant("up", datetime(2026, 1, 1))


def test_shipped_rules_example_is_current_and_valid() -> None:
    import shutil
    import subprocess

    from monitoring.slo.rules import render_rules

    repo = Path(__file__).resolve().parents[3]
    shipped = (repo / "deploy" / "prometheus" / "rules" / "vigil-slo.rules.yml").read_text()
    body = "\n".join(line for line in shipped.splitlines() if not line.startswith("#")) + "\n"
    assert body == render_rules(load_slo_file(repo / "deploy" / "slo" / "models-fastapi.yaml"), min_requests=100)
    if shutil.which("promtool") is None:
        from tests.conftest import server_missing

        server_missing("promtool")
    done = subprocess.run(["promtool", "check", "rules", str(repo / "deploy/prometheus/rules/vigil-slo.rules.yml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
