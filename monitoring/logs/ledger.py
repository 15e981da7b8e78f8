"""The ingest ledger's rules: one ingestion per model at a time, where a file resumes, and the
commit that makes an ingestion's rows visible exactly once.

- **Lock.** :func:`ingest_lock` admits one ingestion per model. PostgreSQL: a session advisory
  lock on a connection held for the run (the server drops it when the process dies). SQLite: a
  row in ``ingest_locks`` (``BEGIN IMMEDIATE`` would block every other writer for the whole
  run); a row whose holder process is gone (same host) or whose heartbeat is older than
  :data:`LEASE_S` is taken over. A second run waits for the first, then finds nothing new.
- **Commit.** :func:`commit_ingestion` inserts the ledger row and its ``ingest.file`` audit entry
  in one transaction (SQLite ``BEGIN IMMEDIATE``; PostgreSQL takes the audit chain's advisory
  lock inside it), after checking the lock is still ours. The Parquet parts were written
  staged (hidden); :func:`monitoring.logs.store.publish` renames them into place after the
  commit.
- **Recovery.** :func:`recover_staged`, at the start of each run and under the lock, publishes
  staged parts whose ledger row committed (the process died between commit and rename) and
  deletes staged parts and temporaries without one (it died before the commit), on local disk
  or an object store alike (core.storage).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from core.actor import Actor
from core.errors import Conflict
from core.runs import pid_alive
from core.storage import Location
from core.timeutil import aware

log = logging.getLogger("vigil.ingest")

LEASE_S = 600.0  # a SQLite lock row not refreshed for this long is stale
HEARTBEAT_S = 20.0
WAIT_S = 900.0  # how long a second ingestion of the same model waits for the first


@dataclass
class IngestLockHandle:
    engine: Engine
    model: str
    holder: str
    sqlite: bool
    pg_key: int = 0
    pg_backend: int = 0  # the PostgreSQL session that holds the advisory lock
    _beat: float = field(default_factory=time.monotonic)

    def heartbeat(self) -> None:
        """Refresh the SQLite lease (at most every HEARTBEAT_S); PostgreSQL needs none."""
        if not self.sqlite or time.monotonic() - self._beat < HEARTBEAT_S:
            return
        from monitoring.logs.tables import IngestLock

        with self.engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            conn.execute(
                update(IngestLock)
                .where(IngestLock.model == self.model, IngestLock.holder == self.holder)
                .values(heartbeat_at=datetime.now(UTC))
            )
        self._beat = time.monotonic()

    def check(self, conn: Connection) -> None:
        """Inside a commit transaction: raise Conflict unless this run still holds the lock (a
        SQLite lease taken over as stale; a PostgreSQL lock session that died)."""
        if self.sqlite:
            from monitoring.logs.tables import IngestLock

            held = conn.scalar(select(IngestLock.holder).where(IngestLock.model == self.model)) == self.holder
        else:
            unsigned = self.pg_key & 0xFFFF_FFFF_FFFF_FFFF
            held = bool(conn.scalar(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = :pid"
                     " AND objsubid = 1 AND classid::bigint = :hi AND objid::bigint = :lo"),
                {"pid": self.pg_backend, "hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF},
            ))
        if not held:
            raise Conflict(
                f"the ingest lock of {self.model} was lost (taken over or its session ended); "
                "nothing committed"
            )


@contextmanager
def ingest_lock(engine: Engine, model: str, *, wait_s: float = WAIT_S) -> Iterator[IngestLockHandle]:
    """Hold the one-ingestion-per-model lock for the body (waits up to ``wait_s``)."""
    holder = f"{socket.gethostname()[:200]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    if engine.dialect.name == "sqlite":
        handle = _acquire_sqlite(engine, model, holder, wait_s)
        try:
            yield handle
        finally:
            from monitoring.logs.tables import IngestLock

            with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
                conn.execute(delete(IngestLock).where(IngestLock.model == model, IngestLock.holder == holder))
        return
    with engine.connect() as conn:
        where = conn.execute(text("SELECT current_database() || '/' || current_schema()")).scalar_one()
        key = int.from_bytes(hashlib.sha256(f"vigil-ingest:{where}:{model}".encode()).digest()[:8], "big",
                             signed=True)
        deadline = time.monotonic() + wait_s
        while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one():
            conn.commit()
            if time.monotonic() > deadline:
                raise Conflict(f"another ingestion of {model} is still running after {wait_s:.0f} s")
            time.sleep(0.2)
        backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        conn.commit()
        try:
            yield IngestLockHandle(engine, model, holder, sqlite=False, pg_key=key, pg_backend=backend)
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
            except Exception:  # noqa: BLE001 - a dead connection has released it already
                conn.invalidate()


def _acquire_sqlite(engine: Engine, model: str, holder: str, wait_s: float) -> IngestLockHandle:
    from monitoring.logs.tables import IngestLock

    host, pid = holder.rsplit(":", 2)[0], os.getpid()
    deadline = time.monotonic() + wait_s
    while True:
        now = datetime.now(UTC)
        with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            row = conn.execute(select(IngestLock).where(IngestLock.model == model)).first()
            stale = row is not None and (
                (row.host == host and not pid_alive(row.pid))
                or aware(row.heartbeat_at) < now - timedelta(seconds=LEASE_S)
            )
            if stale:
                log.warning("%s: taking over the ingest lock of a stopped run (%s)", model, row.holder)
                conn.execute(delete(IngestLock).where(IngestLock.model == model))
            if row is None or stale:
                conn.execute(insert(IngestLock).values(model=model, holder=holder, host=host, pid=pid,
                                                       acquired_at=now, heartbeat_at=now))
                return IngestLockHandle(engine, model, holder, sqlite=True)
            current = row.holder
        if time.monotonic() > deadline:
            raise Conflict(f"another ingestion of {model} ({current}) is still running after {wait_s:.0f} s")
        time.sleep(0.2)


def ledger_sizes(engine: Engine, model: str) -> dict[int, set[str]]:
    """Consumed-prefix sizes of ``model``'s ledger -> their checksums."""
    from monitoring.logs.tables import IngestedFile

    stmt = select(IngestedFile.size, IngestedFile.checksum).where(IngestedFile.model == model)
    out: dict[int, set[str]] = {}
    with engine.connect() as conn:
        for size, checksum in conn.execute(stmt):
            out.setdefault(int(size), set()).add(checksum)
    return out


def last_consumed(engine: Engine, model: str, url: str) -> int | None:
    """The end of the newest ledger row for ``url`` (to tell a rotation from a new file)."""
    from monitoring.logs.tables import IngestedFile

    with engine.connect() as conn:
        return conn.scalar(
            select(IngestedFile.size)
            .where(IngestedFile.model == model, IngestedFile.url == url)
            .order_by(IngestedFile.id.desc())
            .limit(1)
        )


def commit_ingestion(
    engine: Engine,
    audit: Any,
    actor: Actor,
    lock: IngestLockHandle,
    row: dict[str, Any],
) -> bool:
    """Insert the ledger ``row`` and its audit entry atomically; False if the content was
    already in the ledger (nothing written)."""
    from monitoring.logs.tables import IngestedFile

    details = {k: row[k] for k in ("url", "checksum", "offset", "size", "rows_read", "rows_stored",
                                   "rows_quarantined", "reasons")}
    details["job_run_id"] = row.get("job_run_id")
    conn_ = engine.connect()
    if engine.dialect.name == "sqlite":
        conn_ = conn_.execution_options(sqlite_immediate=True)
    with conn_ as conn:
        try:
            with conn.begin():
                lock.check(conn)
                conn.execute(insert(IngestedFile).values(**row))
                audit.append(actor, "ingest.file", row["model"], "success", details=details, conn=conn)
        except IntegrityError:
            return False
    return True


def _tail(path: str | Path) -> str:
    """The last two components of a part's path or URL (``date=D/part.parquet``)."""
    return "/".join(str(path).rstrip("/").rsplit("/", 2)[-2:])


def recover_staged(engine: Engine, model: str, roots: list[Path | str | Location]) -> tuple[int, int]:
    """Publish staged files listed in the ledger, delete the rest and any temporaries under
    ``roots`` (directories or core.storage locations). Call only while holding the model's
    ingest lock. Returns (published, removed)."""
    from monitoring.logs.store import STAGED_SUFFIX, final_path
    from monitoring.logs.tables import IngestedFile

    staged: list[tuple[Location, str]] = []
    removed = 0
    for root in roots:
        loc = Location.of(root)
        for path in loc.find():
            name = path.rsplit("/", 1)[-1]
            if not name.startswith("."):
                continue
            if name.endswith(STAGED_SUFFIX):
                staged.append((loc, path))
            elif name.endswith(".tmp") and loc.remove(path):
                removed += 1
    if not staged:
        return 0, removed
    listed: set[str] = set()
    with engine.connect() as conn:
        for parts in conn.scalars(select(IngestedFile.parts).where(IngestedFile.model == model)):
            listed.update(_tail(p) for p in parts or [])
    published = 0
    for loc, path in staged:
        target = str(final_path(path))
        if _tail(target) in listed:
            published += loc.move(path, target)
        else:
            removed += loc.remove(path)
    return published, removed
