"""Database: the one declarative Base, the engine factory, short write transactions and migration.

SQLite (WAL, a bounded busy timeout, foreign keys) is the embedded default; PostgreSQL is used
through ``DATABASE_URL``. Engines are created by :func:`make_engine` (or
:func:`engine_from_settings`) at start-up, never at import.

How writers stay safe under concurrency (one place for each rule):

- SQLite transactions start with a plain ``BEGIN`` unless a connection carries the execution
  option ``sqlite_immediate=True``, which makes it ``BEGIN IMMEDIATE``. A deferred transaction
  that reads and then writes must upgrade its read snapshot to the write lock; when another
  writer committed in between, SQLite answers ``SQLITE_BUSY`` at once, without waiting for the
  busy timeout. Writers therefore use :func:`write_scope` (``BEGIN IMMEDIATE``: the write lock
  is taken up front, waiting up to the busy timeout) and keep the transaction short: no slow
  work (password hashing, HTTP) inside it.
- :func:`retry_busy` retries a whole unit of work a bounded number of times when the database
  still answers "database is locked"/busy, a serialisation failure or a deadlock.
- Timeouts: PostgreSQL gets ``connect_timeout`` and a ``statement_timeout`` (through
  ``options``); SQLite a busy timeout. Failures at engine creation, first connect and migration
  become :class:`ConfigError` (a wrong URL, database name, user, password or an unwritable path:
  exit 2) or :class:`ServiceUnavailable` (the server does not answer, the file is locked: exit
  5), each one line naming what to fix, with the URL's password hidden.
- :func:`migrate` runs under a lock (``pg_advisory_lock`` on PostgreSQL, a lock file beside the
  SQLite database) so processes starting at once wait for one migrator and then find the schema
  current.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from core.errors import ConfigError, ServiceUnavailable

if TYPE_CHECKING:
    from core.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
DEFAULT_CONNECT_TIMEOUT_S = 10
DEFAULT_BUSY_TIMEOUT_S = 30
DEFAULT_STATEMENT_TIMEOUT_S = 300
MIGRATE_LOCK_KEY = 0x5649_4749_4C4D  # "VIGILM": the advisory lock that serialises migrators
BUSY_RETRY_ATTEMPTS = 5
BUSY_RETRY_SECONDS = 10.0
FAST_FAILURE_SECONDS = 1.0  # a busy error sooner than this did not wait out the busy timeout

T = TypeVar("T")
log = logging.getLogger("vigil.db")


class Base(DeclarativeBase):
    """Shared declarative base; each package defines its tables in its own tables.py."""


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _normalise_url(url: str) -> str:
    # Users write postgresql://; we ship psycopg 3, not psycopg2.
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def safe_url(url: Any) -> str:
    """The URL as text with its secrets masked by core.redact, the one place for that rule."""
    from core.redact import redact_url

    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else str(url)
    return redact_url(text)


def _sqlite_path(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str, *, echo: bool = False, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
                busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S,
                statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT_S) -> Engine:
    """Create an engine for ``url`` with bounded waits (seconds; ``statement_timeout`` 0 = none).

    SQLite gets WAL mode, a busy timeout of ``busy_timeout`` and controlled transactions;
    PostgreSQL a ``connect_timeout`` and a server-side ``statement_timeout``.
    """
    url = _normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"DATABASE_URL: not a database URL ({exc.__class__.__name__}); "
                          "expected sqlite:///PATH or postgresql://USER@HOST/DB") from None
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(url, echo=echo, busy_timeout=busy_timeout)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = max(1, round(connect_timeout))
        if statement_timeout > 0:
            given = parsed.query.get("options") or ""
            options = " ".join(given) if isinstance(given, tuple) else str(given)
            extra = f"-c statement_timeout={int(statement_timeout * 1000)}"
            connect_args["options"] = f"{options} {extra}".strip()
    try:
        return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20,
                             connect_args=connect_args)
    except Exception as exc:  # bad dialect, missing driver
        raise ConfigError(f"DATABASE_URL: cannot create an engine for {safe_url(url)}: "
                          f"{_first_line(exc)}") from None


def _make_sqlite_engine(url: str, *, echo: bool, busy_timeout: float) -> Engine:
    path = _sqlite_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"DATABASE_URL: cannot create the directory {path.parent} for the SQLite "
                              f"database ({exc.strerror or exc}); choose a writable path") from None
    busy_ms = max(0, int(busy_timeout * 1000))
    engine = create_engine(url, echo=echo,
                           connect_args={"timeout": busy_timeout, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")  # first: the WAL switch may wait too
        cursor.execute("PRAGMA journal_mode=WAL")
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


def engine_from_settings(settings: Settings, *, echo: bool = False) -> Engine:
    """The engine for ``settings.database_url`` with the configured timeouts."""
    return make_engine(settings.database_url, echo=echo,
                       connect_timeout=settings.db_connect_timeout_seconds,
                       busy_timeout=settings.db_busy_timeout_seconds,
                       statement_timeout=settings.db_statement_timeout_seconds)


# -- errors ------------------------------------------------------------------------------------
def _first_line(exc: BaseException) -> str:
    """The driver's own message, first line only: never SQL, parameters or class names."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0].strip() if text else type(orig).__name__


_CONFIG_MARKERS = (
    "does not exist",  # database "x" / role "x" does not exist
    "authentication failed", "no password supplied", "password authentication",
    "could not translate host name", "failed to resolve host", "name or service not known",
    "nodename nor servname", "invalid dsn", "invalid connection option", "invalid uri",
    "unable to open database file", "readonly database", "read-only file system",
    "permission denied", "file is not a database",
)


def is_busy_error(exc: BaseException) -> bool:
    """True for errors worth retrying: SQLite busy/locked, PostgreSQL serialisation or deadlock."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED and their extended codes
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in ("40001", "40P01"):
        return True
    message = str(orig).lower()
    return "database is locked" in message or "database is busy" in message


def describe_db_error(exc: BaseException) -> str:
    """One line for a database error that escaped every service: the driver's message only."""
    return f"database error: {_first_line(exc)}"


def translate_db_error(exc: BaseException, url: Any, *, doing: str = "connecting") -> Exception:
    """A ConfigError (fix the URL or path) or ServiceUnavailable (retry later) for ``exc``."""
    where = safe_url(url)
    detail = _first_line(exc)
    lowered = detail.lower()
    if is_busy_error(exc):
        return ServiceUnavailable(f"database {where} is locked by another process ({detail}) while "
                                  f"{doing}; retry later or raise VIGIL_DB_BUSY_TIMEOUT_SECONDS")
    if any(marker in lowered for marker in _CONFIG_MARKERS):
        return ConfigError(f"DATABASE_URL: {where}: {detail} (while {doing}); check the database "
                           "name, user, password, host and that the path is writable")
    if "timeout" in lowered or "timed out" in lowered or "canceling statement" in lowered:
        return ServiceUnavailable(f"database {where} did not answer in time while {doing} ({detail}); "
                                  "check the server or raise VIGIL_DB_CONNECT_TIMEOUT_SECONDS / "
                                  "VIGIL_DB_STATEMENT_TIMEOUT_SECONDS")
    return ServiceUnavailable(f"database {where} does not answer while {doing}: {detail}")


def retry_busy(fn: Callable[[], T], *, attempts: int = BUSY_RETRY_ATTEMPTS,
               max_seconds: float = BUSY_RETRY_SECONDS) -> T:
    """Run ``fn`` (a whole short transaction), retrying it while the database is busy.

    Bounded: at most ``attempts`` tries within ``max_seconds``, with jittered exponential
    back-off (50 ms .. 2 s). Only an attempt that failed *fast* is retried (a snapshot conflict,
    a serialisation failure, a deadlock); one that already waited out the busy timeout is not
    repeated, so a database locked by another process fails after one busy timeout. The last
    error is re-raised; other errors are raised at once.
    """
    import time

    from tenacity import (
        Retrying,
        retry_if_exception,
        stop_after_attempt,
        stop_after_delay,
        wait_random_exponential,
    )

    last_took = [0.0]

    def attempt() -> T:
        started = time.monotonic()
        try:
            return fn()
        finally:
            last_took[0] = time.monotonic() - started

    def worth_retrying(exc: BaseException) -> bool:
        return is_busy_error(exc) and last_took[0] < FAST_FAILURE_SECONDS

    retrying = Retrying(retry=retry_if_exception(worth_retrying),
                        stop=stop_after_attempt(attempts) | stop_after_delay(max_seconds),
                        wait=wait_random_exponential(multiplier=0.05, max=2), reraise=True)
    return retrying(attempt)


# -- sessions ----------------------------------------------------------------------------------
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error (deferred: for reads)."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def write_scope(engine: Engine) -> Iterator[Session]:
    """A short write transaction: ``BEGIN IMMEDIATE`` on SQLite, so it waits for the write lock
    up front instead of failing when it upgrades a read snapshot. Keep slow work outside it."""
    bind = engine.execution_options(sqlite_immediate=True) if is_sqlite(engine) else engine
    with session_scope(bind) as session:
        yield session


def import_all_tables() -> None:
    """Import every tables module so Base.metadata is complete (for Alembic and tests)."""
    import importlib

    for module in (
        "core.tables",
        "governance.tables",
        "governance.release_tables",
        "governance.retrain_tables",
        "governance.auto_rollback_tables",
        "governance.audit_retention_tables",
        "governance.inventory_tables",
        "monitoring.logs.tables",
        "monitoring.drift.tables",
        "monitoring.slo.tables",
        "monitoring.health.tables",
        "monitoring.explain.tables",
    ):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


# -- migration ---------------------------------------------------------------------------------
@contextmanager
def _migration_lock(engine: Engine, busy_timeout: float) -> Iterator[None]:
    """Hold the migrators' lock: one process migrates, the others wait and then find it current."""
    if is_sqlite(engine):
        path = _sqlite_path(str(engine.url))
        if path is None:  # in-memory: one process only
            yield
            return
        from filelock import FileLock, Timeout

        lock = FileLock(str(path) + ".migrate.lock")
        try:
            lock.acquire(timeout=max(busy_timeout, 1) * 4)
        except Timeout:
            raise ServiceUnavailable(f"database {safe_url(engine.url)}: another process has been "
                                     f"migrating it for over {max(busy_timeout, 1) * 4:.0f} s "
                                     f"(lock file {lock.lock_file})") from None
        except OSError as exc:
            raise ConfigError(f"DATABASE_URL: cannot create the lock file beside {path} "
                              f"({exc.strerror or exc}); choose a writable directory") from None
        try:
            yield
        finally:
            lock.release()
        return
    if engine.dialect.name != "postgresql":
        yield
        return
    from sqlalchemy import text

    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        # keyed by schema too, so that migrating one schema does not wait for another
        conn.execute(text("SELECT pg_advisory_lock(:key, hashtext(current_schema()))"),
                     {"key": MIGRATE_LOCK_KEY & 0x7FFF_FFFF})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key, hashtext(current_schema()))"),
                         {"key": MIGRATE_LOCK_KEY & 0x7FFF_FFFF})


def migrate(engine: Engine, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S) -> bool:
    """Bring the schema to the newest Alembic revision (idempotent, safe to run concurrently).

    Returns True when this call changed the schema, False when it was already current
    (possibly because another process migrated it while this one waited for the lock).
    """
    from alembic import command
    from alembic.config import Config

    head = head_revision()
    if current_revision(engine) == head:
        return False  # the usual start: schema current, no lock taken, nothing written
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection_engine"] = engine
    try:
        with _migration_lock(engine, busy_timeout):
            if current_revision(engine) == head:
                return False  # another process migrated it while we waited
            command.upgrade(cfg, "head")
            return True
    except (OperationalError, DBAPIError) as exc:
        raise translate_db_error(exc, engine.url, doing="migrating the schema") from None
    except OSError as exc:  # e.g. the SQLite file cannot be created
        raise ConfigError(f"DATABASE_URL: {safe_url(engine.url)}: {exc.strerror or exc}; "
                          "choose a writable path") from None


def current_revision(engine: Engine) -> str | None:
    """The schema's Alembic revision, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except (OperationalError, DBAPIError) as exc:
        raise translate_db_error(exc, engine.url, doing="reading the schema version") from None


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def ping(engine: Engine) -> None:
    """Raise ServiceUnavailable unless the database answers a trivial query."""
    from sqlalchemy import text

    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable(f"database {safe_url(engine.url)} does not answer: "
                                 f"{_first_line(exc)}") from exc
