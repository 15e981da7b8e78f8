"""The "inventory review overdue" note of the health webhook (VIGIL_WEBHOOK_URL).

The health job (monitoring.health.service.run_health_check) calls :func:`remind_overdue` for each
model it scores. When the model's inventory review is overdue (governance.inventory), a
Slack-compatible note is posted with monitoring.health.notify's sender and retries, at most once
every ``REMIND_EVERY_DAYS`` days per model, and at once again when the due date changes. Without a
webhook, or when the review is not overdue, nothing is sent. A webhook that is down does not fail
the health run: the note is simply tried again at the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.db import write_scope
from core.redact import redact_text
from governance.inventory import InventoryRow, inventory
from governance.inventory_tables import InventoryReminder

log = logging.getLogger("vigil.inventory")
REMIND_EVERY_DAYS = 7
COLOR = "#daa038"


@dataclass(frozen=True)
class ReminderOutcome:
    overdue: bool
    sent: bool
    error: str | None = None


def reminder_body(row: InventoryRow, at: datetime) -> dict[str, Any]:
    """The webhook body: ``[Vigil] MODEL: inventory review overdue ...`` with owner, tier, status."""
    since = (f"since {row.next_review_due.isoformat()}" if row.next_review_due
             else "(never reviewed)")
    text = redact_text(f"[Vigil] {row.model}: inventory review overdue {since}")
    last = row.last_review.isoformat() if row.last_review else "never"
    fields = [
        {"title": "Owner", "value": redact_text(row.owner or "not set"), "short": True},
        {"title": "Risk tier", "value": row.risk_tier or "not assessed", "short": True},
        {"title": "Status", "value": row.status, "short": True},
        {"title": "Validation", "value": row.validation, "short": True},
        {"title": "Last review", "value": f"{last} (every {row.review_every_days} days)", "short": False},
    ]
    return {"text": text, "attachments": [{"color": COLOR, "fallback": text, "fields": fields,
                                           "ts": int(at.timestamp())}]}


def _due_now(ctx: Any, row: InventoryRow, at: datetime) -> bool:
    with write_scope(ctx.engine) as session:
        last = session.get(InventoryReminder, row.model)
        if last is None or last.due != row.next_review_due:
            return True
        sent = last.sent_at if last.sent_at.tzinfo else last.sent_at.replace(tzinfo=UTC)
        return at - sent >= timedelta(days=REMIND_EVERY_DAYS)


def _remember(ctx: Any, row: InventoryRow, at: datetime) -> None:
    with write_scope(ctx.engine) as session:
        last = session.get(InventoryReminder, row.model)
        if last is None:
            session.add(InventoryReminder(model=row.model, due=row.next_review_due, sent_at=at))
        else:
            last.due, last.sent_at = row.next_review_due, at


def remind_overdue(ctx: Any, model: str, at: datetime, *, url: str | None = None, retries: int = 2,
                   backoff: float = 0.5, sleep: Callable[[float], None] | None = None) -> ReminderOutcome:
    """Post the overdue-review note for ``model`` when it is overdue at ``at`` and not sent lately."""
    from monitoring.health.notify import send

    url = url if url is not None else ctx.settings.webhook_url
    row = next((r for r in inventory(ctx, None, today=at.date(), with_versions=False) if r.model == model),
               None)
    if row is None or not row.overdue:
        return ReminderOutcome(False, False)
    if not url or not _due_now(ctx, row, at):
        return ReminderOutcome(True, False)
    kwargs: dict[str, Any] = {"retries": retries, "backoff": backoff}
    if sleep is not None:
        kwargs["sleep"] = sleep
    error = send(url, reminder_body(row, at), **kwargs)
    if error is None:
        _remember(ctx, row, at)
    else:
        log.warning("inventory reminder for %s not sent (%s); will retry at the next run", model, error)
    return ReminderOutcome(True, error is None, error)
