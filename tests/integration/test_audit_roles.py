"""PostgreSQL roles from deploy/postgres/roles.sql: the runtime role cannot rewrite the audit log.

Throwaway owner and runtime roles (unique names, dropped afterwards) on the real server: the
owner migrates and applies the shipped grants with psql, as the README says; the runtime role
then appends and reads, works normally on the other tables, and is refused every way of
rewriting audit_log (UPDATE, DELETE, TRUNCATE, disabling or dropping the trigger).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.exc import DBAPIError

from core.actor import Actor
from core.db import make_engine, migrate, session_scope
from governance.audit import AuditLog
from governance.audit_anchor import AnchorConfig
from governance.identity import insert_user
from governance.rbac import insert_grant

pytestmark = pytest.mark.integration

ROLES_SQL = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "roles.sql"


def _apply_roles_sql(url: str, owner: str, app: str, schema: str) -> None:
    """Run the shipped file as the README says (psql -v ...); without psql, the same substitution."""
    u = make_url(url)
    sql = ROLES_SQL.read_text()
    psql = shutil.which("psql")
    if psql:
        done = subprocess.run(
            [psql, "-X", "-q", "-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "",
             "-d", u.database or "", "-v", "ON_ERROR_STOP=1", "-v", f"owner={owner}", "-v", f"app={app}",
             "-v", f"schema={schema}", "-f", str(ROLES_SQL)],
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return
    for name, value in (("owner", owner), ("app", app), ("schema", schema)):
        sql = sql.replace(f':"{name}"', f'"{value}"')
    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute(sql)  # type: ignore[union-attr]
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


@pytest.fixture
def roles(pg_url: str) -> Iterator[tuple[Engine, Engine]]:
    """(owner engine, runtime engine) on a fresh schema migrated by the owner, grants applied."""
    found = re.search(r"search_path=(\w+)", unquote(pg_url))  # the fixture's fresh schema
    assert found is not None
    schema_name = found.group(1)
    tag = uuid.uuid4().hex[:10]
    owner, app = f"vigil_owner_{tag}", f"vigil_app_{tag}"
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{owner}" LOGIN'))
        conn.execute(text(f'CREATE ROLE "{app}" LOGIN'))
        conn.execute(text(f'ALTER SCHEMA "{schema_name}" OWNER TO "{owner}"'))
    owner_url = make_url(pg_url).set(username=owner).render_as_string(hide_password=False)
    app_url = make_url(pg_url).set(username=app).render_as_string(hide_password=False)
    owner_engine, app_engine = make_engine(owner_url), make_engine(app_url)
    try:
        migrate(owner_engine)
        _apply_roles_sql(owner_url, owner, app, schema_name)
        yield owner_engine, app_engine
    finally:
        owner_engine.dispose()
        app_engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'ALTER SCHEMA "{schema_name}" OWNER TO CURRENT_USER'))
            conn.execute(text(f'DROP OWNED BY "{owner}" CASCADE'))  # one role at a time: PostgreSQL
            conn.execute(text(f'DROP OWNED BY "{app}" CASCADE'))  # fails on a shared default ACL
            conn.execute(text(f'DROP ROLE "{app}"'))
            conn.execute(text(f'DROP ROLE "{owner}"'))
        admin.dispose()


REFUSED = [
    ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1", "permission denied"),
    ("DELETE FROM audit_log WHERE seq = 2", "permission denied"),
    ("TRUNCATE audit_log", "permission denied"),
    ("ALTER TABLE audit_log DISABLE TRIGGER USER", "must be owner"),
    ("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete", "must be owner"),
    ("DROP TRIGGER audit_log_no_update_delete ON audit_log", "must be owner"),
    ("ALTER TABLE audit_log OWNER TO CURRENT_USER", "must be owner"),
]


def test_runtime_role_appends_but_cannot_rewrite_the_audit_log(roles) -> None:  # type: ignore[no-untyped-def]
    owner_engine, app_engine = roles
    migrate(app_engine)  # the schema is current: the runtime role's start-up check is a read, not a DDL
    log = AuditLog(app_engine)
    for i in range(3):
        log.append(Actor("ann", "ui", "10.0.0.1"), "model.view", "diabetes", details={"i": i})
    for statement, refusal in REFUSED:
        with pytest.raises(DBAPIError, match=refusal):
            with app_engine.begin() as conn:
                conn.execute(text(statement))
    report = log.verify()
    assert report.ok and report.count == 3, report.line()
    assert [r.details["i"] for r in log.query()] == [0, 1, 2]


def test_runtime_role_has_normal_dml_on_other_tables(roles) -> None:  # type: ignore[no-untyped-def]
    _, app_engine = roles
    with app_engine.begin() as conn:
        run_id = conn.execute(text(
            "INSERT INTO job_runs (job, model, started_at, status, actor, message, details) "
            "VALUES ('drift', 'm', now(), 'running', 'scheduler', '', '{}') RETURNING id")).scalar_one()
        conn.execute(text("UPDATE job_runs SET status = 'success' WHERE id = :id"), {"id": run_id})
        assert conn.execute(text("SELECT status FROM job_runs WHERE id = :id"), {"id": run_id}).scalar_one() \
            == "success"
        conn.execute(text("DELETE FROM job_runs WHERE id = :id"), {"id": run_id})
    with pytest.raises(DBAPIError, match="permission denied"):  # the schema version is the owner's
        with app_engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'x'"))
    with pytest.raises(DBAPIError, match="permission denied"):  # and so is the schema itself
        with app_engine.begin() as conn:
            conn.execute(text("CREATE TABLE evil (id int)"))


def test_the_owner_still_can_rewrite_which_is_why_checkpoints_exist(roles) -> None:  # type: ignore[no-untyped-def]
    """The split protects against the runtime role; the owner (migrations) can still disable the
    trigger: the signed checkpoints (test_audit_anchor.py) are what catch that."""
    owner_engine, app_engine = roles
    AuditLog(app_engine).append(Actor("ann", "ui"), "model.view", "diabetes")
    with owner_engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1"))
        conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
    assert not AuditLog(app_engine).verify().ok


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VIGIL_", "DATABASE_URL"))}
    return subprocess.run([sys.executable, "-m", "jobs.audit", *args], cwd=ROLES_SQL.parents[2],
                          env={**clean, **env}, capture_output=True, text=True, timeout=120)


def test_scheduled_checkpoint_as_runtime_role_catches_the_owners_rewrite(roles, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The whole story on PostgreSQL: the app (runtime role) checkpoints, the owner rewrites history
    and recomputes every hash, and `python -m jobs.audit verify` says BROKEN at the checkpoint."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    from tests.integration.test_audit_anchor import rewrite_history

    owner_engine, app_engine = roles
    key = tmp_path / "checkpoint.key"
    key.write_bytes(Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    env = {"DATABASE_URL": app_engine.url.render_as_string(hide_password=False),
           "VIGIL_DATA_DIR": str(tmp_path / "data"),
           "VIGIL_CONFIG": str(ROLES_SQL.parents[2] / "config" / "models.yaml"),
           "VIGIL_AUDIT_CHECKPOINT_URL": str(tmp_path / "anchor"), "VIGIL_AUDIT_CHECKPOINT_KEY_FILE": str(key)}
    with session_scope(app_engine) as session:  # the job account the scheduled checkpoint acts as
        insert_user(session, "scheduler", None, is_service=True)
        insert_grant(session, "scheduler", "operator", "*", granted_by="test", reason="runs the jobs")
    log = AuditLog(app_engine)
    for i in range(8):
        log.append(Actor("ann", "ui"), "model.view", "diabetes", details={"i": i})
    done = _cli(["checkpoint"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("checkpoint seq 8 head=")
    ok = _cli(["verify", "--quiet"], env)
    assert ok.returncode == 0 and " anchored at seq 8, " in ok.stdout.strip().splitlines()[-1], ok.stdout

    rewrite_history(owner_engine, 3, actor="mallory")
    assert log.verify(anchor=AnchorConfig()).ok  # the recomputed chain alone looks intact
    bad = _cli(["verify", "--quiet"], env)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    last = bad.stdout.strip().splitlines()[-1]
    assert last.startswith(f"BROKEN at seq 8: checkpoint {tmp_path / 'anchor'}/000000000008-") and "rewritten" in last
