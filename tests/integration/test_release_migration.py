"""Migration 0013 (release requests, decisions and alias history) goes down to 0012 and up again on SQLite and
on the real PostgreSQL, leaving the other tables alone, and its constraints exist in the schema."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from core.db import MIGRATIONS_DIR, current_revision, head_revision, make_engine, migrate
from tests.integration.test_migrations import _diff

pytestmark = pytest.mark.integration


def test_0013_down_and_up(db_url: str) -> None:
    eng = make_engine(db_url)
    try:
        migrate(eng)
        assert current_revision(eng) == head_revision()  # 0013 and whatever came after it
        uniques = {tuple(u["column_names"]) for u in inspect(eng).get_unique_constraints("release_decisions")}
        assert {("request_id", "approver"), ("request_id", "ordinal")} <= uniques
        requests = inspect(eng).get_unique_constraints("release_requests")
        assert {tuple(u["column_names"]) for u in requests} == {("open_model",)}
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection_engine"] = eng
        command.downgrade(cfg, "0012_locks")
        tables = set(inspect(eng).get_table_names())
        assert not {"release_requests", "release_decisions", "alias_moves"} & tables
        assert {"audit_log", "grants", "job_runs"} <= tables
        migrate(eng)
        assert {"release_requests", "release_decisions", "alias_moves"} <= set(inspect(eng).get_table_names())
        assert _diff(eng) == []
    finally:
        eng.dispose()
