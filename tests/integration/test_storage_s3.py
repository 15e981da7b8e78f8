"""The artifact store, the log store and the quarantine on a real S3-compatible HTTP server
(moto in server mode, started by tests.s3_server): what lands in the bucket is read back with an
independent client (boto3), nothing is written to the local store directories, and the
exactly-once ingestion rules (staged parts, recovery after a crash) hold on the object store."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from core.context import AppContext
from core.errors import InvalidInput, NotFound
from core.settings import Settings
from core.storage import Location
from monitoring.logs import ingest as ingest_mod
from monitoring.logs.ingest import ingest_model
from monitoring.logs.quarantine import quarantine_rows
from monitoring.logs.store import find_request, latest_timestamp, partition_days, read_window
from tests.conftest import REPO_ROOT
from tests.s3_server import S3Server, s3_env, s3_server  # noqa: F401  (fixtures)
from tests.unit.logs.loghelpers import BASE, add_user, day_records, write_jsonl

pytestmark = pytest.mark.integration


def _bucket(url: str) -> str:
    return url.removeprefix("s3://")


@pytest.fixture
def s3_ctx(tmp_path: Path, s3_env: str, models_config):  # type: ignore[no-untyped-def]
    env = {
        "VIGIL_DATA_DIR": str(tmp_path / "data"),
        "VIGIL_CONFIG": str(REPO_ROOT / "config" / "models.yaml"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'data' / 'mlflow' / 'mlflow.db'}",
        "VIGIL_ARTIFACT_URL": f"{s3_env}/artifacts",
        "VIGIL_LOGSTORE_URL": f"{s3_env}/logstore",
    }
    context = AppContext.create(Settings.from_env(env), models=models_config)
    yield context
    context.engine.dispose()


def _local_files(settings: Settings) -> list[Path]:
    return [p for d in (settings.artifacts_dir, settings.logstore_dir, settings.quarantine_dir)
            for p in d.rglob("*") if p.is_file()]


def test_artifacts_round_trip_through_the_bucket(s3_server: S3Server, s3_ctx: AppContext) -> None:
    bucket = _bucket(s3_ctx.settings.artifact_url.rsplit("/", 1)[0])
    stored = s3_ctx.artifacts.put("reports", "drift.html", b"<html>1</html>")
    key = f"artifacts/reports/{stored.sha256[:2]}/{stored.sha256}/drift.html"
    assert s3_server.keys(bucket) == [key]
    assert stored.path == f"s3://{bucket}/{key}"
    assert s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read() == b"<html>1</html>"
    assert s3_ctx.artifacts.get("reports", stored.sha256, "drift.html") == b"<html>1</html>"
    with s3_ctx.artifacts.local_file("reports", stored.sha256, "drift.html") as local:
        assert local.read_bytes() == b"<html>1</html>"  # what MLflow's log_artifact gets
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=b"tampered")
    with pytest.raises(InvalidInput, match="corrupted"):
        s3_ctx.artifacts.get("reports", stored.sha256, "drift.html")
    with pytest.raises(NotFound):
        s3_ctx.artifacts.get("reports", "0" * 64, "x")
    assert _local_files(s3_ctx.settings) == []


def test_a_failed_write_publishes_nothing(s3_server: S3Server, s3_env: str) -> None:
    loc = Location.of(f"{s3_env}/store")

    def half_then_fail(handle) -> None:  # type: ignore[no-untyped-def]
        handle.write(b"half of the report")
        raise RuntimeError("writer killed")

    with pytest.raises(RuntimeError):
        loc.write_with(loc.join("report.html"), half_then_fail)
    loc.write_with(loc.join("whole.html"), lambda handle: handle.write(b"whole"))
    assert s3_server.keys(_bucket(s3_env)) == ["store/whole.html"]


def test_ingest_stores_and_quarantines_in_the_bucket_exactly_once(
    s3_server: S3Server, s3_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = s3_ctx
    bucket = _bucket(ctx.settings.logstore_url.rsplit("/", 1)[0])
    op = add_user(ctx, "ops", "operator")
    logs = ctx.settings.data_dir / "logs" / "diabetes"
    write_jsonl(logs / "a.jsonl", day_records(BASE, 50) + ["garbage"])
    write_jsonl(logs / "b.jsonl", day_records(BASE + timedelta(days=1), 30, start_index=100))

    def crash(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("killed after the part files, before the ledger")

    monkeypatch.setattr(ingest_mod, "commit_ingestion", crash)
    with pytest.raises(RuntimeError):
        ingest_model(ctx, op, "diabetes", versions=["1"])
    monkeypatch.undo()
    staged = [k for k in s3_server.keys(bucket) if k.rsplit("/", 1)[-1].startswith(".")]
    assert staged, "the crashed run's parts wait staged (hidden) in the bucket"
    assert read_window(ctx.settings, "diabetes", BASE, BASE + timedelta(days=2)).num_rows == 0

    result = ingest_model(ctx, op, "diabetes", versions=["1"])
    assert (result.rows_read, result.rows_stored, result.rows_quarantined) == (81, 80, 1)
    keys = s3_server.keys(bucket)
    assert not [k for k in keys if k.rsplit("/", 1)[-1].startswith(".")]  # staged parts settled
    parts = [k for k in keys if k.startswith("logstore/model=diabetes/")]
    assert {k.split("/")[2] for k in parts} == {"date=2026-11-01", "date=2026-11-02"}
    assert [k for k in keys if k.startswith("logstore/_quarantine/model=diabetes/")]
    # an independent reader (boto3 + pyarrow) sees exactly the stored rows, once each
    ids = []
    for key in parts:
        body = s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        ids += pq.read_table(io.BytesIO(body)).column("request_id").to_pylist()
    assert len(ids) == len(set(ids)) == 80

    table = read_window(ctx.settings, "diabetes", BASE, BASE + timedelta(days=2))
    assert sorted(table.column("request_id").to_pylist()) == sorted(ids)
    second_day = read_window(ctx.settings, "diabetes", BASE + timedelta(days=1), BASE + timedelta(days=2))
    assert second_day.num_rows == 30
    assert latest_timestamp(ctx.settings, "diabetes") > BASE + timedelta(days=1)
    assert find_request(ctx.settings, "diabetes", "r10")["request_id"] == "r10"
    assert [d.isoformat() for d in partition_days(ctx.settings, "diabetes")] == ["2026-11-01", "2026-11-02"]
    bad = quarantine_rows(ctx.settings, "diabetes")
    assert list(bad["raw"]) == ["garbage"]

    again = ingest_model(ctx, op, "diabetes", versions=["1"])
    assert (again.rows_read, again.files_skipped) == (0, 2)
    assert s3_server.keys(bucket) == keys
    assert _local_files(ctx.settings) == []


def test_input_logs_read_from_the_bucket_too(s3_server: S3Server, s3_ctx: AppContext) -> None:
    """A worker on another machine: the inference logs, the log store and the quarantine are
    all in the bucket; nothing is read from or written to local disk."""
    ctx = s3_ctx
    bucket = _bucket(ctx.settings.logstore_url.rsplit("/", 1)[0])
    op = add_user(ctx, "ops", "operator")
    body = "\n".join(json.dumps(r) for r in day_records(BASE, 40)) + "\n{cut off\n"
    s3_server.client().put_object(Bucket=bucket, Key="incoming/diabetes/a.jsonl", Body=body.encode())
    result = ingest_model(ctx, op, "diabetes", path=f"s3://{bucket}/incoming/diabetes", versions=["1"])
    assert (result.rows_read, result.rows_stored, result.rows_quarantined) == (41, 40, 1)
    assert result.location == f"s3://{bucket}/incoming/diabetes"
    assert read_window(ctx.settings, "diabetes", BASE, BASE + timedelta(days=1)).num_rows == 40
    assert list(quarantine_rows(ctx.settings, "diabetes")["raw"]) == ["{cut off"]
    assert _local_files(ctx.settings) == []
