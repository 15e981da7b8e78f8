"""Audit retention: purge entries older than the retention period while the chain stays provable.

A purge cuts the chain at ``cut_seq`` (the last entry older than ``before``). Before anything is
deleted it signs a checkpoint of the cut, ``(cut_seq, hash of entry cut_seq)``, with the audit
checkpoint key (governance.audit_anchor.Checkpoint; also written to the checkpoint sinks when they
are configured), records it in ``audit_purges`` (governance.audit_retention_tables) and then, in
one transaction, records the cut, deletes entries ``1..cut_seq`` and appends an ``audit.purge``
entry: a crash leaves either nothing or everything purged.

``verify`` (governance.audit) then starts at the newest recorded cut: the first kept entry must
have ``seq = cut_seq + 1`` and chain from the recorded hash, and with a checkpoint key configured
every purge record must carry a valid signature. Entries deleted without a record (the chain does
not start at seq 1), a record whose hash was changed, or one that is not signed by the configured
key, make the chain BROKEN.

Rules: the actor needs ``audit.purge`` (admin); a cut that would remove an entry younger than
``VIGIL_AUDIT_RETENTION_DAYS`` (core.settings, default 400) is refused and audited as denied; a
chain that does not verify is never cut (audited as failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from core.actor import Actor
from core.errors import Conflict, InvalidInput, VigilError
from core.timeutil import aware
from governance.audit_anchor import AnchorConfig, Checkpoint, sign, signature_problem
from governance.audit_chain import GENESIS, utc_ts
from governance.audit_retention_tables import AuditPurge
from governance.tables import AuditEntry

ACTION = "audit.purge"


class RetentionRefused(InvalidInput):
    """The cut would remove entries younger than the retention period."""


class PurgeRefused(VigilError):
    """The chain does not verify: a broken chain is never cut (the cut would hide the damage)."""


@dataclass(frozen=True)
class PurgeRecord:
    """One row of ``audit_purges``: entries ``1..cut_seq`` are gone; ``cut_seq + 1`` chains from
    ``prev_hash``."""

    id: int
    cut_seq: int
    prev_hash: str
    purged_count: int
    before: str
    actor: str
    purged_at: datetime
    checkpoint_ts: str
    key_id: str
    signature: str

    def checkpoint(self) -> Checkpoint:
        """The signed statement: the chain's entry ``cut_seq`` had hash ``prev_hash``."""
        return Checkpoint(seq=self.cut_seq, head=self.prev_hash, count=self.cut_seq, ts=self.checkpoint_ts,
                          key_id=self.key_id, signature=self.signature)


@dataclass(frozen=True)
class ChainStart:
    """Where the chain starts: after the newest recorded purge, or at the genesis."""

    seq: int = 0  # the last purged seq (0: nothing purged)
    prev: str = GENESIS  # the hash the first kept entry chains from
    purge: PurgeRecord | None = None
    status: str = ""  # signed / unsigned / signature not checked (see VerifyReport.purge_status)
    problem: str | None = None  # a purge record that cannot be trusted: the chain is BROKEN


@dataclass(frozen=True)
class PurgeResult:
    dry_run: bool
    before: str
    cut_seq: int  # the last purged seq (the previous cut when nothing was purged)
    prev_hash: str
    purged: int  # entries deleted (or that a dry run would delete)
    signed: bool = False
    written: tuple[str, ...] = ()

    def line(self) -> str:
        if not self.purged:
            return f"nothing to purge: no audit entry after seq {self.cut_seq} is older than {self.before}"
        verb = "would purge" if self.dry_run else "purged"
        sig = "" if self.dry_run else (", checkpoint signed" if self.signed else ", checkpoint unsigned")
        where = f", written to {', '.join(self.written)}" if self.written else ""
        return (f"{verb} {self.purged} entries (seq {self.cut_seq - self.purged + 1}..{self.cut_seq}, "
                f"before {self.before}); the chain continues from hash {self.prev_hash}{sig}{where}")


def _public_key(anchor: AnchorConfig) -> Any:
    """The key that checks purge signatures, or None when no checkpoint key is configured."""
    if anchor.public_pem is None and anchor.private_pem is None:
        return None
    return anchor.public_key()


def purge_records(engine: Engine) -> list[PurgeRecord]:
    """Every recorded purge, oldest cut first."""
    columns = [getattr(AuditPurge, name) for name in PurgeRecord.__dataclass_fields__]
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).order_by(AuditPurge.cut_seq)).all()
    return [PurgeRecord(*row[:6], aware(row[6]), *row[7:]) for row in rows]  # type: ignore[arg-type]


def chain_start(engine: Engine, anchor: AnchorConfig) -> ChainStart:
    """The newest recorded cut, each record's signature checked when a checkpoint key is configured."""
    records = purge_records(engine)
    if not records:
        return ChainStart()
    key = _public_key(anchor)
    previous = 0
    for record in records:
        label = f"purge record #{record.id} (cut at seq {record.cut_seq}, {utc_ts(record.purged_at)[:10]})"
        if record.cut_seq <= previous or record.purged_count != record.cut_seq - previous:
            return ChainStart(previous, "", record, problem=(
                f"{label}: purged {record.purged_count} entries after a cut at seq {previous}: "
                "the purge records were edited"))
        if key is not None:
            if not record.signature:
                return ChainStart(record.cut_seq, record.prev_hash, record, problem=(
                    f"{label} is unsigned, but a checkpoint key is configured: a purge made with the "
                    "key is always signed (entries deleted and the record forged?)"))
            problem = signature_problem(record.checkpoint(), key)
            if problem:
                return ChainStart(record.cut_seq, record.prev_hash, record, problem=f"{label}: {problem}")
        previous = record.cut_seq
    newest = records[-1]
    if key is not None:
        status = "signed"
    else:
        status = "signature not checked (no checkpoint key)" if newest.signature else "unsigned"
    return ChainStart(newest.cut_seq, newest.prev_hash, newest, status)


def _youngest_allowed(ctx: Any, now: datetime) -> datetime:
    return now - timedelta(days=int(ctx.settings.audit_retention_days))


def _parse_ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _plan(engine: Engine, start: ChainStart, before_ts: str) -> tuple[int, str, str]:
    """(cut seq, hash of that entry, its ts) for the longest prefix of entries older than ``before``."""
    with engine.connect() as conn:
        first_kept = conn.execute(select(func.min(AuditEntry.seq)).where(
            AuditEntry.seq > start.seq, AuditEntry.ts >= before_ts)).scalar_one()
        if first_kept is None:
            first_kept = (conn.execute(select(func.max(AuditEntry.seq))).scalar_one() or 0) + 1
        cut = int(first_kept) - 1
        if cut <= start.seq:
            return start.seq, start.prev, ""
        row = conn.execute(select(AuditEntry.hash, AuditEntry.ts).where(AuditEntry.seq == cut)).one()
    return cut, row[0], row[1]


def _refuse(ctx: Any, actor: Actor, outcome: str, reason: str, details: dict[str, Any]) -> None:
    ctx.audit.append(actor, ACTION, "audit_log", outcome, reason=reason[:500], details=details)


def purge(ctx: Any, actor: Actor, *, before: datetime, dry_run: bool = False,
          anchor: AnchorConfig | None = None, now: datetime | None = None) -> PurgeResult:
    """Delete the audit entries older than ``before`` (a prefix of the chain), keeping it verifiable.

    Needs ``audit.purge``. Refused (RetentionRefused, audited as denied) when ``before`` is later
    than now minus the retention period; refused (PurgeRefused, audited as failed) when the chain
    does not verify. A dry run checks the same and reports what would go, deleting nothing.
    ``anchor`` is the checkpoint configuration (None: from the environment).
    """
    from governance.rbac import Action, require

    require(ctx, actor, Action.AUDIT_PURGE, "*")
    if before.tzinfo is None:
        before = before.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    before_ts, days = utc_ts(before), int(ctx.settings.audit_retention_days)
    details: dict[str, Any] = {"before": before_ts, "dry_run": dry_run, "retention_days": days}
    limit = _youngest_allowed(ctx, now)
    if before > limit:
        reason = (f"refused: a cut before {before_ts} would purge entries younger than the retention "
                  f"period of {days} days; the latest allowed cut is {utc_ts(limit)}")
        _refuse(ctx, actor, "denied", reason, details)
        raise RetentionRefused(reason)
    anchor = AnchorConfig.from_env() if anchor is None else anchor
    report = ctx.audit.verify(anchor=anchor)
    if not report.ok:
        reason = f"refused: the audit chain does not verify ({report.line()}); a broken chain is never cut"
        _refuse(ctx, actor, "failed", reason, details)
        raise PurgeRefused(reason)
    start = chain_start(ctx.engine, anchor)
    cut, prev, cut_ts = _plan(ctx.engine, start, before_ts)
    if cut_ts and _parse_ts(cut_ts) > limit:  # ts never decreases along seq; this guards the rule anyway
        reason = f"refused: entry {cut} ({cut_ts}) is younger than the retention period of {days} days"
        _refuse(ctx, actor, "denied", reason, details)
        raise RetentionRefused(reason)
    result = PurgeResult(dry_run, before_ts, cut, prev, cut - start.seq)
    details.update(cut_seq=cut, prev_hash=prev, purged=result.purged)
    if dry_run or not result.purged:
        ctx.audit.append(actor, ACTION, "audit_log", "success", details=details)
        return result

    checkpoint = Checkpoint(seq=cut, head=prev, count=cut, ts=utc_ts(now), key_id="")
    if anchor.private_pem is not None or anchor.configured:  # sinks without a key: ConfigError
        checkpoint = sign(checkpoint, anchor.private_key())
    written = _write_sinks(ctx, actor, anchor, checkpoint, details)
    try:
        _cut(ctx, actor, start, checkpoint, before_ts, {**details, "signed": bool(checkpoint.signature),
                                                        "key_id": checkpoint.key_id, "written": written})
    except DBAPIError as exc:  # e.g. the PostgreSQL runtime role, which may not DELETE from audit_log
        cause = str(exc.orig or exc).strip().splitlines()[0][:200]
        reason = (f"nothing purged: the database refused the deletion ({cause}); with the PostgreSQL role "
                  "split (deploy/postgres/roles.sql) run the purge with the owner role's DATABASE_URL")
        _refuse(ctx, actor, "failed", reason, details)
        raise PurgeRefused(reason) from None
    return PurgeResult(False, before_ts, cut, prev, result.purged, bool(checkpoint.signature), tuple(written))


def _write_sinks(ctx: Any, actor: Actor, anchor: AnchorConfig, checkpoint: Checkpoint,
                 details: dict[str, Any]) -> list[str]:
    """Write the cut's checkpoint to every sink before deleting (it is true of the chain either way)."""
    from core.errors import ServiceUnavailable

    written = []
    for sink in anchor.sinks:
        try:
            written.append(sink.write(checkpoint))
        except ServiceUnavailable as exc:
            _refuse(ctx, actor, "failed", f"nothing purged: {exc}", details)
            raise
    return written


def _cut(ctx: Any, actor: Actor, start: ChainStart, checkpoint: Checkpoint, before_ts: str,
         details: dict[str, Any]) -> None:
    """Record the cut, delete up to it and audit the purge, all in one transaction."""
    from governance.audit import AUDIT_LOCK_KEY

    engine = ctx.engine
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_immediate=True)
        else:
            conn = conn.execution_options(isolation_level="READ COMMITTED")
        with conn.begin():
            if engine.dialect.name != "sqlite":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
            newest_cut = conn.execute(select(func.coalesce(func.max(AuditPurge.cut_seq), 0))).scalar_one()
            at_cut = conn.execute(select(AuditEntry.hash).where(AuditEntry.seq == checkpoint.seq)).scalar()
            if int(newest_cut) != start.seq or at_cut != checkpoint.head:
                raise Conflict("another purge ran at the same time; nothing purged, run it again")
            conn.execute(insert(AuditPurge).values(
                cut_seq=checkpoint.seq, prev_hash=checkpoint.head, purged_count=checkpoint.seq - start.seq,
                before=before_ts, actor=actor.username[:128], purged_at=datetime.now(UTC),
                checkpoint_ts=checkpoint.ts, key_id=checkpoint.key_id, signature=checkpoint.signature))
            deleted = conn.execute(delete(AuditEntry).where(AuditEntry.seq <= checkpoint.seq,
                                                            AuditEntry.seq > start.seq)).rowcount
            if deleted != checkpoint.seq - start.seq:
                raise Conflict(f"expected to purge {checkpoint.seq - start.seq} entries, found {deleted}; "
                               "nothing purged")
            ctx.audit.append(actor, ACTION, "audit_log", "success", details=details, conn=conn)
