"""Alembic environment: uses the engine handed over by core.db.migrate, or DATABASE_URL.

On SQLite the migration transaction begins IMMEDIATE, so it waits for another writer instead of
failing when it upgrades its read snapshot; core.db.migrate holds the migrators' lock around it.
"""

from __future__ import annotations

from alembic import context

from core.db import Base, engine_from_settings, import_all_tables
from core.settings import Settings

import_all_tables()
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = context.config.attributes.get("connection_engine")
    if engine is None:
        engine = engine_from_settings(Settings.from_env())
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":  # take the write lock up front (see core.db)
            connection = connection.execution_options(sqlite_immediate=True)
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run with a database URL")
run_migrations_online()
