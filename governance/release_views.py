"""What a release request looks like to its readers: frozen views built from the rows of
governance.release_tables, with the state as of a moment (an open request past its expiry reads
``expired``) and the progress of each approval stage. No permission checks here: the service
(governance.releases) checks them before it hands a view out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.timeutil import aware
from governance.release_gates import GateResult, blocking_failures
from governance.release_tables import ReleaseDecision, ReleaseRequest

OPEN = "open"


@dataclass(frozen=True)
class Decision:
    ordinal: int
    stage: str
    approver: str
    decision: str  # approve | reject
    comment: str
    decided_at: datetime

    @property
    def done(self) -> str:
        """The decision in the past tense, as people read it: approved or rejected."""
        return {"approve": "approved", "reject": "rejected"}.get(self.decision, self.decision)


@dataclass(frozen=True)
class StageProgress:
    name: str
    role: str
    approvals: int
    approved_by: tuple[str, ...]

    @property
    def done(self) -> bool:
        return len(self.approved_by) >= self.approvals


@dataclass(frozen=True)
class ReleaseRequestView:
    id: int
    model: str
    version: str
    requested_by: str
    version_author: str | None
    opened_at: datetime
    expires_at: datetime
    stored_state: str
    reason: str
    gates: tuple[GateResult, ...]
    stages: tuple[StageProgress, ...]
    decisions: tuple[Decision, ...]
    closed_at: datetime | None
    closed_reason: str | None
    as_of: datetime

    @property
    def state(self) -> str:
        """The state as of ``as_of``: an open request past its expiry reads ``expired``."""
        if self.stored_state == OPEN and self.as_of >= self.expires_at:
            return "expired"
        return self.stored_state

    @property
    def current_stage(self) -> StageProgress | None:
        """The first stage still short of approvals, while the request is open."""
        if self.state != OPEN:
            return None
        return next((s for s in self.stages if not s.done), None)

    @property
    def blocking_gates(self) -> list[GateResult]:
        return blocking_failures(list(self.gates))


def _stages_of(row: ReleaseRequest, decisions: list[Decision]) -> tuple[StageProgress, ...]:
    out = []
    for stage in json.loads(row.stages):
        approved = tuple(d.approver for d in decisions
                         if d.stage == stage["name"] and d.decision == "approve")
        out.append(StageProgress(stage["name"], stage["role"], int(stage["approvals"]), approved))
    return tuple(out)


def build_view(row: ReleaseRequest, decision_rows: list[ReleaseDecision],
               now: datetime) -> ReleaseRequestView:
    """The view of ``row`` and its decisions as of ``now``."""
    decisions = [Decision(d.ordinal, d.stage, d.approver, d.decision, d.comment,
                          aware(d.decided_at))  # type: ignore[arg-type]
                 for d in sorted(decision_rows, key=lambda d: d.ordinal)]
    return ReleaseRequestView(
        id=row.id, model=row.model, version=row.version, requested_by=row.requested_by,
        version_author=row.version_author, opened_at=aware(row.opened_at),  # type: ignore[arg-type]
        expires_at=aware(row.expires_at), stored_state=row.state, reason=row.reason,  # type: ignore[arg-type]
        gates=tuple(GateResult.from_dict(g) for g in json.loads(row.gates)),
        stages=_stages_of(row, decisions), decisions=tuple(decisions),
        closed_at=aware(row.closed_at), closed_reason=row.closed_reason, as_of=now)


def load_request(session: Session, request_id: int, now: datetime, *,
                 lock: bool = False) -> tuple[ReleaseRequest, ReleaseRequestView]:
    """The row (locked ``FOR UPDATE`` with ``lock``) and its view; NotFound names the command to list."""
    stmt = select(ReleaseRequest).where(ReleaseRequest.id == request_id)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(f"release request {request_id} does not exist (see `python -m jobs.release list`)")
    decisions = list(session.scalars(select(ReleaseDecision).where(ReleaseDecision.request_id == request_id)))
    return row, build_view(row, decisions, now)
