"""The auto-rollback watcher's stored state as the Releases page reads it, and the probation rule
(governance.auto_rollback owns the checks and the rollback; these are its reads).

- :func:`probation_status` (the viewer needs ``model.view``): one :class:`ProbationStatus` per
  model: the policy's timing and thresholds, the state (``off``, ``no promotion``, ``watching``,
  ``rolled back``, ``ended``), the version on probation, when it was promoted and when the
  probation ends, the run of consecutive breaches, the last check and one sentence to show.
- :func:`recent_checks` (``model.view``): the stored checks (:class:`CheckView`), newest first:
  when, which version, the verdict, requests, error ratio, p99, the source, the streak and what
  the watcher did (``rolled_back``/``rollback_failed`` with the outcome or the error).
- :func:`probation_of`: the promotion a model's champion is on probation for at a time, if any
  (the last recorded move of ``champion`` is a ``promotion`` younger than ``probation_hours``).

``viewer=None`` is a trusted internal caller. Everything here reads stored rows only (the alias
moves and ``auto_rollback_checks``), never MLflow or Prometheus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.config import AutoRollbackPolicy
from core.db import session_scope
from core.timeutil import aware, utc_or_now
from governance.auto_rollback_tables import AutoRollbackCheck
from governance.rbac import require_view
from governance.registry import CHAMPION
from governance.release_tables import AliasMove


# -- what the page reads -----------------------------------------------------------------------
@dataclass(frozen=True)
class CheckView:
    """One stored probation check (see governance.auto_rollback_tables)."""

    id: int
    model: str
    version: str
    promotion_id: int
    checked_at: datetime
    outcome: str  # pass | breach | no_evidence | degraded
    source: str  # prometheus | logs | none
    requests: float | None
    error_ratio: float | None
    p99_ms: float | None
    streak: int  # consecutive breaches up to this check
    detail: str  # the values against the thresholds, or why there was no evidence
    action: str | None  # rolled_back | rollback_failed | None
    action_detail: str | None


@dataclass(frozen=True)
class ProbationStatus:
    """What the watcher does for a model now, for the Releases page.

    ``state``: ``off`` (policy disabled), ``no promotion`` (the champion was not promoted by the
    console, or never moved), ``watching`` (on probation: checks run), ``rolled back`` (the
    watcher rolled the last promotion back), ``ended`` (the probation is over or the champion
    moved since)."""

    model: str
    enabled: bool
    state: str
    version: str | None  # the promoted version on (or last on) probation
    promoted_at: datetime | None
    ends_at: datetime | None
    streak: int
    consecutive: int
    check_seconds: float
    max_error_ratio: float | None
    max_p99_ms: float | None
    window_seconds: int
    last_check: CheckView | None
    summary: str
    probation_hours: float = 0.0


def _check_view(row: AutoRollbackCheck) -> CheckView:
    return CheckView(row.id, row.model, row.version, row.promotion_id, aware(row.checked_at),  # type: ignore[arg-type]
                     row.outcome, row.source, row.requests, row.error_ratio, row.p99_ms, row.streak,
                     row.detail or "", row.action, row.action_detail)


def recent_checks(ctx: Any, viewer: str | None, model: str, *, limit: int = 50) -> list[CheckView]:
    """The last ``limit`` probation checks of ``model``, newest first; ``viewer`` needs ``model.view``."""
    ctx.models.get(model)  # NotFound names the configured models
    require_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        rows = session.scalars(select(AutoRollbackCheck).where(AutoRollbackCheck.model == model)
                               .order_by(AutoRollbackCheck.id.desc()).limit(limit))
        return [_check_view(r) for r in rows]


# -- probation -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Probation:
    """The promotion a model's champion is on probation for."""

    model: str
    version: str
    from_version: str | None  # the champion it replaced: where a rollback goes
    promotion_id: int  # alias_moves.id
    promoted_at: datetime
    ends_at: datetime

    def active(self, now: datetime) -> bool:
        return self.promoted_at <= now < self.ends_at


def _last_champion_move(session: Any, model: str) -> AliasMove | None:
    return session.scalar(select(AliasMove).where(AliasMove.model == model, AliasMove.alias == CHAMPION)
                          .order_by(AliasMove.moved_at.desc(), AliasMove.id.desc()).limit(1))


def _probation_from(row: AliasMove | None, policy: AutoRollbackPolicy) -> Probation | None:
    if row is None or row.kind != "promotion" or row.to_version is None:
        return None
    promoted = aware(row.moved_at)
    assert promoted is not None
    return Probation(row.model, row.to_version, row.from_version, row.id, promoted,
                     promoted + timedelta(hours=policy.probation_hours))


def probation_of(ctx: Any, model: str, *, now: datetime | None = None) -> Probation | None:
    """The model's probation at ``now``: None when the policy is off, the champion's last recorded
    move is not a promotion, or the promotion is older than ``probation_hours``."""
    spec = ctx.models.get(model)
    if not spec.auto_rollback.enabled:
        return None
    with session_scope(ctx.engine) as session:
        probation = _probation_from(_last_champion_move(session, model), spec.auto_rollback)
    return probation if probation is not None and probation.active(utc_or_now(now)) else None



def _last_check(session: Any, promotion_id: int) -> AutoRollbackCheck | None:
    return session.scalar(select(AutoRollbackCheck).where(AutoRollbackCheck.promotion_id == promotion_id)
                          .order_by(AutoRollbackCheck.id.desc()).limit(1))



# -- the page's summary ------------------------------------------------------------------------
def probation_status(ctx: Any, viewer: str | None, model: str, *, now: datetime | None = None) -> ProbationStatus:
    """What the watcher does for ``model`` now (see :class:`ProbationStatus`); ``viewer`` needs
    ``model.view``. Reads only stored state: the alias moves and the stored checks."""
    spec = ctx.models.get(model)
    require_view(ctx, viewer, model)
    policy, now = spec.auto_rollback, utc_or_now(now)

    def status(state: str, summary: str, probation: Probation | None = None, last: CheckView | None = None,
               ) -> ProbationStatus:
        return ProbationStatus(model, policy.enabled, state, probation.version if probation else None,
                               probation.promoted_at if probation else None,
                               probation.ends_at if probation else None, last.streak if last else 0,
                               policy.consecutive, policy.check_seconds, policy.max_error_ratio, policy.max_p99_ms,
                               policy.window_seconds, last, summary, policy.probation_hours)

    if not policy.enabled:
        return status("off", "Auto-rollback is off for this model.")
    with session_scope(ctx.engine) as session:
        current = _last_champion_move(session, model)
        promotion = session.scalar(select(AliasMove).where(
            AliasMove.model == model, AliasMove.alias == CHAMPION, AliasMove.kind == "promotion")
            .order_by(AliasMove.moved_at.desc(), AliasMove.id.desc()).limit(1))
        probation = _probation_from(promotion, policy)
        last_row = _last_check(session, probation.promotion_id) if probation else None
        last = _check_view(last_row) if last_row is not None else None
        rolled = probation is not None and session.scalar(select(AutoRollbackCheck).where(
            AutoRollbackCheck.promotion_id == probation.promotion_id, AutoRollbackCheck.action == "rolled_back")
            .limit(1)) is not None
    if probation is None:
        return status("no promotion", "No promotion by the console yet: nothing on probation.")
    if rolled:
        return status("rolled back", f"Version {probation.version} was rolled back automatically "
                      f"({last.action_detail if last and last.action_detail else 'see the checks'}).", probation, last)
    if current is None or current.id != probation.promotion_id or not probation.active(now):
        why = "the probation is over" if not probation.active(now) else "the champion moved since"
        return status("ended", f"Version {probation.version}: {why}; no automatic rollback.", probation, last)
    left = math.ceil((probation.ends_at - now).total_seconds() / 60)
    said = (f"last check {last.outcome} ({last.streak}/{policy.consecutive} breaches in a row)" if last
            else "no check yet")
    return status("watching", f"Version {probation.version} is on probation for {left} more minutes; {said}.",
                  probation, last)
