"""Owns the tamper-evident audit log in table ``audit_log``: appending a link to the SHA-256 hash
chain, querying and exporting entries (permission-checked services), and verifying the chain.
The chain's format (hashed fields, canonical JSON, entry hash, genesis) is governance.audit_chain;
the fast recomputation is governance.audit_verify. Because ``seq`` and ``prev_hash`` are hashed,
an edited, deleted, inserted or reordered entry breaks the chain at the first affected ``seq``
(the scheme of RFC 6962-style append-only logs, without a tree).

Writers are serialised so the chain never forks: on SQLite the append transaction starts with
``BEGIN IMMEDIATE`` (execution option ``sqlite_immediate``, see core.db), on PostgreSQL it
takes ``pg_advisory_xact_lock(AUDIT_LOCK_KEY)`` before reading the head. Database triggers
(migration 0001) refuse UPDATE and DELETE (since migration 0016, DELETE only of entries at or
below a cut recorded by a purge, governance.audit_retention, after which verification starts). Truncating the tail is only detectable against a
head hash recorded elsewhere: signed checkpoints (governance.audit_anchor) do that, and
``verify`` checks the chain against them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text

from core.actor import Actor
from core.errors import InvalidInput
from core.redact import redact_obj, redact_text
from governance.audit_chain import (  # noqa: F401  (re-exported: the log's public names)
    COLUMNS,
    FIELDS,
    GENESIS,
    OUTCOMES,
    SOURCES,
    VerifyReport,
    canonical_json,
    entry_hash,
    utc_ts,
)
from governance.audit_verify import check_rows, verify_sqlite_parallel
from governance.tables import AuditEntry

AUDIT_LOCK_KEY = 0x5649_4749_4C41  # "VIGILA": the advisory lock that serialises PostgreSQL writers


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    ts: str
    actor: str
    action: str
    resource: str
    outcome: str
    reason: str
    details: dict[str, Any]
    source: str
    client_addr: str | None
    prev_hash: str
    hash: str

    def to_row(self) -> dict[str, Any]:
        """Flat values for CSV/JSONL export (details as canonical JSON text)."""
        row = {name: getattr(self, name) for name in FIELDS}
        row["details"] = canonical_json(self.details)
        return row


def _record(row: Any) -> AuditRecord:
    values = dict(zip(FIELDS, row, strict=True))
    try:
        values["details"] = json.loads(values["details"] or "{}")
    except ValueError:
        values["details"] = {"_unparseable": values["details"]}
    return AuditRecord(**values)


def _insert_at_head(conn: Connection, fields: dict[str, Any]) -> tuple[int, str, str]:
    """Insert ``fields`` as the next link inside ``conn``'s open transaction: (seq, prev, hash).

    On PostgreSQL the transaction first takes ``pg_advisory_xact_lock(AUDIT_LOCK_KEY)``; on
    SQLite the caller began it with ``BEGIN IMMEDIATE``. Either way no other writer can read the
    same head before this transaction ends.
    """
    if conn.dialect.name != "sqlite":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    head = conn.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    # the timestamp is taken inside the lock so that ts never decreases along seq
    fields["ts"] = utc_ts()
    digest = entry_hash(seq=seq, prev_hash=prev, **fields)
    conn.execute(insert(AuditEntry).values(seq=seq, prev_hash=prev, hash=digest, **fields))
    return seq, prev, digest


class AuditLog:
    """Repository of the audit chain: ``append``, ``query``, ``verify``."""

    def __init__(self, engine: Engine):
        self.engine = engine

    # -- writing -----------------------------------------------------------------------------
    def append(self, actor: Actor | str, action: str, resource: str = "*", outcome: str = "success",
               reason: str = "", details: Mapping[str, Any] | None = None, *,
               conn: Connection | None = None) -> AuditRecord:
        """Append one entry at the head of the chain, serialised against every other writer.

        With ``conn`` (a connection inside the caller's open transaction) the entry is written in
        that transaction, so it commits or rolls back together with the caller's own rows. The
        caller's transaction must be ``BEGIN IMMEDIATE`` on SQLite (execution option
        ``sqlite_immediate``) and READ COMMITTED (the default) on PostgreSQL.
        """
        if isinstance(actor, str):
            actor = Actor(actor, "job")
        if outcome not in OUTCOMES:
            raise InvalidInput(f"audit outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        if actor.source not in SOURCES:
            raise InvalidInput(f"audit source must be one of {', '.join(SOURCES)}, got {actor.source!r}")
        if not action:
            raise InvalidInput("audit action must not be empty")
        # core.redact: a secret written here could never be removed without breaking the chain
        resource, reason = redact_text(resource), redact_text(reason)
        details = redact_obj(dict(details or {}))
        try:
            details_text = canonical_json(details)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"audit details must be JSON-serialisable: {exc}") from None
        fields = {
            "ts": utc_ts(), "actor": actor.username[:128], "action": action[:64],
            "resource": (resource or "*")[:256], "outcome": outcome, "reason": reason or "",
            "details": details_text, "source": actor.source,
            "client_addr": actor.client_addr[:128] if actor.client_addr else None,
        }
        if conn is not None:
            seq, prev, digest = _insert_at_head(conn, fields)
        else:
            sqlite = self.engine.dialect.name == "sqlite"
            with self.engine.connect() as own:
                if sqlite:
                    own = own.execution_options(sqlite_immediate=True)
                else:
                    # READ COMMITTED: the head read after the lock sees the previous holder's commit
                    own = own.execution_options(isolation_level="READ COMMITTED")
                with own.begin():
                    seq, prev, digest = _insert_at_head(own, fields)
        return AuditRecord(seq=seq, prev_hash=prev, hash=digest, **{**fields, "details": details})

    # -- reading -----------------------------------------------------------------------------
    def query(self, *, since: datetime | str | None = None, until: datetime | str | None = None,
              actor: str | None = None, action: str | None = None, outcome: str | None = None,
              resource: str | None = None, limit: int | None = None, newest_first: bool = False,
              ) -> list[AuditRecord]:
        """Entries matching every given filter (``action`` ending in ``.*`` matches a prefix)."""
        stmt = select(*[getattr(AuditEntry, f) for f in FIELDS])
        if since is not None:
            stmt = stmt.where(AuditEntry.ts >= (since if isinstance(since, str) else utc_ts(since)))
        if until is not None:
            stmt = stmt.where(AuditEntry.ts < (until if isinstance(until, str) else utc_ts(until)))
        if actor:
            stmt = stmt.where(AuditEntry.actor == actor)
        if action:
            if action.endswith(".*"):
                stmt = stmt.where(AuditEntry.action.startswith(action[:-1]))
            else:
                stmt = stmt.where(AuditEntry.action == action)
        if outcome:
            if outcome not in OUTCOMES:
                raise InvalidInput(f"outcome filter must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
            stmt = stmt.where(AuditEntry.outcome == outcome)
        if resource:
            stmt = stmt.where(AuditEntry.resource == resource)
        stmt = stmt.order_by(AuditEntry.seq.desc() if newest_first else AuditEntry.seq)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(stmt)]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one())

    def head(self) -> AuditRecord | None:
        rows = self.query(limit=1, newest_first=True)
        return rows[0] if rows else None

    # -- verification ------------------------------------------------------------------------
    def _rows(self, batch_size: int) -> Iterator[list[tuple[Any, ...]]]:
        """Stream raw rows in seq order: a plain DBAPI cursor, or a server-side one on PostgreSQL.
        (Every row: one left at or below a purge's cut, or planted before seq 1, is out of order.)"""
        raw = self.engine.raw_connection()
        try:
            driver = raw.driver_connection
            sql = f"SELECT {COLUMNS} FROM audit_log ORDER BY seq"
            if self.engine.dialect.name == "postgresql":
                cursor = driver.cursor(name="vigil_audit_verify")  # type: ignore[union-attr]
                cursor.itersize = batch_size
            else:
                cursor = driver.cursor()  # type: ignore[union-attr]
            cursor.execute(sql)
            while True:
                batch = cursor.fetchmany(batch_size)
                if not batch:
                    break
                yield batch
            cursor.close()
        finally:
            try:
                raw.rollback()
            finally:
                raw.close()

    def verify(self, *, batch_size: int = 20_000, progress: Callable[[int], None] | None = None,
               workers: int = 1, anchor: Any = None, checkpoints: int = 10) -> VerifyReport:
        """Recompute the chain from its start (the genesis, or the newest recorded purge: see
        governance.audit_retention), report the first broken link, then check it against the
        newest ``checkpoints`` signed checkpoints of each location.

        Rules and the parallel scheme: see governance.audit_verify. With ``workers`` > 1 a SQLite
        file of at least 200,000 entries is checked by that many forked processes (the CLI does
        this; a multi-threaded server should keep the default single streaming pass).
        ``anchor`` is a governance.audit_anchor.AnchorConfig (None: from the environment); its key,
        when it has one, also checks the purge records' signatures.
        """
        from dataclasses import replace

        from governance.audit_anchor import AnchorConfig, check_checkpoints
        from governance.audit_cut import chain_start

        anchor = AnchorConfig.from_env() if anchor is None else anchor
        start = chain_start(self.engine, anchor)
        if start.problem is not None:
            return VerifyReport(False, start.seq, start.prev, start.seq + 1, start.problem)
        report = self._verify_chain(batch_size, progress, workers, (start.seq, start.prev))
        if start.purge is not None:
            if not report.ok and report.broken_seq == start.seq + 1:
                report = replace(report, problem=f"{report.problem} (the first entry kept by the purge "
                                                 f"recorded at seq {start.seq})")
            report = replace(report, purged_seq=start.seq, purged_head=start.prev,
                             purged_at=utc_ts(start.purge.purged_at), purge_status=start.status)
        return check_checkpoints(self.engine, report, anchor, checkpoints)

    def _verify_chain(self, batch_size: int, progress: Callable[[int], None] | None,
                      workers: int, start: tuple[int, str] = (0, GENESIS)) -> VerifyReport:
        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and workers > 1 and database and database != ":memory:":
            report = verify_sqlite_parallel(database, workers=workers, batch_size=batch_size,
                                            progress=progress, start=start)
            if report is not None:
                return report
        expected, prev, problem = check_rows(self._rows(batch_size), start[0] + 1, start[1], progress)
        if problem is not None:
            return VerifyReport(False, problem[0] - 1, prev, problem[0], problem[1])
        return VerifyReport(True, expected - 1, prev)


# -- services (permission-checked) -----------------------------------------------------------
def read_audit(ctx: Any, actor: Actor, /, **filters: Any) -> list[AuditRecord]:
    """Entries matching ``filters`` (see :meth:`AuditLog.query`); needs ``audit.read``."""
    from governance.rbac import require

    require(ctx, actor, "audit.read", "*")
    return ctx.audit.query(**filters)


EXPORT_FORMATS = ("csv", "jsonl", "pdf", "zip")  # zip: an evidence pack (governance.evidence_pack)


def render_rows(fmt: str, records: list[AuditRecord]) -> bytes:
    """The CSV or JSONL bytes of ``records`` (JSONL: one canonical JSON row per line)."""
    import csv
    import io

    if fmt == "jsonl":
        return "".join(canonical_json(r.to_row()) + "\n" for r in records).encode("utf-8")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(FIELDS), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: ("" if v is None else v) for k, v in record.to_row().items()})
    return buffer.getvalue().encode("utf-8")


@dataclass(frozen=True)
class ExportBatch:
    """What an export renders: the entries (PII masked for the person) and the chain head when read."""

    records: list[AuditRecord]
    head: AuditRecord | None
    masked: dict[str, list[str]]  # model -> PII features masked in ``records``


def run_export(ctx: Any, actor: Actor, fmt: str, filters: Mapping[str, Any],
               build: Callable[[ExportBatch], tuple[bytes, dict[str, Any]]], *,
               action: str = "audit.export", resource: str = "audit_log") -> bytes:
    """The one export path: check ``audit.export``, read the entries matching ``filters``, mask
    PII the person may not see (governance.audit_pii), let ``build`` render them (bytes and
    extra audit details), and audit the export as ``action`` on ``resource``. Returns what
    ``build`` rendered."""
    from governance.audit_pii import mask_record, masked_features, model_names, unmasked_models
    from governance.rbac import require

    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    require(ctx, actor, "audit.export", "*")
    records = ctx.audit.query(**filters)
    head = ctx.audit.head()
    masked, models = masked_features(ctx, actor), model_names(ctx)
    records = [mask_record(r, masked, models) for r in records]
    data, extra = build(ExportBatch(records, head, masked))
    shown = {k: (v if isinstance(v, str | int | None) else str(v)) for k, v in filters.items()}
    details = {"format": fmt, "filters": shown, "rows": len(records), "bytes": len(data), **extra}
    unmasked = unmasked_models(ctx, actor)
    if masked or unmasked:
        details["pii"] = {"masked": sorted(masked), "unmasked": unmasked}
    ctx.audit.append(actor, action, resource, "success", details=details)
    return data


def export_audit(ctx: Any, actor: Actor, fmt: str, /, **filters: Any) -> bytes:
    """CSV or JSONL bytes of the matching entries, unsigned (signed exports, PDF included:
    governance.audit_export); needs ``audit.export`` and is itself audited."""
    if fmt not in ("csv", "jsonl"):
        raise InvalidInput(f"export format must be csv or jsonl, got {fmt!r}")
    return run_export(ctx, actor, fmt, filters, lambda batch: (render_rows(fmt, batch.records), {}))
