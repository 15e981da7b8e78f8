"""Tables owned by log ingestion: the ledger of ingested files.

One row per ingested file content. A file is skipped when its checksum is already in the
ledger for the model, so re-running ingestion never duplicates rows. The row is committed only
after the file's Parquet parts and quarantine file are in place (see monitoring.logs.ingest).
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
    checksum: Mapped[str] = mapped_column(String(64))  # SHA-256 of the whole file
    size: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes skipped (already ingested prefix)
    rows_read: Mapped[int] = mapped_column(Integer)
    rows_stored: Mapped[int] = mapped_column(Integer)
    rows_quarantined: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[dict] = mapped_column(JSON, default=dict)  # reason -> count
    parts: Mapped[list] = mapped_column(JSON, default=list)  # store paths written
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    job_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
