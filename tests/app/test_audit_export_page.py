"""The Audit page's export: one zip holding FILE, FILE.manifest.json and FILE.sig that verify."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from governance.audit_export import key_path, public_key_path, verify_export
from tests.app.conftest import BY_ROLE, new_app, sign_in_as
from ui import state


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_auditor_downloads_a_signed_zip_that_verifies(vigil_env, tmp_path, fmt) -> None:  # type: ignore[no-untyped-def]
    ctx = vigil_env.ctx
    before = len(ctx.audit.query(action="audit.export", actor="aldo"))
    at = sign_in_as(new_app(), vigil_env, BY_ROLE["auditor"]).run()
    at.switch_page("pages/audit.py").run()
    at.radio(key="audit.export_format").set_value(fmt).run()
    at.button(key="audit.export").click().run()
    at.button(key="confirm.ok").click().run()
    assert not at.exception, at.exception
    [download] = at.get("download_button")
    name, mime, data = at.session_state[state.AUDIT_EXPORT_RESULT]
    assert download.label == f"Download {name}" and name.endswith(f".{fmt}") and mime == "application/zip"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == sorted([name, f"{name}.manifest.json", f"{name}.sig"])
        zf.extractall(tmp_path)
    pem = public_key_path(key_path(ctx.settings)).read_bytes()
    assert verify_export(tmp_path / name, public_key_pem=pem) == []
    manifest = json.loads((tmp_path / f"{name}.manifest.json").read_text())
    assert manifest["generated_by"] == "aldo" and manifest["format"] == fmt
    in_range = ctx.audit.query(since=manifest["query"]["since"], until=manifest["query"]["until"])
    assert manifest["entries"] == len([r for r in in_range if r.seq <= manifest["chain_head"]["seq"]]) > 0
    exported = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(exported[:-1] + bytes([exported[-1] ^ 1]))
    assert verify_export(tmp_path / name, public_key_pem=pem)[0].startswith("file changed")
    assert len(ctx.audit.query(action="audit.export", actor="aldo")) == before + 1  # audited


def test_auditor_builds_a_models_signed_evidence_pack_on_the_page(vigil_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = vigil_env.ctx
    at = sign_in_as(new_app(), vigil_env, BY_ROLE["auditor"]).run()
    at.switch_page("pages/audit.py").run()
    at.selectbox(key="audit.pack_model").select("diabetes").run()
    at.number_input(key="audit.pack_days").set_value(7).run()
    at.button(key="audit.pack").click().run()
    at.button(key="confirm.ok").click().run()
    assert not at.exception, at.exception
    name, mime, data = at.session_state[state.AUDIT_PACK_RESULT]
    assert name.startswith("vigil-evidence-diabetes-") and mime == "application/zip"
    [download] = [d for d in at.get("download_button") if d.proto.label.endswith("(signed)")]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == sorted([name, f"{name}.manifest.json", f"{name}.sig"])
        zf.extractall(tmp_path)
    pem = public_key_path(key_path(ctx.settings)).read_bytes()
    assert verify_export(tmp_path / name, public_key_pem=pem) == []
    manifest = json.loads((tmp_path / f"{name}.manifest.json").read_text())
    assert manifest["generated_by"] == "aldo" and manifest["query"]["resource"] == "diabetes"
    with zipfile.ZipFile(tmp_path / name) as pack:  # the pack itself: one file per part
        assert any(n.startswith("model_card") for n in pack.namelist())
        assert any(n.startswith("audit") for n in pack.namelist())
