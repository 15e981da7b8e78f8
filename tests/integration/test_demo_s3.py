"""The issue's done-when: the demo runs with its artifact and log stores on an S3-compatible
server by setting two environment variables (VIGIL_ARTIFACT_URL, VIGIL_LOGSTORE_URL).

``python -m jobs.demo`` runs as cron would (a subprocess) against a real moto server
(tests.s3_server); the bucket is then read with an independent client (boto3 + pyarrow): the
ingested rows, the quarantined bad records, the reference profiles and the drift reports are
there, the local store directories hold nothing, and the ingest and drift jobs run again on
what the bucket holds.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from demo import BAD_RECORDS, BAD_RECORDS_MODEL, TIMELINE_DAYS, incident_windows, incidents_for
from tests.s3_server import S3Server, s3_server  # noqa: F401  (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
ANCHOR = datetime(2026, 11, 1, 15, tzinfo=UTC)
MODELS = ("breast-cancer", "diabetes")
Built = tuple[dict[str, str], Path, str, subprocess.CompletedProcess[str]]  # env, data dir, bucket, build


def _job(env: dict[str, str], module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def demo_on_s3(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Built:
    bucket = "vigil-demo"
    s3_server.client().create_bucket(Bucket=bucket)
    data = tmp_path_factory.mktemp("demo-s3") / "data"
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "MLFLOW_TRACKING_URI", "VIGIL_CONFIG", "VIGIL_DEMO"}}
    env.update(s3_server.env, VIGIL_DATA_DIR=str(data))
    # the two variables of the done-when
    env.update(VIGIL_ARTIFACT_URL=f"s3://{bucket}/artifacts", VIGIL_LOGSTORE_URL=f"s3://{bucket}/logstore")
    built = _job(env, "jobs.demo", "--anchor", ANCHOR.isoformat())
    return env, data, bucket, built


def _table(s3_server: S3Server, bucket: str, key: str):  # type: ignore[no-untyped-def]
    return pq.read_table(io.BytesIO(s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read()))


def test_demo_stores_its_logs_and_artifacts_in_the_bucket(s3_server: S3Server, demo_on_s3: Built) -> None:
    _, data, bucket, built = demo_on_s3
    assert built.returncode == 0, built.stderr[-3000:]
    assert "Traceback" not in built.stderr
    manifest = json.loads((data / "demo" / "manifest.json").read_text())
    keys = s3_server.keys(bucket)
    for model in MODELS:
        parts = [k for k in keys if k.startswith(f"logstore/model={model}/")]
        assert len({k.split("/")[2] for k in parts}) == TIMELINE_DAYS  # one partition per day
        rows = sum(_table(s3_server, bucket, k).num_rows for k in parts)
        ingested = manifest["steps"]["ingest"]["details"][model]
        assert rows == ingested["rows_stored"] == ingested["rows_read"] - ingested["rows_quarantined"] > 0
    quarantined = [k for k in keys if k.startswith(f"logstore/_quarantine/model={BAD_RECORDS_MODEL}/")]
    assert sum(_table(s3_server, bucket, k).num_rows for k in quarantined) == len(BAD_RECORDS)
    kinds = {k.split("/")[1] for k in keys if k.startswith("artifacts/")}
    assert {"profiles", "reports", "shap"} <= kinds
    assert not [k for k in keys if k.rsplit("/", 1)[-1].startswith(".")]  # nothing left staged
    local = [p for d in ("artifacts", "logstore", "quarantine") for p in (data / d).rglob("*") if p.is_file()]
    assert local == []


def test_drift_found_the_incidents_from_the_bucket(demo_on_s3: Built) -> None:
    _, data, _, built = demo_on_s3
    assert built.returncode == 0, built.stderr[-3000:]
    drift = json.loads((data / "demo" / "manifest.json").read_text())["steps"]["drift"]["details"]
    for model in MODELS:
        (incident,) = [i for i in incidents_for(model) if i.kind == "drift"]
        start, end = incident_windows(ANCHOR)[incident.name]
        days = (end - start).days
        expected = {(start + timedelta(days=d + 1)).date().isoformat() for d in range(days)}
        assert set(drift[model]["drifted_windows"]) == expected  # the daily windows that end in it


def test_jobs_run_again_on_the_bucket(s3_server: S3Server, demo_on_s3: Built) -> None:
    env, _, bucket, built = demo_on_s3
    assert built.returncode == 0, built.stderr[-3000:]
    before = s3_server.keys(bucket)
    again = _job(env, "jobs.ingest", "--all")
    assert again.returncode == 0, again.stderr[-3000:]
    for model in MODELS:
        assert f"{model}: rows read=0 stored=0 quarantined=0" in again.stdout  # the ledger knows
    assert [k for k in s3_server.keys(bucket) if k.startswith("logstore/")] == [
        k for k in before if k.startswith("logstore/")
    ]
    drift = _job(env, "jobs.drift", "--model", "diabetes", "--at", ANCHOR.isoformat())
    assert drift.returncode == 0, drift.stderr[-3000:]
    assert "diabetes" in drift.stdout and "no data" not in drift.stdout


def test_slos_are_computed_from_the_logs_in_the_bucket(demo_on_s3: Built) -> None:
    env, _, _, built = demo_on_s3
    assert built.returncode == 0, built.stderr[-3000:]
    env = {**env, "PROMETHEUS_URL": ""}  # no Prometheus: the SLOs come from the ingested logs
    slo = _job(env, "jobs.slo", "--model", "breast-cancer", "--at", ANCHOR.isoformat(), "--format", "json")
    assert slo.returncode == 0, slo.stderr[-3000:]
    slos = json.loads(slo.stdout)["slos"]
    assert slos, "no SLO evaluated"
    # a store the job cannot see reads as "no data" (null ratios); the bucket's logs give numbers
    assert all(s["error_ratio"]["1d"] is not None for s in slos), slos
