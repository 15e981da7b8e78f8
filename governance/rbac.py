"""Roles, permissions and grants: deny by default, one ``can()`` for every page, job and CLI.

A grant is (user, role, scope = a model name or ``*``, granted_by, reason, valid_from,
expires_at, revoked_at). ``can`` reads the grants from the database on every call and
evaluates them at time ``at`` (default now), so an expired or revoked grant stops working at
once. Model actions need a grant on that model or on ``*``; global actions (audit.*,
access.manage, system.view) need ``*``. No one grants a role to themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actor import Actor
from core.db import session_scope, write_scope
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from governance.tables import Grant, User
from core.timeutil import aware


class Action:
    MODEL_VIEW = "model.view"
    MODEL_VIEW_PII = "model.view_pii"
    INGEST_RUN = "ingest.run"
    DRIFT_RUN = "drift.run"
    SLO_RUN = "slo.run"
    HEALTH_RUN = "health.run"
    SHAP_RUN = "shap.run"
    MODEL_ROLLBACK = "model.rollback"
    MODEL_RETRAIN = "model.retrain"
    RELEASE_REQUEST = "release.request"
    RELEASE_APPROVE = "release.approve"
    AUDIT_READ = "audit.read"
    AUDIT_EXPORT = "audit.export"
    AUDIT_CHECKPOINT = "audit.checkpoint"  # sign the chain head (a scheduled job)
    AUDIT_PURGE = "audit.purge"  # delete entries older than the retention period (admin only)
    SYSTEM_VIEW = "system.view"
    ACCESS_MANAGE = "access.manage"
    INVENTORY_EDIT = "inventory.edit"  # edit a model's inventory entry (admin only)


ALL_ACTIONS: frozenset[str] = frozenset(v for k, v in vars(Action).items() if k.isupper())
GLOBAL_ACTIONS: frozenset[str] = frozenset({Action.AUDIT_READ, Action.AUDIT_EXPORT, Action.AUDIT_CHECKPOINT,
                                            Action.AUDIT_PURGE, Action.SYSTEM_VIEW, Action.ACCESS_MANAGE})
ROLES: tuple[str, ...] = ("viewer", "operator", "reviewer", "security", "auditor", "admin")
_OPERATOR = frozenset({Action.MODEL_VIEW, Action.INGEST_RUN, Action.DRIFT_RUN, Action.SLO_RUN,
                       Action.HEALTH_RUN, Action.SHAP_RUN, Action.MODEL_ROLLBACK, Action.MODEL_RETRAIN,
                       Action.RELEASE_REQUEST, Action.SYSTEM_VIEW, Action.AUDIT_CHECKPOINT})
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({Action.MODEL_VIEW}),
    "operator": _OPERATOR,
    "reviewer": frozenset({Action.MODEL_VIEW, Action.RELEASE_APPROVE}),
    # a security approver: the same grants as a reviewer, held by other people, so that an approval
    # stage (core.config.ApprovalStage.role) can ask for a security sign-off after the review
    "security": frozenset({Action.MODEL_VIEW, Action.RELEASE_APPROVE}),
    "auditor": frozenset({Action.MODEL_VIEW, Action.AUDIT_READ, Action.AUDIT_EXPORT, Action.SYSTEM_VIEW}),
    "admin": ALL_ACTIONS,
}


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class GrantView:
    id: int
    username: str
    role: str
    scope: str
    granted_by: str
    reason: str
    valid_from: datetime
    expires_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None

    def status(self, at: datetime | None = None) -> str:
        """``active``, ``pending`` (not yet valid), ``expired`` or ``revoked`` at time ``at``."""
        at = at or utcnow()
        if self.revoked_at is not None and self.revoked_at <= at:
            return "revoked"
        if self.valid_from > at:
            return "pending"
        if self.expires_at is not None and self.expires_at <= at:
            return "expired"
        return "active"

    def active_at(self, at: datetime | None = None) -> bool:
        return self.status(at) == "active"


def _view(row: Grant) -> GrantView:
    return GrantView(row.id, row.username, row.role, row.scope, row.granted_by, row.reason,
                     aware(row.valid_from), aware(row.expires_at),  # type: ignore[arg-type]
                     aware(row.created_at), aware(row.revoked_at),  # type: ignore[arg-type]
                     row.revoked_by, row.revoke_reason)


def _user_grants(session: Session, username: str) -> list[GrantView] | None:
    """All grants of an active user, or None when the user does not exist or may not act."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.is_active:
        return None
    return [_view(g) for g in session.scalars(select(Grant).where(Grant.username == username))]


def _check_action(action: str) -> None:
    if action not in ALL_ACTIONS:
        raise InvalidInput(f"unknown action {action!r} (known: {', '.join(sorted(ALL_ACTIONS))})")


def _allows(grant: GrantView, action: str, resource: str, at: datetime) -> bool:
    if not grant.active_at(at) or action not in ROLE_PERMISSIONS.get(grant.role, frozenset()):
        return False
    if action in GLOBAL_ACTIONS:
        return grant.scope == "*"
    return grant.scope == "*" or grant.scope == resource


def _demo_blocked(ctx: Any, session: Session, username: str) -> bool:
    if ctx.settings.demo_mode:
        return False
    return bool(session.scalar(select(User.is_demo).where(User.username == username)))


def can(ctx: Any, username: str, action: str, resource: str = "*", *, at: datetime | None = None) -> bool:
    """True when an active grant of ``username`` at time ``at`` permits ``action`` on ``resource``."""
    _check_action(action)
    at = aware(at) or utcnow()
    with session_scope(ctx.engine) as session:
        grants = _user_grants(session, username)
        if not grants or _demo_blocked(ctx, session, username):
            return False
    return any(_allows(g, action, resource or "*", at) for g in grants)


def require(ctx: Any, actor: Actor, action: str, resource: str = "*") -> None:
    """Raise PermissionDenied (after auditing the refusal) unless ``can`` allows it."""
    if can(ctx, actor.username, action, resource):
        return
    _deny(ctx, actor, action, resource, f"{actor.username} may not {action} on {resource}")


def require_view(ctx: Any, viewer: str | None, model: str) -> None:
    """For read services: raise PermissionDenied unless ``viewer`` may view ``model``.

    ``viewer=None`` means a trusted internal caller (a job composing its own results)."""
    if viewer is not None and not can(ctx, viewer, Action.MODEL_VIEW, model):
        raise PermissionDenied(f"{viewer} may not view model {model!r}")


def _deny(ctx: Any, actor: Actor, action: str, resource: str, message: str,
          details: dict[str, Any] | None = None) -> None:
    ctx.audit.append(actor, action, resource, "denied", reason=message, details=details)
    raise PermissionDenied(message)


def roles_of(ctx: Any, username: str, *, at: datetime | None = None) -> list[tuple[str, str]]:
    """The (role, scope) pairs active for ``username`` at ``at``, sorted."""
    at = aware(at) or utcnow()
    with session_scope(ctx.engine) as session:
        grants = _user_grants(session, username) or []
        if _demo_blocked(ctx, session, username):
            return []
    return sorted({(g.role, g.scope) for g in grants if g.active_at(at)})


def permitted_models(ctx: Any, username: str, action: str = Action.MODEL_VIEW) -> list[str]:
    """Configured model names on which ``username`` may perform ``action`` now."""
    _check_action(action)
    at = utcnow()
    with session_scope(ctx.engine) as session:
        grants = _user_grants(session, username) or []
        if _demo_blocked(ctx, session, username):
            return []
    return [m for m in ctx.models.names if any(_allows(g, action, m, at) for g in grants)]


def viewable_models(ctx: Any, viewer: str, model: str | None = None) -> list[str]:
    """For list reads: the configured models ``viewer`` may view, sorted; with ``model``, just that
    one, and PermissionDenied when the viewer may not view it."""
    if model is not None:
        require_view(ctx, viewer, model)
        return [model]
    return sorted(permitted_models(ctx, viewer, Action.MODEL_VIEW))


def insert_grant(session: Session, username: str, role: str, scope: str, *, granted_by: str, reason: str,
                 valid_from: datetime | None = None, expires_at: datetime | None = None) -> Grant:
    """Store a grant without permission checks (bootstrap and demo set-up only)."""
    now = utcnow()
    row = Grant(username=username, role=role, scope=scope, granted_by=granted_by, reason=reason,
                valid_from=aware(valid_from) or now, expires_at=aware(expires_at), created_at=now)
    session.add(row)
    session.flush()
    return row


def _validate_grant(ctx: Any, role: str, scope: str, reason: str, valid_from: datetime | None,
                    expires_at: datetime | None) -> None:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    if not reason or not reason.strip():
        raise InvalidInput("a grant needs a reason (say why the access is needed)")
    if scope != "*" and scope not in ctx.models.names:
        known = ", ".join(ctx.models.names) or "none"
        raise InvalidInput(f"scope must be '*' or a configured model name, got {scope!r} (models: {known})")
    start = aware(valid_from) or utcnow()
    if expires_at is not None and aware(expires_at) <= start:  # type: ignore[operator]
        raise InvalidInput(f"expires_at ({expires_at.isoformat()}) must be after valid_from "
                           f"({start.isoformat()})")


def grant(ctx: Any, actor: Actor, username: str, role: str, scope: str = "*", *, reason: str,
          valid_from: datetime | None = None, expires_at: datetime | None = None) -> GrantView:
    """Grant ``role`` on ``scope`` to ``username``; needs access.manage on ``*``; never to oneself."""
    resource = f"user:{username}"
    require(ctx, actor, Action.ACCESS_MANAGE, "*")
    _validate_grant(ctx, role, scope, reason, valid_from, expires_at)
    if actor.username == username:
        _deny(ctx, actor, "access.grant", resource, f"{actor.username} may not grant a role to themselves",
              {"role": role, "scope": scope})
    with session_scope(ctx.engine) as session:
        if session.scalar(select(User.id).where(User.username == username)) is None:
            raise NotFound(f"user {username!r} does not exist (create it first with create-user)")
        row = insert_grant(session, username, role, scope, granted_by=actor.username, reason=reason.strip(),
                           valid_from=valid_from, expires_at=expires_at)
        view = _view(row)
    ctx.audit.append(actor, "access.grant", resource, "success", reason=view.reason,
                     details={"grant_id": view.id, "role": role, "scope": scope,
                              "valid_from": view.valid_from.isoformat(),
                              "expires_at": view.expires_at.isoformat() if view.expires_at else None})
    return view


def revoke(ctx: Any, actor: Actor, grant_id: int, *, reason: str) -> GrantView:
    """Revoke a grant now; needs access.manage; no one revokes their own admin grant."""
    require(ctx, actor, Action.ACCESS_MANAGE, "*")
    if not reason or not reason.strip():
        raise InvalidInput("a revocation needs a reason")
    with write_scope(ctx.engine) as session:
        row = session.get(Grant, grant_id)
        if row is None:
            raise NotFound(f"grant {grant_id} does not exist (see list-grants)")
        resource = f"user:{row.username}"
        if row.revoked_at is not None:
            when = aware(row.revoked_at)
            assert when is not None
            raise Conflict(f"grant {grant_id} was already revoked at {when.isoformat()}")
        if row.username == actor.username and row.role == "admin":
            session.rollback()
            _deny(ctx, actor, "access.revoke", resource,
                  f"{actor.username} may not revoke their own admin grant", {"grant_id": grant_id})
        row.revoked_at, row.revoked_by, row.revoke_reason = utcnow(), actor.username, reason.strip()
        session.flush()
        view = _view(row)
    ctx.audit.append(actor, "access.revoke", resource, "success", reason=view.revoke_reason or "",
                     details={"grant_id": grant_id, "role": view.role, "scope": view.scope})
    return view


def list_grants(ctx: Any, actor: Actor, username: str | None = None,
                include_inactive: bool = False) -> list[GrantView]:
    """Grants (active only unless ``include_inactive``); own grants, or access.manage/audit.read."""
    if username != actor.username and not can(ctx, actor.username, Action.AUDIT_READ, "*"):
        require(ctx, actor, Action.ACCESS_MANAGE, "*")
    with session_scope(ctx.engine) as session:
        stmt = select(Grant).order_by(Grant.id)
        if username is not None:
            stmt = stmt.where(Grant.username == username)
        views = [_view(g) for g in session.scalars(stmt)]
    if include_inactive:
        return views
    now = utcnow()
    return [v for v in views if v.status(now) in ("active", "pending")]
