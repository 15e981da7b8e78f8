"""Access review: who holds which role on which scope at a moment, what expires soon, which
accounts nobody uses, and who could perform an action on a model at a past date.

Everything here is read from the stored grants (governance.tables.Grant keeps valid_from,
expires_at and revoked_at, never deletes a row), so a review at a past moment is exact for
grants. The permission rule is governance.rbac's (``GrantView.status`` for "active at",
``rbac._allows`` for "this grant permits this action on this model"): nothing is re-decided here.

- Needs ``audit.read`` on ``*`` (auditor and admin hold it). Every review and every who-can
  question is audited as ``access.review``; a refusal too, with outcome ``denied``.
- ``unused``: active person accounts (not service accounts, whose use is job runs and is not a
  sign-in) with no sign-in and no API-token use in the last ``UNUSED_DAYS`` days, or never, and
  that exist for at least that long (an account created last week is not "unused for 90 days").
  Last use is ``users.last_sign_in_at`` (password, OIDC and proxy sign-ins) and the newest
  ``api_tokens.last_used_at``: the database keeps only the latest use, not a history, so this list
  is always about now, whatever moment the grant review is for. ``--as`` in demo mode is not
  recorded as use.
- Account state (disabled, demo account outside demo mode) is today's: the database keeps no
  history of it. Rows carry it as ``account`` so a reader sees that a grant was held by an
  account that can no longer act.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from core.actor import Actor
from core.db import session_scope
from core.errors import InvalidInput
from core.redact import spreadsheet_safe
from core.timeutil import aware, utc_or_now, utcnow
from governance import rbac
from governance.rbac import Action, GrantView
from governance.tables import ApiToken, Grant, User

EXPIRING_DAYS = 30
UNUSED_DAYS = 90
AUDIT_ACTION = "access.review"


@dataclass(frozen=True)
class Account:
    """What the review needs to know about an account, as it is now."""

    username: str
    kind: str  # "person", "service" or "demo"
    auth_source: str
    state: str  # "active", "disabled", "demo (cannot act: demo mode is off)" or "no such account"
    created_at: datetime | None
    last_sign_in_at: datetime | None
    last_token_use_at: datetime | None

    @property
    def last_used_at(self) -> datetime | None:
        """The newest sign-in or API-token use, None when never."""
        uses = [t for t in (self.last_sign_in_at, self.last_token_use_at) if t is not None]
        return max(uses) if uses else None


@dataclass(frozen=True)
class ReviewRow:
    """One grant active at the review moment (revocation fields: a revocation after that moment)."""

    grant_id: int
    username: str
    account: str
    role: str
    scope: str
    valid_from: datetime
    granted_by: str
    reason: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class UnusedAccount:
    username: str
    kind: str
    auth_source: str
    created_at: datetime | None
    last_used_at: datetime | None  # None: never signed in, never used a token
    active_grants: int


@dataclass(frozen=True)
class AccessReview:
    at: datetime  # the moment the grants are reviewed at
    generated_at: datetime  # now: the moment "unused" is about
    rows: tuple[ReviewRow, ...]
    expiring: tuple[ReviewRow, ...]  # active at ``at`` and ending within EXPIRING_DAYS after it
    unused: tuple[UnusedAccount, ...]
    expiring_days: int = EXPIRING_DAYS
    unused_days: int = UNUSED_DAYS


@dataclass(frozen=True)
class WhoCan:
    """The answer to "who could perform ``action`` on ``model`` at ``at``?": one row per grant
    that allowed it (a person holding two such grants appears twice: both are evidence)."""

    action: str
    model: str  # "*" for a global action (audit.*, access.manage, system.view)
    at: datetime
    rows: tuple[ReviewRow, ...]

    @property
    def usernames(self) -> list[str]:
        """Everyone whose grants allowed the action then, sorted (each row's ``account`` says whether
        that account can still act today)."""
        return sorted({r.username for r in self.rows})


def _authorize(ctx: Any, actor: Actor, resource: str, what: str) -> None:
    if not rbac.can(ctx, actor.username, Action.AUDIT_READ, "*"):
        rbac._deny(ctx, actor, AUDIT_ACTION, resource,
                   f"{actor.username} may not review access ({what} needs audit.read on *)")


def _state(user: User, demo_mode: bool) -> str:
    if not user.is_active:
        return "disabled"
    if user.is_demo and not demo_mode:
        return "demo (cannot act: demo mode is off)"
    return "active"


def _accounts(ctx: Any) -> dict[str, Account]:
    with session_scope(ctx.engine) as session:
        token_use = dict(session.execute(
            select(ApiToken.username, func.max(ApiToken.last_used_at)).group_by(ApiToken.username)).all())
        out = {}
        for u in session.scalars(select(User)):
            kind = "service" if u.is_service else "demo" if u.is_demo else "person"
            out[u.username] = Account(u.username, kind, u.auth_source, _state(u, ctx.settings.demo_mode),
                                      aware(u.created_at), aware(u.last_sign_in_at),
                                      aware(token_use.get(u.username)))
        return out


def _all_grants(ctx: Any) -> list[GrantView]:
    with session_scope(ctx.engine) as session:
        return [rbac._view(g) for g in session.scalars(select(Grant).order_by(Grant.id))]


def _row(g: GrantView, accounts: dict[str, Account], at: datetime) -> ReviewRow:
    account = accounts.get(g.username)
    later = g.revoked_at is not None and g.revoked_at > at  # always so for a grant active at ``at``
    return ReviewRow(g.id, g.username, account.state if account else "no such account", g.role, g.scope,
                     g.valid_from, g.granted_by, g.reason, g.expires_at,
                     g.revoked_at if later else None, g.revoked_by if later else None,
                     g.revoke_reason if later else None, account.last_used_at if account else None)


def _order(row: ReviewRow) -> tuple[str, str, str, int]:
    return (row.username, row.scope, row.role, row.grant_id)


def _unused(accounts: dict[str, Account], grants: list[GrantView], now: datetime) -> list[UnusedAccount]:
    cutoff = now - timedelta(days=UNUSED_DAYS)
    out = []
    for a in sorted(accounts.values(), key=lambda a: a.username):
        if a.kind == "service" or a.state == "disabled":
            continue
        last = a.last_used_at
        if (last is not None and last > cutoff) or (a.created_at is not None and a.created_at > cutoff):
            continue
        held = sum(1 for g in grants if g.username == a.username and g.active_at(now))
        out.append(UnusedAccount(a.username, a.kind, a.auth_source, a.created_at, last, held))
    return out


def review(ctx: Any, actor: Actor, *, at: datetime | None = None) -> AccessReview:
    """The grants active at ``at`` (default now), those of them ending within EXPIRING_DAYS, and
    the accounts unused for UNUSED_DAYS (as of now); needs audit.read on ``*``; audited."""
    moment = utc_or_now(at)
    _authorize(ctx, actor, "*", "an access review")
    now = utcnow()
    accounts = _accounts(ctx)
    grants = _all_grants(ctx)
    rows = sorted((_row(g, accounts, moment) for g in grants if g.active_at(moment)), key=_order)
    horizon = moment + timedelta(days=EXPIRING_DAYS)
    expiring = sorted((r for r in rows if r.expires_at is not None and r.expires_at <= horizon),
                      key=lambda r: (r.expires_at, _order(r)))
    unused = _unused(accounts, grants, now)
    result = AccessReview(moment, now, tuple(rows), tuple(expiring), tuple(unused))
    ctx.audit.append(actor, AUDIT_ACTION, "*", "success",
                     details={"at": moment.isoformat(), "grants": len(rows), "expiring": len(expiring),
                              "unused": len(unused)})
    return result


def who_can(ctx: Any, actor: Actor, action: str, model: str = "*", at: datetime | None = None) -> WhoCan:
    """Who could perform ``action`` on ``model`` at ``at`` (default now), by the grants held then
    and governance.rbac's role -> permission map; needs audit.read on ``*``; audited."""
    _authorize(ctx, actor, (model or "*")[:128], "who-can")
    if action not in rbac.ALL_ACTIONS:
        raise InvalidInput(f"unknown action {action!r} (known: {', '.join(sorted(rbac.ALL_ACTIONS))})")
    resource = "*" if action in rbac.GLOBAL_ACTIONS else (model or "").strip()
    if resource != "*" and resource not in ctx.models.names:
        known = ", ".join(ctx.models.names) or "none"
        raise InvalidInput(f"model must be '*' or a configured model name, got {model!r} (models: {known})")
    moment = utc_or_now(at)
    accounts = _accounts(ctx)
    rows = sorted((_row(g, accounts, moment) for g in _all_grants(ctx)
                   if rbac._allows(g, action, resource, moment)), key=_order)
    ctx.audit.append(actor, AUDIT_ACTION, resource, "success",
                     details={"question": "who_can", "action": action, "at": moment.isoformat(),
                              "answer": sorted({r.username for r in rows})})
    return WhoCan(action, resource, moment, tuple(rows))


# -- output -------------------------------------------------------------------------------------
CSV_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ReviewRow)) + ("expiring_soon",)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return spreadsheet_safe(str(value))


def rows_csv(rows: tuple[ReviewRow, ...] | list[ReviewRow],
             expiring: tuple[ReviewRow, ...] | None = None) -> str:
    """The rows as CSV (CSV_COLUMNS; UTC times as ISO-8601 ``Z``; a text cell that a spreadsheet
    would run as a formula gets a leading apostrophe). ``expiring_soon`` is yes/no when
    ``expiring`` is given, else empty (a who-can answer does not look ahead)."""
    soon = None if expiring is None else {r.grant_id for r in expiring}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        flag = None if soon is None else r.grant_id in soon
        writer.writerow([_cell(getattr(r, name)) for name in CSV_COLUMNS[:-1]] + [_cell(flag)])
    return buffer.getvalue()


def review_csv(result: AccessReview) -> str:
    """The review's grant table as CSV, with ``expiring_soon`` = yes for the expiring ones."""
    return rows_csv(result.rows, result.expiring)
