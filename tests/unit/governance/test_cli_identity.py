"""Who the command line acts as (jobs._identity.cli_actor), through the real job entry points.

Outside demo mode ``--as`` alone is refused and audited; a personal API token in VIGIL_TOKEN
acts as its owner; no token means the job account. Every entry names the OS user and host.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from core.actor import Actor
from core.context import AppContext
from governance import access, identity, rbac, tokens
from governance.tables import ApiToken, Grant
from jobs import access as access_cli
from jobs import audit as audit_cli
from jobs import demo as demo_cli
from jobs._cli import EXIT_DENIED, EXIT_OK, EXIT_USAGE, run_main
from jobs._identity import cli_actor, job_environment

REPO = Path(__file__).resolve().parents[3]
ADMIN = Actor("alice", "ui")
# computed here independently of jobs._identity: the login this test runs under, on this host
OS_WHERE = f"os:{pwd.getpwuid(os.geteuid()).pw_name}@{socket.gethostname()}"


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIGIL_CONFIG", str(REPO / "config" / "models.yaml"))
    for key in ("DATABASE_URL", "VIGIL_DEMO", "VIGIL_TOKEN", "VIGIL_JOB_USER", "VIGIL_TOKEN_MAX_DAYS"):
        monkeypatch.delenv(key, raising=False)
    context = AppContext.create()
    access.bootstrap_admin(context, "alice", "alice-password")
    for name, role in (("bob", None), ("otto", "operator"), ("vera", "viewer")):
        identity.create_user(context, ADMIN, name, f"{name}-password")
        if role:
            rbac.grant(context, ADMIN, name, role, "*", reason="test")
    yield context
    context.engine.dispose()


def _bobs_grants(ctx) -> list[str]:  # type: ignore[no-untyped-def]
    with ctx.engine.connect() as conn:
        return list(conn.scalars(select(Grant.role).where(Grant.username == "bob")))


def _grant_bob(monkeypatch, *extra: str) -> int:  # type: ignore[no-untyped-def]
    return run_main(access_cli.main, ["grant", *extra, "bob", "operator", "--reason", "on call"])


def test_as_admin_outside_demo_mode_without_a_token_is_refused_and_audited(ctx, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _grant_bob(monkeypatch, "--as", "alice") == EXIT_DENIED
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "VIGIL_TOKEN" in err[0] and "Traceback" not in err[0]
    assert _bobs_grants(ctx) == []
    entry = ctx.audit.head()
    assert (entry.action, entry.outcome, entry.resource) == ("auth.cli", "denied", "user:alice")
    assert entry.actor != "alice" and entry.client_addr == OS_WHERE


def test_a_valid_admin_token_acts_as_that_person_with_os_user_and_host(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VIGIL_TOKEN", tokens.create_token(ctx, ADMIN, "laptop").token)
    assert _grant_bob(monkeypatch) == EXIT_OK
    assert _bobs_grants(ctx) == ["operator"]
    entry = ctx.audit.query(action="access.grant")[-1]
    assert (entry.actor, entry.source, entry.client_addr, entry.resource) == ("alice", "cli", OS_WHERE, "user:bob")
    assert _grant_bob(monkeypatch, "--as", "alice") == EXIT_OK  # --as naming the owner is accepted


def test_a_token_does_not_let_as_name_someone_else(ctx, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VIGIL_TOKEN", tokens.create_token(ctx, Actor("vera", "ui"), "laptop").token)
    assert _grant_bob(monkeypatch, "--as", "alice") == EXIT_DENIED
    assert "does not match the owner" in capsys.readouterr().err
    entry = ctx.audit.head()
    assert (entry.actor, entry.action, entry.outcome, entry.resource) == ("vera", "auth.cli", "denied", "user:alice")
    assert _grant_bob(monkeypatch) == EXIT_DENIED  # as vera herself: a viewer may not grant
    assert _bobs_grants(ctx) == []


@pytest.mark.parametrize("case", ["expired", "revoked"])
def test_expired_and_revoked_tokens_are_refused(ctx, monkeypatch, capsys, case: str) -> None:  # type: ignore[no-untyped-def]
    new = tokens.create_token(ctx, ADMIN, "laptop")
    if case == "revoked":
        tokens.revoke_token(ctx, ADMIN, new.view.id)
    else:
        with ctx.engine.begin() as conn:
            conn.execute(update(ApiToken).where(ApiToken.id == new.view.id)
                         .values(expires_at=rbac.utcnow() - timedelta(minutes=1)))
    monkeypatch.setenv("VIGIL_TOKEN", new.token)
    assert _grant_bob(monkeypatch) == EXIT_DENIED
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("permission denied: the API token in VIGIL_TOKEN is not valid")
    assert new.token not in err[0]
    assert _bobs_grants(ctx) == []
    entry = ctx.audit.head()
    assert (entry.action, entry.outcome, entry.actor, entry.client_addr) == ("auth.token", "failed", "alice", OS_WHERE)
    assert case in entry.reason and new.token not in str(entry)


def test_demo_mode_keeps_as_working(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VIGIL_DEMO", "true")
    assert _grant_bob(monkeypatch, "--as", "alice") == EXIT_OK
    entry = ctx.audit.query(action="access.grant")[-1]
    assert (entry.actor, entry.source, entry.client_addr) == ("alice", "cli", OS_WHERE)


def test_without_token_or_as_a_command_acts_as_the_job_account(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert run_main(audit_cli.main, ["tail", "-n", "3"]) == EXIT_DENIED  # scheduler may not read the audit
    entry = ctx.audit.head()
    assert (entry.actor, entry.source, entry.client_addr, entry.outcome) == ("scheduler", "job", OS_WHERE, "denied")
    monkeypatch.setenv("VIGIL_JOB_USER", "otto")
    assert cli_actor(AppContext.create()) == Actor("otto", "job", OS_WHERE)


def test_scheduled_jobs_never_inherit_a_personal_token(tmp_path: Path) -> None:
    """A scheduler started from a shell holding VIGIL_TOKEN still runs its jobs as the job account."""
    pkg = tmp_path / "fakejobs"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    seen = tmp_path / "seen.txt"
    (pkg / "probe.py").write_text(f"import os; open({str(seen)!r}, 'w').write(os.environ.get('VIGIL_TOKEN', '-'))\n")
    config = tmp_path / "models.yaml"
    config.write_text("models: []\nschedules:\n  probe: '* * * * *'\n")
    env = {**os.environ, "VIGIL_CONFIG": str(config), "VIGIL_DATA_DIR": str(tmp_path / "data"),
           "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}", "VIGIL_TOKEN": "vgl_personal-token-of-alice"}
    done = subprocess.run([sys.executable, "-m", "jobs.scheduler", "--once", "--all", "--module-prefix", "fakejobs"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert seen.read_text() == "-"
    assert job_environment({"VIGIL_TOKEN": "vgl_x", "PATH": "/bin"}) == {"PATH": "/bin"}


# -- jobs.demo --retrain and --force -------------------------------------------------------------
def _fake_train(calls: list[str]):  # type: ignore[no-untyped-def]
    def train(ctx, model, progress):  # type: ignore[no-untyped-def]
        calls.append(model)
        return {"registered_model": "diabetes-gbr", "version": "4", "spec": "retrain-1", "metrics": {}}

    return train


def test_retrain_without_model_retrain_is_refused_and_audited(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[str] = []
    monkeypatch.setattr("demo.actions._train", _fake_train(calls))
    monkeypatch.setenv("VIGIL_TOKEN", tokens.create_token(ctx, Actor("vera", "ui"), "cli").token)
    assert run_main(demo_cli.main, ["--retrain", "diabetes"]) == EXIT_DENIED
    assert calls == []
    entry = ctx.audit.head()
    assert (entry.actor, entry.action, entry.resource, entry.outcome) == ("vera", "model.retrain", "diabetes", "denied")


def test_retrain_with_model_retrain_audits_start_and_outcome(ctx, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    calls: list[str] = []
    monkeypatch.setattr("demo.actions._train", _fake_train(calls))
    monkeypatch.setenv("VIGIL_TOKEN", tokens.create_token(ctx, Actor("otto", "ui"), "cli").token)
    assert run_main(demo_cli.main, ["--retrain", "diabetes"]) == EXIT_OK
    assert calls == ["diabetes"] and "diabetes-gbr version 4" in capsys.readouterr().out
    entries = ctx.audit.query(action="model.retrain.*") + ctx.audit.query(action="model.retrain")
    assert [(e.action, e.outcome, e.actor, e.client_addr) for e in sorted(entries, key=lambda e: e.seq)] == [
        ("model.retrain.start", "success", "otto", OS_WHERE), ("model.retrain", "success", "otto", OS_WHERE)]
    assert entries[-1].details["version"] == "4"

    def broken(ctx, model, progress):  # type: ignore[no-untyped-def]
        raise RuntimeError("trainer crashed")

    monkeypatch.setattr("demo.actions._train", broken)
    with pytest.raises(RuntimeError):
        run_main(demo_cli.main, ["--retrain", "diabetes"])
    last = ctx.audit.head()
    assert (last.action, last.outcome) == ("model.retrain", "failed") and "trainer crashed" in last.reason


def test_force_outside_demo_mode_is_refused_before_anything_is_wiped(ctx, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    wiped: list[str] = []
    monkeypatch.setattr("demo.build.reset_registry", lambda ctx, progress: wiped.append("registry") or [])
    monkeypatch.setenv("VIGIL_TOKEN", tokens.create_token(ctx, ADMIN, "cli").token)
    assert run_main(demo_cli.main, ["--force"]) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "demo mode" in err[0]
    assert wiped == []
    entry = ctx.audit.head()
    assert (entry.actor, entry.action, entry.outcome) == ("alice", "demo.reset", "denied")


def test_force_in_demo_mode_needs_access_manage(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    wiped: list[str] = []
    monkeypatch.setattr("demo.build.reset_registry", lambda ctx, progress: wiped.append("registry") or [])
    monkeypatch.setenv("VIGIL_DEMO", "true")
    assert run_main(demo_cli.main, ["--force", "--as", "otto"]) == EXIT_DENIED
    assert run_main(demo_cli.main, ["--force"]) == EXIT_DENIED  # the job account is no admin either
    assert wiped == []
    assert [(e.actor, e.outcome) for e in ctx.audit.query(action="access.manage")] == \
        [("otto", "denied"), ("scheduler", "denied")]


def test_the_wipe_keeps_tokens_and_its_own_audit_entries(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from demo.actions import reset_demo

    monkeypatch.setenv("VIGIL_DEMO", "true")
    monkeypatch.setattr("demo.build.reset_registry", lambda ctx, progress: ["diabetes-gbr"])
    demo_ctx = AppContext.create()
    new = tokens.create_token(demo_ctx, ADMIN, "cli")
    reset_demo(demo_ctx, Actor("alice", "cli", OS_WHERE), lambda message: None)
    assert tokens.resolve_token(demo_ctx, new.token) == "alice"  # API tokens survive the wipe
    start, done = demo_ctx.audit.query(action="demo.reset.start")[-1], demo_ctx.audit.query(action="demo.reset")[-1]
    assert start.seq < done.seq and done.outcome == "success" and done.actor == "alice"
    assert done.details["registered_models_deleted"] == ["diabetes-gbr"]
    assert "api_tokens" not in done.details["cleared"] and "logstore" in done.details["cleared"]
    assert demo_ctx.audit.verify().ok
    demo_ctx.engine.dispose()


def test_every_job_with_as_documents_the_token_rule(capsys) -> None:  # type: ignore[no-untyped-def]
    import importlib

    for name in ("access", "audit", "demo", "ingest", "health", "shap", "slo"):
        module = importlib.import_module(f"jobs.{name}")
        argv = ["grant", "--help"] if name == "access" else ["tail", "--help"] if name == "audit" else ["--help"]
        with pytest.raises(SystemExit):
            module.main(argv)
        assert "VIGIL_TOKEN" in capsys.readouterr().out, name


def test_tokens_can_be_listed_and_revoked_from_the_shell(ctx, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    ottos = tokens.create_token(ctx, Actor("otto", "ui"), "otto ci")
    monkeypatch.setenv("VIGIL_TOKEN", tokens.create_token(ctx, Actor("vera", "ui"), "vera cli").token)
    assert run_main(access_cli.main, ["list-tokens"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "vera cli" in out and "otto ci" not in out and "token_hash" not in out
    assert run_main(access_cli.main, ["list-tokens", "--all"]) == EXIT_DENIED
    assert run_main(access_cli.main, ["revoke-token", str(ottos.view.id)]) == EXIT_DENIED
    assert tokens.resolve_token(ctx, ottos.token) == "otto"
    monkeypatch.setenv("VIGIL_TOKEN", tokens.create_token(ctx, ADMIN, "admin cli").token)
    assert run_main(access_cli.main, ["revoke-token", str(ottos.view.id)]) == EXIT_OK
    assert "otto ci" in capsys.readouterr().out
    assert [t.status() for t in tokens.list_tokens(ctx, Actor("otto", "ui"))] == ["revoked"]


def test_an_unknown_as_value_is_not_recorded_verbatim(ctx, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _grant_bob(monkeypatch, "--as", "Tr0ub4dor&3-my-password") == EXIT_DENIED
    assert "Tr0ub4dor" not in capsys.readouterr().err
    entry = ctx.audit.head()
    assert entry.resource == "user:(unknown user)" and "Tr0ub4dor" not in str(entry)
