"""Database: the one declarative Base, the engine factory and schema migration.

SQLite (WAL, busy timeout, foreign keys) is the embedded default; PostgreSQL is used through
``DATABASE_URL``. Engines are created by :func:`make_engine` at start-up, never at import.

SQLite transactions start with a plain ``BEGIN`` unless a connection carries the execution
option ``sqlite_immediate=True``, which makes it ``BEGIN IMMEDIATE`` and so takes the write
lock up front: that is how writers that must be serialised (the audit chain) avoid forks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from core.errors import ConfigError, ServiceUnavailable

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class Base(DeclarativeBase):
    """Shared declarative base; each package defines its tables in its own tables.py."""


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _normalise_url(url: str) -> str:
    # Users write postgresql://; we ship psycopg 3, not psycopg2.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL mode and controlled transactions."""
    url = _normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # type: ignore[no-untyped-def]
            if conn.get_execution_options().get("sqlite_immediate"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    try:
        return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except Exception as exc:  # bad dialect, missing driver
        raise ConfigError(f"DATABASE_URL: cannot create an engine for {url!r}: {exc}") from exc


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def import_all_tables() -> None:
    """Import every tables module so Base.metadata is complete (for Alembic and tests)."""
    import importlib

    for module in (
        "core.tables",
        "governance.tables",
        "monitoring.logs.tables",
        "monitoring.drift.tables",
        "monitoring.health.tables",
        "monitoring.explain.tables",
    ):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection_engine"] = engine
    try:
        command.upgrade(cfg, "head")
    except Exception as exc:
        if "could not connect" in str(exc).lower() or "connection refused" in str(exc).lower():
            raise ServiceUnavailable(f"database at {engine.url!r} does not answer: {exc}") from exc
        raise


def ping(engine: Engine) -> None:
    """Raise ServiceUnavailable unless the database answers a trivial query."""
    from sqlalchemy import text

    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable(f"database does not answer: {type(exc).__name__}: {exc}") from exc
