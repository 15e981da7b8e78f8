"""Owns named locks between processes: one holder of a name (``drift:MODEL``, ``ingest:MODEL``)
at a time, released by the operating system or the database server when the holder dies.

:func:`named_lock` waits up to ``wait_s`` seconds and then raises :class:`LockBusy` (a
Conflict naming the holder and since when, where that is known); the returned
:class:`NamedLock` is a context manager that releases it.

- **PostgreSQL**: a session advisory lock (``pg_try_advisory_lock``) on a connection kept for
  the hold. The server drops it when that session ends, so a killed holder frees it at once.
  The holder's description is the session's ``application_name``, so a waiter can name it.
- **SQLite file database** (one machine): an OS file lock (filelock: ``flock``) on
  ``<database>.<name>.lock`` beside the database file; the kernel releases it when the process
  dies. The holder's description is written into the lock file.
- **In-memory SQLite** (tests, one process): a process-local lock.

No table, heartbeat or pid check: nothing outlives its holder, so nothing is ever stale.
:meth:`NamedLock.held` is the fencing check a commit makes ("is it still mine?"): on
PostgreSQL the lock's session can be terminated by an administrator or a network failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, text

from core.errors import ConfigError, Conflict

POLL_S = 0.2


class LockBusy(Conflict):
    """Another holder kept the lock for the whole wait."""

    def __init__(self, name: str, wait_s: float, holder: str | None, since: datetime | None) -> None:
        self.name, self.wait_s, self.holder, self.since = name, wait_s, holder, since
        super().__init__(f"the lock {name!r} is held{self.by()}; waited {wait_s:g} s")

    def by(self) -> str:
        """`` by HOLDER since TIME UTC`` as far as it is known (empty when nothing is)."""
        out = f" by {self.holder}" if self.holder else ""
        if self.since is not None:
            out += f" since {self.since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        return out


def default_holder() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


def named_lock(engine: Engine, name: str, *, wait_s: float, holder: str | None = None) -> NamedLock:
    """Acquire the lock ``name`` for ``engine``'s database (waiting up to ``wait_s`` seconds, 0
    tries once) and return it held; use it as ``with named_lock(...) as lock:``."""
    holder = holder or default_holder()
    lock: NamedLock
    database = _sqlite_file(engine)
    if engine.dialect.name == "postgresql":
        lock = _AdvisoryLock(name=name, holder=holder, engine=engine)
    elif database is not None:
        lock = _FileLock(name=name, holder=holder, database=database)
    elif engine.dialect.name == "sqlite":
        lock = _LocalLock(name=name, holder=holder, database=str(engine.url))
    else:
        raise ConfigError(f"DATABASE_URL: named locks need PostgreSQL or SQLite, not {engine.dialect.name}")
    deadline = time.monotonic() + max(0.0, wait_s)
    try:
        while not lock._try():
            if time.monotonic() >= deadline:
                who, since = lock._current()
                raise LockBusy(name, wait_s, who, since)
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())) or 0.001)
    except BaseException:
        lock.release()
        raise
    return lock


def _sqlite_file(engine: Engine) -> Path | None:
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    if database in ("", ":memory:") or "mode=memory" in str(engine.url):
        return None
    return Path(database).expanduser().resolve()


@dataclass
class NamedLock:
    name: str
    holder: str
    since: datetime = field(default_factory=lambda: datetime.now(UTC))

    def held(self, conn: Connection | None = None) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def release(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _try(self) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def _current(self) -> tuple[str | None, datetime | None]:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> NamedLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


# ---- PostgreSQL ---------------------------------------------------------------------------------

@dataclass
class _AdvisoryLock(NamedLock):
    engine: Engine | None = None
    key: int = 0
    backend: int = 0
    _conn: Connection | None = None

    def _connection(self) -> Connection:
        if self._conn is None:
            assert self.engine is not None
            conn = self.engine.connect()
            where = conn.execute(text("SELECT current_database() || '/' || current_schema()")).scalar_one()
            self.key = int.from_bytes(hashlib.sha256(f"vigil-lock:{where}:{self.name}".encode()).digest()[:8],
                                      "big", signed=True)
            self._conn = conn
        return self._conn

    def _key_params(self) -> dict[str, int]:
        unsigned = self.key & 0xFFFF_FFFF_FFFF_FFFF
        return {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF}

    def _try(self) -> bool:
        conn = self._connection()
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar_one())
        if got:
            conn.execute(text("SELECT set_config('application_name', :h, false)"), {"h": self.holder[:63]})
            self.backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            self.since = datetime.now(UTC)
        conn.commit()  # no transaction stays open while waiting or holding
        return got

    def _current(self) -> tuple[str | None, datetime | None]:
        conn = self._connection()
        row = conn.execute(text(
            "SELECT a.application_name, a.state_change"
            " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
            " AND l.classid::bigint = :hi AND l.objid::bigint = :lo"), self._key_params()).first()
        conn.commit()
        return (None, None) if row is None else ((row[0] or None), row[1])

    def held(self, conn: Connection | None = None) -> bool:
        """Inside the caller's transaction (``conn``): is the lock's session alive and holding it?"""
        if self._conn is None:
            return False
        query = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = :pid"
                     " AND objsubid = 1 AND classid::bigint = :hi AND objid::bigint = :lo")
        params = {"pid": self.backend, **self._key_params()}
        if conn is not None:
            return bool(conn.scalar(query, params))
        assert self.engine is not None
        with self.engine.connect() as other:
            return bool(other.scalar(query, params))

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if self.backend:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                conn.execute(text("RESET application_name"))
                self.backend = 0
            conn.commit()
            conn.close()
        except Exception:  # noqa: BLE001 - a dead session has released it already
            conn.invalidate()
            conn.close()


# ---- SQLite file: an OS file lock beside the database -------------------------------------------

def lock_path(database: Path, name: str) -> Path:
    """``<database>.<name>.lock``, the name made safe for a file name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return database.with_name(f"{database.name}.{safe}.{digest}.lock")


@dataclass
class _FileLock(NamedLock):
    database: Path | None = None
    _lock: Any = None

    def __post_init__(self) -> None:
        from filelock import FileLock

        assert self.database is not None
        self.path = lock_path(self.database, self.name)
        self._lock = FileLock(str(self.path), thread_local=False)

    def _try(self) -> bool:
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        self.since = datetime.now(UTC)
        # we hold the flock; a contender opens the file without truncating it, so this is safe
        with open(self.path, "w", encoding="utf-8") as fh:
            json.dump({"holder": self.holder, "since": self.since.isoformat()}, fh)
        return True

    def _current(self) -> tuple[str | None, datetime | None]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return str(data["holder"]), datetime.fromisoformat(data["since"])
        except (OSError, ValueError, KeyError, TypeError):
            return None, None

    def held(self, conn: Connection | None = None) -> bool:
        return bool(self._lock.is_locked)

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)


# ---- in-memory SQLite: one process ------------------------------------------------------------

_local_guard = threading.Lock()
_local: dict[tuple[str, str], tuple[threading.Lock, list[Any]]] = {}


@dataclass
class _LocalLock(NamedLock):
    database: str = ""
    _mine: bool = False

    def _entry(self) -> tuple[threading.Lock, list[Any]]:
        with _local_guard:
            return _local.setdefault((self.database, self.name), (threading.Lock(), [None, None]))

    def _try(self) -> bool:
        lock, info = self._entry()
        if not lock.acquire(blocking=False):
            return False
        self.since = datetime.now(UTC)
        info[:] = [self.holder, self.since]
        self._mine = True
        return True

    def _current(self) -> tuple[str | None, datetime | None]:
        _, info = self._entry()
        return info[0], info[1]

    def held(self, conn: Connection | None = None) -> bool:
        return self._mine

    def release(self) -> None:
        if self._mine:
            self._mine = False
            self._entry()[0].release()
