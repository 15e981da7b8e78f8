"""Migrations and the SQLAlchemy models agree, on SQLite and on the real PostgreSQL, and the
first migration installs the audit log's append-only triggers (and removes them on downgrade)."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from core.db import MIGRATIONS_DIR, Base, import_all_tables, make_engine, migrate

pytestmark = pytest.mark.integration


def _diff(engine):  # type: ignore[no-untyped-def]
    import_all_tables()
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)


def test_migrations_match_the_models(engine) -> None:  # type: ignore[no-untyped-def]
    assert _diff(engine) == []


def test_migrate_is_idempotent_and_creates_the_foundation_tables(engine) -> None:  # type: ignore[no-untyped-def]
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"job_runs", "users", "sign_in_sessions", "grants", "audit_log"} <= tables
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1


def test_triggers_refuse_update_and_delete(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_log (seq, ts, actor, action, resource, outcome, reason, details, "
                          "source, client_addr, prev_hash, hash) VALUES (1, 't', 'a', 'b', 'c', 'success', "
                          "'', '{}', 'cli', NULL, 'p', 'h')"))
    for statement in ("UPDATE audit_log SET reason = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT reason FROM audit_log")).scalar_one() == ""


def test_downgrade_to_base_and_upgrade_again(db_url: str) -> None:
    eng = make_engine(db_url)
    try:
        migrate(eng)
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection_engine"] = eng
        command.downgrade(cfg, "base")
        assert "audit_log" not in inspect(eng).get_table_names()
        migrate(eng)
        assert _diff(eng) == []
    finally:
        eng.dispose()
