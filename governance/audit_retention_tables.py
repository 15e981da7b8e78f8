"""The table of audit purges (governance.audit_retention): one row per cut of the audit chain.

A row records where the chain now starts: every entry with ``seq <= cut_seq`` was deleted, and
the first kept entry (``cut_seq + 1``) chains from ``prev_hash``, the hash of the last purged
entry. ``signature`` is the Ed25519 signature of the checkpoint ``(cut_seq, prev_hash)``
(governance.audit_anchor.Checkpoint, signed with the checkpoint key; empty when no key was
configured), so that ``verify`` can tell a recorded purge from a deleted, or rewritten, head.
Migration 0016 also lets the append-only trigger delete audit entries at or below the highest
recorded ``cut_seq``, and only those.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class AuditPurge(Base):
    __tablename__ = "audit_purges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cut_seq: Mapped[int] = mapped_column(Integer, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    purged_count: Mapped[int] = mapped_column(Integer)
    before: Mapped[str] = mapped_column(String(32))  # the requested cut time (ISO-8601 UTC)
    actor: Mapped[str] = mapped_column(String(128))
    purged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    checkpoint_ts: Mapped[str] = mapped_column(String(32))  # the signed checkpoint's ts
    key_id: Mapped[str] = mapped_column(String(32), default="")
    signature: Mapped[str] = mapped_column(Text, default="")
