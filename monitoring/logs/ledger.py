"""The ingest ledger's rules: one ingestion per model at a time, where a file resumes, and the
commit that makes an ingestion's rows visible exactly once.

- **Lock.** :func:`ingest_lock` admits one ingestion per model: core.locks' named lock
  ``ingest:MODEL`` (PostgreSQL session advisory lock; SQLite an OS file lock beside the
  database), released by the server or the kernel when the process dies. A second run waits for
  the first, then finds nothing new.
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

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from core.actor import Actor
from core.errors import Conflict
from core.locks import LockBusy, NamedLock, named_lock
from core.storage import Location

log = logging.getLogger("vigil.ingest")

WAIT_S = 900.0  # how long a second ingestion of the same model waits for the first


@dataclass
class IngestLockHandle:
    """The held ingest lock of one model (a core.locks named lock) and the fencing check that
    :func:`commit_ingestion` makes before it commits."""

    model: str
    lock: NamedLock

    @property
    def holder(self) -> str:
        return self.lock.holder

    def heartbeat(self) -> None:
        """Nothing to refresh: the database server or the OS holds the lock for as long as this
        process lives (kept for the callers that still beat)."""

    def check(self, conn: Connection) -> None:
        """Inside a commit transaction: raise Conflict unless this run still holds the lock (on
        PostgreSQL its session may have been terminated)."""
        if not self.lock.held(conn):
            raise Conflict(
                f"the ingest lock of {self.model} was lost (taken over or its session ended); "
                "nothing committed"
            )


@contextmanager
def ingest_lock(engine: Engine, model: str, *, wait_s: float = WAIT_S) -> Iterator[IngestLockHandle]:
    """Hold the one-ingestion-per-model lock for the body (waits up to ``wait_s``)."""
    holder = f"{socket.gethostname()[:200]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    try:
        lock = named_lock(engine, f"ingest:{model}", wait_s=wait_s, holder=holder)
    except LockBusy as busy:
        current = f" ({busy.holder})" if busy.holder else ""
        raise Conflict(
            f"another ingestion of {model}{current} is still running after {wait_s:.0f} s") from None
    with lock:
        yield IngestLockHandle(model, lock)


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
