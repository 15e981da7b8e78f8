"""Where the audit chain starts after purges (governance.audit_retention): the recorded cuts
(``audit_purges``) and the checks on them that ``verify`` and the checkpoint job run.

Kept apart from the purge itself so that governance.audit and governance.audit_anchor can read
the cut without importing the purge (which signs through governance.audit_anchor).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from core.timeutil import aware
from governance.audit_chain import GENESIS, utc_ts
from governance.audit_checkpoint import Checkpoint, signature_problem
from governance.audit_retention_tables import AuditPurge


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


def _public_key(anchor: Any) -> Any:
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


def chain_start(engine: Engine, anchor: Any) -> ChainStart:
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
