"""Tables owned by the release workflow (governance.releases): release requests and the
approval decisions taken on them.

The rules that must hold even when two people click at the same moment live in the database:

- ``release_decisions`` is unique on ``(request_id, approver)``: one person takes at most one
  decision on a request, so nobody approves two stages (or one stage twice).
- ``release_decisions`` is unique on ``(request_id, ordinal)``: decisions on a request are
  numbered 1, 2, 3... by the service; two concurrent transactions that both read the same
  history both try to write the same next number, and only one commits. Together with the row
  lock the service takes on the request (``SELECT ... FOR UPDATE``; ``BEGIN IMMEDIATE`` on
  SQLite), two reviewers deciding at once yield exactly one outcome.
- ``release_requests.open_model`` holds the model name while the request is open and NULL
  otherwise, and is unique: a model has at most one open request.

``alias_moves`` is the history of MLflow alias moves (promotion, rollback, a move made outside the
console) that open-source MLflow does not keep; governance.promotion writes it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base

REQUEST_STATES = ("open", "approved", "rejected", "expired", "superseded", "promotion_failed", "promoted")


class ReleaseRequest(Base):
    """A request to release ``version`` of ``model``, with the gate results it was opened with."""

    __tablename__ = "release_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[str] = mapped_column(String(64))
    requested_by: Mapped[str] = mapped_column(String(128))
    version_author: Mapped[str | None] = mapped_column(String(256), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(24), index=True)
    open_model: Mapped[str | None] = mapped_column(String(128), nullable=True, unique=True)
    gates: Mapped[str] = mapped_column(Text)  # JSON snapshot of the gate results at opening
    stages: Mapped[str] = mapped_column(Text)  # JSON snapshot of the approval chain at opening
    reason: Mapped[str] = mapped_column(Text, default="")
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class ReleaseDecision(Base):
    """One approve/reject decision by ``approver`` on ``stage`` of a request."""

    __tablename__ = "release_decisions"
    __table_args__ = (
        UniqueConstraint("request_id", "approver", name="uq_release_decisions_one_per_person"),
        UniqueConstraint("request_id", "ordinal", name="uq_release_decisions_ordinal"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("release_requests.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(64))
    approver: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(8))  # approve | reject
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AliasMove(Base):
    """One move of an MLflow alias of a model (e.g. ``champion`` from version 3 to 4), and why."""

    __tablename__ = "alias_moves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    alias: Mapped[str] = mapped_column(String(64))
    from_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # promotion | rollback | restore | external
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[int | None] = mapped_column(ForeignKey("release_requests.id"), nullable=True)
    moved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
