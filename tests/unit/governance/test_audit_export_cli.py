"""`python -m jobs.audit export --out`, `verify-export`, `public-key`: files, outputs, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs import access as access_cli
from jobs import audit as audit_cli
from jobs._cli import EXIT_DENIED, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from tests.unit.governance.test_governance_cli import _run, env  # noqa: F401  (the same set-up)


@pytest.fixture(autouse=True)
def _own_key(env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("VIGIL_EXPORT_SIGNING_KEY_FILE", raising=False)  # the key generated in the data dir


def test_export_verify_on_another_machine_and_tamper(env, monkeypatch, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert _run(access_cli, ["bootstrap-admin", "alice", "--password-stdin"], monkeypatch, "alice-pass-1\n") == 0
    out = tmp_path / "out" / "audit.csv"
    out.parent.mkdir()
    assert _run(audit_cli, ["export", "--as", "alice", "--format", "csv", "--out", str(out)], monkeypatch) == EXIT_OK
    assert "signed" in capsys.readouterr().err
    manifest = json.loads(Path(f"{out}.manifest.json").read_text())
    assert (manifest["file"], manifest["format"], manifest["entries"]) == ("audit.csv", "csv", 1)
    pub = tmp_path / "console.pub.pem"
    assert _run(audit_cli, ["public-key", "--as", "alice", "--out", str(pub)], monkeypatch) == EXIT_OK
    assert pub.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert _run(audit_cli, ["public-key", "--as", "nobody"], monkeypatch) == EXIT_DENIED
    capsys.readouterr()

    # the auditor's machine: another data directory, and a database that cannot be reached
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/nowhere")
    assert _run(audit_cli, ["verify-export", str(out), "--public-key", str(pub)], monkeypatch) == EXIT_OK
    assert capsys.readouterr().out.startswith(f"OK {out}: signature, manifest and file hash intact")
    data = bytearray(out.read_bytes())
    data[-3] ^= 0x20
    out.write_bytes(bytes(data))
    assert _run(audit_cli, ["verify-export", str(out), "--public-key", str(pub)], monkeypatch) == EXIT_FAILED
    assert capsys.readouterr().out.startswith(f"FAILED {out}: file changed: its SHA-256 is")
    assert _run(audit_cli, ["verify-export", str(out), "--public-key", str(tmp_path / "none.pem")],
                monkeypatch) == EXIT_USAGE
    assert f"cannot read the public key file {tmp_path / 'none.pem'}: No such file" in capsys.readouterr().err


def test_export_to_stdout_stays_unsigned_and_pdf_needs_out(env, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    _run(access_cli, ["bootstrap-admin", "alice", "--password-stdin"], monkeypatch, "alice-pass-1\n")
    capsys.readouterr()
    assert _run(audit_cli, ["export", "--as", "alice", "--format", "jsonl"], monkeypatch) == EXIT_OK
    assert [json.loads(x)["action"] for x in capsys.readouterr().out.splitlines()] == ["access.bootstrap"]
    assert _run(audit_cli, ["export", "--as", "alice", "--format", "pdf"], monkeypatch) == EXIT_USAGE
    assert "a PDF export needs --out FILE" in capsys.readouterr().err


def test_verify_export_against_db(env, monkeypatch, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _run(access_cli, ["bootstrap-admin", "alice", "--password-stdin"], monkeypatch, "alice-pass-1\n")
    out = tmp_path / "a.jsonl"
    assert _run(audit_cli, ["export", "--as", "alice", "--format", "jsonl", "--out", str(out)], monkeypatch) == 0
    capsys.readouterr()
    assert _run(audit_cli, ["verify-export", str(out), "--against-db", "--as", "alice"], monkeypatch) == EXIT_OK
    assert "and the live chain" in capsys.readouterr().out


def test_evidence_pack_from_the_command_line_verifies(env, monkeypatch, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _run(access_cli, ["bootstrap-admin", "alice", "--password-stdin"], monkeypatch, "alice-pass-1\n")
    capsys.readouterr()
    out = tmp_path / "pack.zip"
    assert _run(audit_cli, ["evidence", "--as", "alice", "--model", "diabetes", "--since", "2026-01-01",
                            "--out", str(out)], monkeypatch) == EXIT_OK
    err = capsys.readouterr().err
    assert "warning: versions.json: unavailable:" in err and "signed" in err  # no MLflow registry here
    assert _run(audit_cli, ["verify-export", str(out)], monkeypatch) == EXIT_OK
    assert capsys.readouterr().out.startswith(f"OK {out}")
    assert _run(audit_cli, ["evidence", "--as", "alice", "--model", "diabetes", "--since", "2027-01-01",
                            "--until", "2026-01-01", "--out", str(out)], monkeypatch) == EXIT_USAGE
    assert "the period is empty" in capsys.readouterr().err
