"""Personal API tokens: how a person, not the job account, acts from the command line.

A token is ``vgl_`` + ``secrets.token_urlsafe(32)`` (256 random bits). It is shown to its owner
once, when it is created on the dashboard's "API tokens" page; the database keeps only its
SHA-256 (the scheme of sign-in sessions: a hash of 256 random bits cannot be reversed or
guessed, so no salt or slow hash is needed), its first characters (``prefix``) so the owner can
tell tokens apart, a name, the owner, and created / expires / last-used / revoked times.

Rules, checked here for every caller (page, job or test):

- Any active person creates tokens for themselves only; no role is needed, because a token
  carries exactly its owner's grants, evaluated on every use, never more. Service accounts,
  disabled accounts and (outside demo mode) demo accounts get none.
- Every token expires: ``DEFAULT_TTL_DAYS`` unless asked otherwise, at most
  ``VIGIL_TOKEN_MAX_DAYS`` (default 365).
- A person lists and revokes their own tokens; ``access.manage`` lists and revokes anyone's.
  No listing ever returns the hash.
- :func:`resolve_token` turns a token into its owner's username, refusing unknown, expired and
  revoked tokens and owners that may no longer act; it records ``last_used_at``. A refusal is
  audited with a short hash id (``token_id``), never the token.

Every change and every refusal is written to the audit log.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.actor import Actor, Source
from core.db import session_scope, write_scope
from core.errors import AuthenticationError, Conflict, InvalidInput, NotFound, PermissionDenied
from core.timeutil import aware, utcnow
from governance.identity import token_hash
from governance.rbac import Action, can
from governance.tables import ApiToken, User

TOKEN_PREFIX = "vgl_"
PREFIX_SHOWN = 10  # "vgl_" + 6 characters of the random part (36 of its 256 bits)
DEFAULT_TTL_DAYS = 90
MAX_NAME_LENGTH = 128
TOKEN_REFUSED = ("the API token in VIGIL_TOKEN is not valid (unknown, expired or revoked, or its owner "
                 "may not act): create a new one on the dashboard's API tokens page")


def max_ttl_days(env: Mapping[str, str] | None = None) -> int:
    """The longest lifetime a token may be given: ``VIGIL_TOKEN_MAX_DAYS`` (default 365, core.settings)."""
    from core.settings import Settings

    return Settings.from_env(env).token_max_days


def token_id(token: str) -> str:
    """A short, non-secret id of a presented token for audit entries: 12 hex of its SHA-256."""
    return token_hash(token)[:12]


@dataclass(frozen=True)
class TokenView:
    id: int
    name: str
    username: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None

    def status(self, at: datetime | None = None) -> str:
        """``active``, ``expired`` or ``revoked`` at time ``at`` (default now)."""
        at = at or utcnow()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= at:
            return "expired"
        return "active"


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``token`` is the plaintext, available only here, only now."""

    token: str
    view: TokenView


def _view(row: ApiToken) -> TokenView:
    return TokenView(row.id, row.name, row.username, row.prefix,
                     aware(row.created_at), aware(row.expires_at),  # type: ignore[arg-type]
                     aware(row.last_used_at), aware(row.revoked_at), row.revoked_by)


def _refuse(ctx: Any, actor: Actor, action: str, resource: str, message: str,
            details: dict[str, Any] | None = None) -> None:
    ctx.audit.append(actor, action, resource, "denied", reason=message, details=details)
    raise PermissionDenied(message)


def _may_hold_tokens(ctx: Any, user: User | None) -> str | None:
    """Why this account may not hold or use a token, or None when it may."""
    if user is None:
        return "unknown user"
    if user.is_service:
        return "service accounts get no personal tokens (they act as the job account)"
    if not user.is_active:
        return "account disabled"
    if user.is_demo and not ctx.settings.demo_mode:
        return "demo account while demo mode is off"
    return None


def create_token(ctx: Any, actor: Actor, name: str, *, expires_in_days: int = DEFAULT_TTL_DAYS) -> NewToken:
    """Create a token for ``actor`` themselves; the plaintext is in the result and nowhere else."""
    resource = f"user:{actor.username}"
    label = (name or "").strip()
    if not label or len(label) > MAX_NAME_LENGTH or any(ord(c) < 32 for c in label):
        raise InvalidInput(f"a token needs a name of 1-{MAX_NAME_LENGTH} printable characters "
                           "(say where it is used, e.g. 'laptop CLI')")
    longest = max_ttl_days()
    if not isinstance(expires_in_days, int) or not 1 <= expires_in_days <= longest:
        raise InvalidInput(f"a token expires after 1 to {longest} days, got {expires_in_days!r} "
                           "(VIGIL_TOKEN_MAX_DAYS sets the maximum)")
    now = utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write_scope(ctx.engine) as session:
        user = session.scalar(select(User).where(User.username == actor.username))
        refusal = _may_hold_tokens(ctx, user)
        if refusal is None:
            row = ApiToken(token_hash=token_hash(token), prefix=token[:PREFIX_SHOWN], name=label,
                           username=actor.username, created_at=now,
                           expires_at=now + timedelta(days=expires_in_days))
            session.add(row)
            session.flush()
            view = _view(row)
    if refusal is not None:
        _refuse(ctx, actor, "token.create", resource,
                f"{actor.username} may not create an API token: {refusal}")
    ctx.audit.append(actor, "token.create", resource, "success",
                     details={"token": view.id, "name": view.name, "prefix": view.prefix,
                              "expires_at": view.expires_at.isoformat()})
    return NewToken(token=token, view=view)


def list_tokens(ctx: Any, actor: Actor, *, everyone: bool = False) -> list[TokenView]:
    """The actor's own tokens, newest first; ``everyone=True`` (all owners) needs access.manage."""
    if everyone and not can(ctx, actor.username, Action.ACCESS_MANAGE, "*"):
        _refuse(ctx, actor, "token.list", "*", f"{actor.username} may not list other people's API tokens")
    stmt = select(ApiToken).order_by(ApiToken.id.desc())
    if not everyone:
        stmt = stmt.where(ApiToken.username == actor.username)
    with session_scope(ctx.engine) as session:
        return [_view(row) for row in session.scalars(stmt)]


def revoke_token(ctx: Any, actor: Actor, token_id_: int) -> TokenView:
    """Revoke a token now: one's own, or anyone's with access.manage."""
    with write_scope(ctx.engine) as session:
        row = session.get(ApiToken, token_id_)
        if row is None:
            raise NotFound(f"API token {token_id_} does not exist")
        owner = row.username
        own = owner == actor.username
        if not own and not can(ctx, actor.username, Action.ACCESS_MANAGE, "*"):
            session.rollback()
            _refuse(ctx, actor, "token.revoke", f"user:{owner}",
                    f"{actor.username} may not revoke another person's API token", {"token": token_id_})
        if row.revoked_at is not None:
            when = aware(row.revoked_at)
            assert when is not None
            raise Conflict(f"API token {token_id_} was already revoked at {when.isoformat()}")
        row.revoked_at, row.revoked_by = utcnow(), actor.username
        session.flush()
        view = _view(row)
    ctx.audit.append(actor, "token.revoke", f"user:{owner}", "success",
                     details={"token": view.id, "name": view.name, "prefix": view.prefix})
    return view


def resolve_token(ctx: Any, token: str, *, client_addr: str | None = None, source: Source = "cli") -> str:
    """The owner of a valid token (and ``last_used_at`` set), else AuthenticationError, audited
    (as coming from ``source``: the command line, or the MCP server)."""
    presented = (token or "").strip()
    now = utcnow()
    owner: str | None = None
    refusal: str | None = None
    with write_scope(ctx.engine) as session:
        row = None
        if presented.startswith(TOKEN_PREFIX) and len(presented) <= 200:
            row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(presented)))
        if row is None:
            refusal = "unknown API token"
        else:
            owner = row.username
            if row.revoked_at is not None:
                refusal = f"API token {row.id} was revoked"
            elif aware(row.expires_at) <= now:  # type: ignore[operator]
                refusal = f"API token {row.id} expired"
            else:
                user = session.scalar(select(User).where(User.username == row.username))
                why = _may_hold_tokens(ctx, user)
                if why is not None:
                    refusal = f"API token {row.id}: {why}"
                else:
                    row.last_used_at = now
    if refusal is not None:
        actor = Actor(owner or "anonymous", source, client_addr)
        ctx.audit.append(actor, "auth.token", f"user:{owner}" if owner else "*", "failed", reason=refusal,
                         details={"token_id": token_id(presented) if presented else None})
        raise AuthenticationError(TOKEN_REFUSED)
    assert owner is not None
    return owner
