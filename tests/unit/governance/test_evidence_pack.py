"""The model evidence pack: a signed zip built from a real MLflow registry (SQLite), release
requests, the audit log; PII masked; a part whose service is down says so (governance.evidence_pack)."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from core.actor import Actor
from core.errors import InvalidInput, PermissionDenied
from governance import releases
from governance.audit_export import check_against_db, key_path, public_key_path, verify_export
from governance.evidence_pack import build_pack
from tests.unit.governance.evidence_fixtures import registry_with_champion
from tests.unit.governance.release_fixtures import FakeVersions, facts
from tests.unit.logs.loghelpers import add_user

ADMIN, AUD = Actor("root", "cli"), Actor("aud", "cli")
PARTS = ["audit_entries.jsonl", "drift.json", "model_card.json", "releases.json", "shap_reports.json",
         "slo.json", "summary.json", "versions.json"]


@pytest.fixture
def pctx(sqlite_ctx, tmp_path):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    ctx = sqlite_ctx
    for name, role, scope in (("root", "admin", "*"), ("aud", "auditor", "*"), ("vic", "viewer", "*"),
                              ("opal", "operator", "diabetes")):
        add_user(ctx, name, role, scope)
    uri = registry_with_champion(ctx, tmp_path, "diabetes-gbr", "3")
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.log_metric(client.get_model_version("diabetes-gbr", "4").run_id, "rmse", 41.5)
    releases.request_release(ctx, Actor("opal", "cli"), "diabetes", "4", reason="quarterly retrain",
                             versions=FakeVersions(facts("4", rmse=50.0)))
    return ctx


def _unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_pack_holds_each_part_and_verifies(pctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = pctx
    about_model = ctx.audit.query(resource="diabetes")
    pack = build_pack(ctx, AUD, "diabetes", file_name="pack.zip")
    path = tmp_path / "pack.zip"
    pack.write(path)
    pem = public_key_path(key_path(ctx.settings)).read_bytes()
    assert verify_export(path, public_key_pem=pem) == []
    assert check_against_db(ctx, AUD, path) == []
    files = _unzip(pack.data)
    assert sorted(files) == PARTS
    summary = json.loads(files["summary.json"])
    assert summary["parts"] == dict.fromkeys(["model_card.json", "versions.json", "releases.json", "drift.json",
                                               "slo.json", "shap_reports.json"], "ok")
    versions = {v["version"]: v for v in json.loads(files["versions.json"])}
    assert sorted(versions) == ["1", "2", "3", "4"]
    assert versions["3"]["aliases"] == ["champion"] and versions["4"]["metrics"] == {"rmse": 41.5}
    [request] = json.loads(files["releases.json"])
    assert (request["version"], request["requested_by"], request["reason"]) == ("4", "opal", "quarterly retrain")
    assert {g["name"]: g["value"] for g in request["gates"]}["max_rmse"] == 50.0
    card = json.loads(files["model_card.json"])
    assert [f["name"] for f in card["features"]] == [f.name for f in ctx.models.get("diabetes").features]
    assert "logs" not in card and card["registered_model"] == "diabetes-gbr"
    slo = json.loads(files["slo.json"])
    assert sorted(slo) == sorted(s.name for s in ctx.models.get("diabetes").slos)
    assert all(v["snapshots"] == 0 for v in slo.values())
    entries = [json.loads(line) for line in files["audit_entries.jsonl"].decode().splitlines()]
    assert [e["seq"] for e in entries] == [r.seq for r in about_model]
    assert "release.request" in {e["action"] for e in entries}
    manifest = json.loads(pack.manifest)
    assert (manifest["format"], manifest["entries"], manifest["query"]["resource"]) == ("zip", len(about_model),
                                                                                      "diabetes")
    [head] = ctx.audit.query(action="audit.evidence")
    assert (head.actor, head.resource, head.details["file"]) == ("aud", "diabetes", "pack.zip")


def test_pack_needs_model_view_and_audit_export(pctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied, match="vic may not audit.export"):
        build_pack(pctx, Actor("vic", "cli"), "diabetes")
    with pytest.raises(PermissionDenied, match="opal may not model.view on breast-cancer"):
        build_pack(pctx, Actor("opal", "cli"), "breast-cancer")
    assert [r.outcome for r in pctx.audit.query(action="audit.export", outcome="denied")] == ["denied"]
    with pytest.raises(InvalidInput, match="unknown model 'nope'"):
        build_pack(pctx, AUD, "nope")
    with pytest.raises(InvalidInput, match="--since must be an ISO-8601"):
        build_pack(pctx, AUD, "diabetes", since="last tuesday")


def test_mlflow_down_makes_that_part_unavailable(pctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    down = dataclasses.replace(pctx, settings=dataclasses.replace(pctx.settings,
                                                                  mlflow_tracking_uri="http://127.0.0.1:9"))
    pack = build_pack(down, AUD, "diabetes")
    files = _unzip(pack.data)
    unavailable = json.loads(files["versions.json"])["unavailable"]
    assert unavailable and json.loads(files["summary.json"])["parts"]["versions.json"] == unavailable
    assert json.loads(files["releases.json"])[0]["version"] == "4"  # the other parts are there
    pack.write(tmp_path / "p.zip")
    assert verify_export(tmp_path / "p.zip", public_key_pem=public_key_path(key_path(pctx.settings)).read_bytes()) == []
    assert pctx.audit.head().details["unavailable"] == ["versions.json"]


def test_pii_is_masked_in_the_pack_and_the_period_is_applied(pctx) -> None:  # type: ignore[no-untyped-def]
    pctx.audit.append(ADMIN, "model.explain", "breast-cancer", details={"features": {"patient_zip": "90210"}})
    releases.request_release(pctx, add_user(pctx, "bo", "operator", "breast-cancer"), "breast-cancer", "1",
                             reason="asked by patient_zip=90210", versions=FakeVersions(facts("1", accuracy=0.97)))
    masked = _unzip(build_pack(pctx, AUD, "breast-cancer").data)
    assert json.loads(masked["releases.json"])[0]["reason"] == "asked by patient_zip=***"
    assert b"90210" not in masked["audit_entries.jsonl"] and b'\\"patient_zip\\":\\"***\\"' in masked["audit_entries.jsonl"]
    assert json.loads(masked["summary.json"])["pii_masked"] == {"breast-cancer": ["patient_zip"]}
    assert "unavailable" in json.loads(masked["versions.json"])  # breast-cancer is not registered here
    full = _unzip(build_pack(pctx, ADMIN, "breast-cancer").data)
    assert b"90210" in full["audit_entries.jsonl"] and b"90210" in full["releases.json"]
    assert pctx.audit.head().details["pii"]["unmasked"] == ["breast-cancer"]
    future = datetime.now(UTC) + timedelta(days=1)
    empty = _unzip(build_pack(pctx, AUD, "diabetes", since=future, until=future + timedelta(days=1)).data)
    assert empty["audit_entries.jsonl"] == b"" and json.loads(empty["releases.json"]) == []
