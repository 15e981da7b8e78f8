"""Tables owned by log ingestion: the ledger of ingested byte ranges.

``ingest_ledger``: one row per committed ingestion of a file's content. ``size`` is the end of
the consumed bytes (complete lines only; decompressed bytes for ``.gz``/``.zst`` files),
``offset`` where this ingestion started, and ``checksum`` the SHA-256 of the file's bytes
``[0, size)``. A file is matched to the ledger by content, not by name: the largest ledger
``size`` whose checksum equals the file's own prefix checksum is where reading resumes, so a
grown file yields only its new lines, a rotated copy (``x.jsonl.1``, ``x.jsonl.2.gz``) is not read
twice, and a truncated or rewritten file is read from its start. The row is committed together
with its audit entry; the Parquet parts it lists are published only after that commit (see
monitoring.logs.ledger).

The per-model ingest lock is core.locks' named lock, not a table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class IngestedFile(Base):
    __tablename__ = "ingest_ledger"
    __table_args__ = (UniqueConstraint("model", "checksum", name="uq_ingest_ledger_model_checksum"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    url: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64))  # SHA-256 of the file's bytes [0, size)
    size: Mapped[int] = mapped_column(BigInteger)  # end of the consumed bytes
    offset: Mapped[int] = mapped_column(BigInteger, default=0)  # where this ingestion started
    rows_read: Mapped[int] = mapped_column(Integer)
    rows_stored: Mapped[int] = mapped_column(Integer)
    rows_quarantined: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[dict] = mapped_column(JSON, default=dict)  # reason -> count
    parts: Mapped[list] = mapped_column(JSON, default=list)  # store paths written
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    job_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
