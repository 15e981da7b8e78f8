"""Setting up access: the first admin, and the demo's accounts.

- ``bootstrap_admin`` works only while no active admin grant on ``*`` exists, so it cannot be
  used to take over an installation that already has an administrator.
- ``ensure_demo_accounts`` creates one account per role (and a second reviewer) with a published password (flagged
  ``is_demo``: they sign in only when ``VIGIL_DEMO`` is on) and the ``scheduler`` service
  account that jobs act as (operator on ``*``). It is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core.actor import Actor
from core.db import session_scope
from core.errors import Conflict
from governance.identity import _check_password, hash_password, insert_user
from governance.rbac import ROLES, insert_grant, utcnow
from governance.tables import Grant, User

BOOTSTRAP_ACTOR = Actor("bootstrap", "cli")
DEMO_ACTOR = Actor("demo", "job")
SCHEDULER = "scheduler"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    password: str


def demo_password(role: str) -> str:
    """The published password of a demo account (works only in demo mode)."""
    return f"demo-{role}"


def _active_grant_exists(session: Any, role: str, scope: str = "*", username: str | None = None) -> bool:
    now = utcnow()
    stmt = select(Grant).where(Grant.role == role, Grant.scope == scope, Grant.revoked_at.is_(None))
    if username is not None:
        stmt = stmt.where(Grant.username == username)
    from governance.rbac import _view

    return any(_view(g).active_at(now) for g in session.scalars(stmt))


def has_active_admin(ctx: Any) -> bool:
    with session_scope(ctx.engine) as session:
        return _active_grant_exists(session, "admin")


def bootstrap_admin(ctx: Any, username: str, password: str) -> None:
    """Create (or re-password) ``username`` and grant admin on ``*``: only while no admin exists."""
    _check_password(password)
    with session_scope(ctx.engine) as session:
        if _active_grant_exists(session, "admin"):
            session.rollback()
            ctx.audit.append(BOOTSTRAP_ACTOR, "access.bootstrap", f"user:{username}", "denied",
                             reason="an active admin grant already exists")
            raise Conflict("an active admin already exists; ask an admin to grant access on the Access "
                           "page, or with `VIGIL_TOKEN=<their API token> python -m jobs.access grant ...`")
        user = session.scalar(select(User).where(User.username == username))
        created = user is None
        if user is None:
            user = insert_user(session, username, password, display_name="Administrator")
        else:
            user.password_hash = hash_password(password)
            user.failed_attempts, user.locked_until, user.is_active = 0, None, True
        row = insert_grant(session, username, "admin", "*", granted_by=BOOTSTRAP_ACTOR.username,
                           reason="bootstrap of the first administrator")
        grant_id = row.id
    ctx.audit.append(BOOTSTRAP_ACTOR, "access.bootstrap", f"user:{username}", "success",
                     reason="bootstrap of the first administrator",
                     details={"created_user": created, "grant_id": grant_id, "role": "admin", "scope": "*"})


# Demo accounts beyond the one per role: a second reviewer, so that a two-reviewer approval stage
# can be walked through in the demo (two different people; the same reviewer twice is refused).
EXTRA_DEMO_ACCOUNTS: tuple[tuple[str, str], ...] = (("reviewer2", "reviewer"),)


def demo_accounts() -> list[DemoAccount]:
    """The demo's sign-in accounts: one per role (username = role) and EXTRA_DEMO_ACCOUNTS."""
    return ([DemoAccount(role, role, demo_password(role)) for role in ROLES]
            + [DemoAccount(name, role, demo_password(name)) for name, role in EXTRA_DEMO_ACCOUNTS])


def ensure_demo_accounts(ctx: Any) -> list[DemoAccount]:
    """The demo accounts (:func:`demo_accounts`) plus the scheduler service account."""
    accounts = demo_accounts()
    wanted = [(a.username, a.role, a.password, False) for a in accounts]
    wanted.append((SCHEDULER, "operator", None, True))
    for username, role, password, service in wanted:
        created = granted = None
        with session_scope(ctx.engine) as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                insert_user(session, username, password, display_name=f"Demo {username}" if not service
                            else "Job scheduler (service account)", is_demo=not service, is_service=service)
                created = True
            elif not service and not user.is_demo:
                raise Conflict(f"user {username!r} exists and is not a demo account; "
                               "the demo will not touch it")
            if not _active_grant_exists(session, role, "*", username):
                granted = insert_grant(session, username, role, "*", granted_by=DEMO_ACTOR.username,
                                       reason="demo account").id
        if created:
            ctx.audit.append(DEMO_ACTOR, "user.create", f"user:{username}", "success",
                             details={"is_demo": not service, "is_service": service})
        if granted is not None:
            ctx.audit.append(DEMO_ACTOR, "access.grant", f"user:{username}", "success", reason="demo account",
                             details={"grant_id": granted, "role": role, "scope": "*"})
    return accounts
