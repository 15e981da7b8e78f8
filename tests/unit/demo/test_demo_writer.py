"""The demo's log files: one per day, every record valid for ingestion except the planted ones."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from core.config import load_models_config
from demo import BAD_RECORDS, BAD_RECORDS_DAY, TIMELINE_DAYS, timeline_bounds
from demo.data import load
from demo.serve import Served, serve
from demo.timeline import build_timeline
from demo.writer import write_logs
from monitoring.logs.schema import ALL_FIELDS, REQUIRED_FIELDS
from monitoring.logs.validate import Invalid, ValidationContext, validate_record

REPO = Path(__file__).resolve().parents[3]
ANCHOR = datetime(2026, 11, 1, 15, tzinfo=UTC)
VERSIONS = {"v1": "1", "v2": "2", "v3": "3"}


class _Stub:
    """A stand-in model: the fraction of mean_radius above 15 (shape (n, 1) like the MLP)."""

    def __call__(self, x):  # type: ignore[no-untyped-def]
        return (x[:, :1] > 15).float() * 0.9 + 0.05


def _write(tmp_path: Path, model: str) -> tuple[list[Path], object]:
    data = load(model)
    timeline = build_timeline(data, ANCHOR, scale=0.05)
    if data.task == "classification":
        served = serve(timeline, {"v2": _Stub(), "v3": _Stub()}, task=data.task)
    else:
        from sklearn.dummy import DummyRegressor

        dummy = DummyRegressor().fit(data.X_train, data.y_train)
        served = serve(timeline, {"v2": dummy, "v3": dummy}, task=data.task)
    return write_logs(tmp_path / model, timeline, served, data, VERSIONS), timeline


def _lines(files: list[Path]) -> list[str]:
    return [line for f in files for line in f.read_text().splitlines()]


@pytest.mark.parametrize("model", ["breast-cancer", "diabetes"])
def test_every_record_is_valid_for_ingestion_except_the_planted_bad_ones(tmp_path: Path, model: str) -> None:
    spec = load_models_config(REPO / "config" / "models.yaml").get(model)
    files, timeline = _write(tmp_path, model)
    vctx = ValidationContext(
        spec, known_versions=frozenset(VERSIONS.values()), now=datetime(2026, 11, 2, tzinfo=UTC)
    )
    reasons = []
    ok = 0
    for line in _lines(files):
        try:
            record = json.loads(line)
            validate_record(record, vctx)
            assert set(REQUIRED_FIELDS) <= set(record) <= set(ALL_FIELDS)
            ok += 1
        except json.JSONDecodeError:
            reasons.append("malformed line")
        except Invalid as exc:
            reasons.append(exc.reason)
    assert ok == len(timeline)  # type: ignore[arg-type]
    if model == "breast-cancer":
        assert sorted(reasons) == sorted(
            ["malformed line", "wrong type: latency_ms", "missing field: request_id", "unknown version 99"]
        )
        assert len(reasons) == len(BAD_RECORDS)
        bad_day = files[BAD_RECORDS_DAY - 1].read_text()
        assert "bad-unknown-version" in bad_day and "bad-wrong-type" in bad_day
    else:
        assert reasons == []


def test_one_file_per_day_named_by_date_and_rewrites_are_identical(tmp_path: Path) -> None:
    files, _ = _write(tmp_path, "diabetes")
    start, _ = timeline_bounds(ANCHOR)
    assert len(files) == TIMELINE_DAYS
    assert files[0].name == f"{start:%Y-%m-%d}.jsonl" and files[-1].name == "2026-11-01.jsonl"
    first = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    (tmp_path / "diabetes" / "2001-01-01.jsonl").write_text("{}\n")  # a day file from an older build
    again, _ = _write(tmp_path, "diabetes")
    assert {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in again} == first
    assert sorted(p.name for p in (tmp_path / "diabetes").iterdir()) == sorted(first)


def test_records_carry_outputs_labels_and_empty_gpu_fields_on_cpu(tmp_path: Path) -> None:
    files, _ = _write(tmp_path, "breast-cancer")
    records = [json.loads(line) for line in _lines(files) if "bad-" not in line and '"request_id"' in line]
    ok = [r for r in records if r["status"] == "ok"]
    assert all(r["prediction"] in (0, 1) and 0 <= r["score"] <= 1 for r in ok)
    assert all(r["prediction"] is None and r["error"] for r in records if r["status"] == "error")
    assert all(r["gpu_id"] is None and r["gpu_memory_mb"] is None for r in records)
    labelled = np.mean([r["label"] is not None for r in records])
    assert 0.2 < labelled < 0.4
    assert set(records[0]["features"]) == {
        f.name for f in load_models_config(REPO / "config" / "models.yaml").get("breast-cancer").features
    }


def test_served_outputs_line_up_with_requests() -> None:
    data = load("breast-cancer")
    timeline = build_timeline(data, ANCHOR, scale=0.02)
    served: Served = serve(timeline, {"v2": _Stub(), "v3": _Stub()}, task=data.task)
    big = timeline.X[:, 0] > 15
    ok = timeline.status == "ok"
    assert np.array_equal(np.array(served.prediction[ok], dtype=int), big[ok].astype(int))


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.skipif(not _has_cuda(), reason="needs a CUDA GPU (the CPU path is covered above)")
def test_gpu_fields_are_read_from_torch_cuda() -> None:
    import torch

    from demo.models import BreastCancerMLP

    data = load("breast-cancer")
    timeline = build_timeline(data, ANCHOR, scale=0.02)
    model = BreastCancerMLP(data.X_train.mean(axis=0), data.X_train.std(axis=0), hidden=[4]).to("cuda").eval()
    served = serve(timeline, {"v2": model, "v3": model}, task=data.task, device="cuda")
    assert set(served.gpu_id.tolist()) == {torch.cuda.current_device()}
    assert all(m is not None and m > 0 for m in served.gpu_memory_mb)
    assert all(u is None or 0 <= u <= 100 for u in served.gpu_utilization)
