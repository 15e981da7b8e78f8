"""Command-line identity end to end, on SQLite and PostgreSQL: real `python -m jobs.access`
processes against a real database, with and without a personal API token."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text

from core.actor import Actor
from core.context import AppContext
from core.db import Base, import_all_tables
from core.settings import Settings
from governance import access, identity, tokens
from governance.tables import Grant

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
OS_WHERE = f"os:{pwd.getpwuid(os.geteuid()).pw_name}@{socket.gethostname()}"


@pytest.fixture
def installation(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if k not in ("VIGIL_DEMO", "VIGIL_TOKEN", "VIGIL_JOB_USER")}
    env.update({"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_CONFIG": str(REPO / "config" / "models.yaml"),
                "DATABASE_URL": db_url})
    ctx = AppContext.create(Settings.from_env(env))
    access.bootstrap_admin(ctx, "alice", "alice-password")
    identity.create_user(ctx, Actor("alice", "ui"), "bob", "bob-password")
    yield ctx, env
    ctx.engine.dispose()


def _access(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobs.access", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _grants(ctx) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with ctx.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(Grant.role, Grant.granted_by).where(Grant.username == "bob"))]


def _every_stored_value(ctx) -> str:  # type: ignore[no-untyped-def]
    import_all_tables()
    parts = []
    with ctx.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            parts.extend(repr(tuple(row)) for row in conn.execute(text(f'SELECT * FROM "{table.name}"')))
    return "\n".join(parts)


def test_grant_as_admin_needs_the_admins_token(installation) -> None:  # type: ignore[no-untyped-def]
    ctx, env = installation
    refused = _access(env, "grant", "--as", "alice", "bob", "admin", "--reason", "take over")
    assert refused.returncode == 4, refused.stderr
    assert refused.stderr.strip().count("\n") == 0 and "VIGIL_TOKEN" in refused.stderr
    assert _grants(ctx) == []
    denied = ctx.audit.head()
    assert (denied.action, denied.outcome, denied.resource, denied.client_addr) == \
        ("auth.cli", "denied", "user:alice", OS_WHERE)

    new = tokens.create_token(ctx, Actor("alice", "ui"), "admin laptop")
    ok = _access({**env, "VIGIL_TOKEN": new.token}, "grant", "bob", "operator", "--reason", "on call")
    assert ok.returncode == 0, ok.stderr
    assert _grants(ctx) == [("operator", "alice")]
    entry = ctx.audit.query(action="access.grant")[-1]
    assert (entry.actor, entry.source, entry.client_addr) == ("alice", "cli", OS_WHERE)
    assert tokens.list_tokens(ctx, Actor("alice", "ui"))[0].last_used_at is not None

    tokens.revoke_token(ctx, Actor("alice", "ui"), new.view.id)
    late = _access({**env, "VIGIL_TOKEN": new.token}, "grant", "bob", "viewer", "--reason", "again")
    assert late.returncode == 4 and "not valid" in late.stderr and new.token not in late.stderr
    assert _grants(ctx) == [("operator", "alice")]
    assert (ctx.audit.head().action, ctx.audit.head().outcome) == ("auth.token", "failed")

    stored = _every_stored_value(ctx)  # every table, the audit log included
    assert new.token not in stored and new.token[len(tokens.TOKEN_PREFIX):] not in stored
    assert identity.token_hash(new.token) in stored  # what is kept instead
    assert ctx.audit.verify().ok
