"""`python -m jobs.access` and `python -m jobs.audit`: outputs and exit codes a user sees."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from jobs import access as access_cli
from jobs import audit as audit_cli
from jobs._cli import EXIT_DENIED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, run_main

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_CONFIG": str(REPO / "config" / "models.yaml")}
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("VIGIL_TOKEN", raising=False)
    # --as alone is honoured only in demo mode (outside it a person needs VIGIL_TOKEN: see
    # tests/unit/governance/test_cli_identity.py); these flows are about the commands themselves
    monkeypatch.setenv("VIGIL_DEMO", "true")
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def _run(module, argv: list[str], monkeypatch, stdin: str = "") -> int:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return run_main(module.main, argv)


def test_access_cli_flow(env, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _run(access_cli, ["bootstrap-admin", "alice", "--password-stdin"], monkeypatch, "alice-pass-1\n") == EXIT_OK
    assert "admin alice created" in capsys.readouterr().out
    assert _run(access_cli, ["bootstrap-admin", "eve", "--password-stdin"], monkeypatch, "eve-pass-12\n") == EXIT_FAILED
    assert "active admin already exists" in capsys.readouterr().err
    assert _run(access_cli, ["create-user", "--as", "alice", "bob", "--password-stdin"], monkeypatch,
                "bob-pass-12\n") == EXIT_OK
    assert _run(access_cli, ["create-user", "--as", "alice", "cron", "--service"], monkeypatch) == EXIT_OK
    assert "service account cron created" in capsys.readouterr().out
    assert _run(access_cli, ["grant", "--as", "alice", "bob", "operator", "--scope", "diabetes",
                             "--reason", "on call", "--expires-at", "2999-01-01T00:00:00Z"], monkeypatch) == EXIT_OK
    assert "bob is operator on diabetes" in capsys.readouterr().out
    assert _run(access_cli, ["grant", "--as", "bob", "bob", "admin", "--reason", "me"], monkeypatch) == EXIT_DENIED
    assert "permission denied: bob may not access.manage on *" in capsys.readouterr().err
    assert _run(access_cli, ["grant", "--as", "alice", "alice", "viewer", "--reason", "me"], monkeypatch) == EXIT_DENIED
    assert "may not grant a role to themselves" in capsys.readouterr().err
    assert _run(access_cli, ["grant", "--as", "alice", "bob", "wizard", "--reason", "x"], monkeypatch) == EXIT_USAGE
    assert "unknown role 'wizard'" in capsys.readouterr().err
    assert _run(access_cli, ["list-grants", "--as", "alice"], monkeypatch) == EXIT_OK
    out = capsys.readouterr().out
    assert "alice" in out and "operator  diabetes" in out and "2999-01-01T00:00:00Z" in out
    assert _run(access_cli, ["revoke", "--as", "alice", "2", "--reason", "rotation"], monkeypatch) == EXIT_OK
    assert "revoked" in capsys.readouterr().out
    assert _run(access_cli, ["list-users", "--as", "alice"], monkeypatch) == EXIT_OK
    users = capsys.readouterr().out
    assert "cron" in users and "service" in users
    assert _run(access_cli, ["set-password", "--as", "alice", "bob", "--password-stdin"], monkeypatch, "") == EXIT_USAGE
    assert "no password on standard input" in capsys.readouterr().err


def test_access_cli_help_explains_itself(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as done:
        access_cli.main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for command in ("bootstrap-admin", "create-user", "set-password", "grant", "revoke", "list-users", "list-grants"):
        assert command in out


def test_audit_cli_export_and_tail(env, monkeypatch, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _run(access_cli, ["bootstrap-admin", "alice", "--password-stdin"], monkeypatch, "alice-pass-1\n")
    capsys.readouterr()
    out_file = tmp_path / "audit.jsonl"
    assert _run(audit_cli, ["export", "--as", "alice", "--format", "jsonl", "--out", str(out_file)], monkeypatch) == 0
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [r["action"] for r in rows] == ["access.bootstrap"]
    assert _run(audit_cli, ["tail", "--as", "alice", "-n", "5"], monkeypatch) == EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert "access.bootstrap" in out[0] and "audit.export" in out[1] and "alice [cli@os:" in out[1]
    assert _run(audit_cli, ["export", "--as", "nobody", "--format", "csv"], monkeypatch) == EXIT_DENIED


def _verify_subprocess(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    full_env.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "jobs.audit", "verify"], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_audit_verify_catches_a_tampered_entry(env, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from core.context import AppContext

    _run(access_cli, ["bootstrap-admin", "alice", "--password-stdin"], monkeypatch, "alice-pass-1\n")
    _run(access_cli, ["create-user", "--as", "alice", "bob", "--password-stdin"], monkeypatch, "bob-pass-12\n")
    _run(access_cli, ["grant", "--as", "alice", "bob", "viewer", "--reason", "read"], monkeypatch)
    good = _verify_subprocess(env)
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip().splitlines()[-1].startswith("OK 3 entries head=")

    ctx = AppContext.create()
    with ctx.engine.begin() as conn:  # an attacker with database rights: drop the guard, edit history
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET outcome = 'success', resource = 'user:mallory' WHERE seq = 2"))
    ctx.engine.dispose()
    bad = _verify_subprocess(env)
    assert bad.returncode == 1
    last = bad.stdout.strip().splitlines()[-1]
    assert last.startswith("BROKEN at seq 2: hash mismatch"), bad.stdout + bad.stderr
