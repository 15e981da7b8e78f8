"""Leader election through the database: a lease row that one holder renews, the others watch.

Any number of processes (scheduler replicas) call :meth:`LeaderLease.tick` every
``ttl / 3`` seconds; at most one of them gets ``True`` (the leader), the others are hot
standbys. Every change of the row is a compare-and-set ``UPDATE ... WHERE version = :seen``
on the ``scheduler_lease`` row (core/tables.py), so it behaves the same on SQLite and
PostgreSQL: of two concurrent updates, one matches and the other changes 0 rows.

- The leader renews: ``version + 1`` where the holder is still itself. 0 rows changed means
  another process took the lease: it steps down at once.
- A standby remembers the ``version`` it saw and when it first saw it, by *its own* clock.
  When the version has not moved for ``ttl`` seconds the leader is gone (killed, hung,
  partitioned from the database) and the standby takes the lease (``WHERE version = :seen``).
  Comparing its own observations, never the leader's timestamps, makes the takeover immune
  to clock skew between hosts; ``expires_at`` is stored for people and dashboards only.
- The leader trusts its leadership for ``2/3 * ttl`` after its last successful renewal. A
  standby waits a full ``ttl`` from a version it saw after that renewal, so the old leader
  has stopped acting before a new one starts, even when the old one merely lost the database.
- :meth:`release` (on a clean stop) empties the holder, so a standby takes over at its next
  tick instead of after ``ttl``.

Why not PostgreSQL advisory locks: they belong to one session, so a pooled connection that
is recycled or a proxy in transaction-pooling mode (PgBouncer) loses or leaks them silently,
and SQLite has nothing like them. One row works on both backends and is tested the same way.

The clock is injected (``clock() -> aware datetime``) so tests drive a takeover without
sleeping.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from core.errors import VigilError
from core.tables import SchedulerLease

log = logging.getLogger("vigil.lease")

Clock = Callable[[], datetime]


def utc_clock() -> datetime:
    return datetime.now(UTC)


def holder_id() -> str:
    """``host:pid:random``: unique per process, readable in the lease row."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaderLease:
    def __init__(self, engine: Engine, name: str = "scheduler", *, ttl: float = 30.0,
                 holder: str | None = None, clock: Clock = utc_clock,
                 prepare: Callable[[], None] | None = None) -> None:
        if ttl <= 0:
            raise ValueError("the lease ttl must be positive")
        self.engine = engine
        self.name = name
        self.ttl = timedelta(seconds=ttl)
        self.holder = holder or holder_id()
        self.clock = clock
        self._prepare = prepare  # run once before the first step (e.g. migrate a late database)
        self.leading = False
        self.changes = 0  # times this process became leader
        self.error: str | None = None  # the last database error, None when the last tick worked
        self._renewed: datetime | None = None  # our last successful renewal (our clock)
        self._seen: tuple[str, int] | None = None  # (holder, version) a standby last saw
        self._seen_at: datetime | None = None

    @property
    def renew_interval(self) -> float:
        """Seconds between ticks: three renewals per ttl."""
        return self.ttl.total_seconds() / 3

    # ---- one step ----------------------------------------------------------------------
    def tick(self) -> bool:
        """Renew, watch or take the lease; True while this process is the leader."""
        now = self.clock()
        try:
            if self._prepare is not None:
                self._prepare()
                self._prepare = None
            leading = self._step(now)
            self.error = None
        except (SQLAlchemyError, VigilError) as exc:
            message = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            if message != self.error:
                log.warning("lease %s: the database did not answer (%s)", self.name, message)
            self.error = message
            # Keep leading only while the last renewal is fresh enough that no standby can
            # have taken over yet (see the module docstring).
            leading = self.leading and self._renewed is not None and now - self._renewed < self.ttl * 2 / 3
        if leading and not self.leading:
            self.changes += 1
            log.info("lease %s: %s is now the leader", self.name, self.holder)
        elif self.leading and not leading:
            log.warning("lease %s: %s is no longer the leader", self.name, self.holder)
        self.leading = leading
        return leading

    def _step(self, now: datetime) -> bool:
        with self.engine.begin() as conn:
            row = conn.execute(
                select(SchedulerLease.holder, SchedulerLease.version).where(SchedulerLease.name == self.name)
            ).first()
        if row is None:
            return self._create(now)
        holder, version = row
        if holder == self.holder:
            if self._write(now, version, acquired=False):
                self._renewed = now
                return True
            return False  # taken between our read and our write
        seen = (holder, version)
        if seen != self._seen or self._seen_at is None:
            self._seen, self._seen_at = seen, now
        stale = now - self._seen_at >= self.ttl
        if (holder == "" or stale) and self._write(now, version, acquired=True):
            if holder:
                log.warning("lease %s: %s stopped renewing (version %d unchanged for %s); taking over",
                            self.name, holder, version, self.ttl)
            self._renewed = now
            return True
        return False

    def _create(self, now: datetime) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(SchedulerLease).values(
                    name=self.name, holder=self.holder, version=1, acquired_at=now, renewed_at=now,
                    expires_at=now + self.ttl))
        except IntegrityError:
            return False  # another process created it first: watch it from the next tick
        self._renewed = now
        return True

    def _write(self, now: datetime, seen_version: int, *, acquired: bool) -> bool:
        values: dict[str, object] = {"holder": self.holder, "version": seen_version + 1,
                                     "renewed_at": now, "expires_at": now + self.ttl}
        if acquired:
            values["acquired_at"] = now
        with self.engine.begin() as conn:
            result = conn.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name, SchedulerLease.version == seen_version)
                .values(**values)
            )
        return result.rowcount == 1

    def release(self) -> None:
        """Give the lease up (clean stop): a standby takes it at its next tick."""
        if not self.leading:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(SchedulerLease)
                    .where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder)
                    .values(holder="", version=SchedulerLease.version + 1, expires_at=self.clock())
                )
        except SQLAlchemyError as exc:
            log.warning("lease %s: could not release (%s); a standby takes over after %s",
                        self.name, type(exc).__name__, self.ttl)
        self.leading = False

    def current_holder(self) -> str | None:
        """The holder stored in the row ('' when released), None when there is no row."""
        with self.engine.begin() as conn:
            return conn.execute(
                select(SchedulerLease.holder).where(SchedulerLease.name == self.name)
            ).scalar_one_or_none()
