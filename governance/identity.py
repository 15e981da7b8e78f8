"""Accounts and sign-in: argon2id password hashes, lockout, hashed expiring sessions.

- Passwords are hashed with argon2id, m=19 MiB, t=2, p=1: the OWASP Password Storage Cheat
  Sheet's first recommended setting (about 0.1 s per hash on a small server, where argon2-cffi's
  default RFC 9106 profile, m=64 MiB, t=3, p=4, takes about 0.5-0.9 s on two shared cores).
  Hashes made with other parameters still verify and are upgraded at the next sign-in.
- ``settings.lockout_threshold`` consecutive failures lock the account for
  ``settings.lockout_minutes``; a success resets the count.
- Unknown user, wrong password, locked, disabled, service and (outside demo mode) demo
  accounts all get the same message, :data:`SIGN_IN_FAILED`, and cost about the same work
  (a dummy hash is verified when there is no real one). The audit entry records the real reason;
  its actor is the account, or :data:`UNKNOWN_USER_ACTOR` for a name that matches none (never
  the text typed, which may be a password). A database outage is ServiceUnavailable, shown as
  :data:`SIGN_IN_UNAVAILABLE`: never SQL or an exception name.
- Every failed attempt is counted in one atomic UPDATE (see :func:`authenticate`), so parallel
  guesses cannot slip past the lockout.
- Sessions: a random bearer token goes to the client; only its SHA-256 is stored, with an
  expiry of ``settings.session_ttl_minutes``; ``sign_out`` revokes it.
- ``external_sign_in`` accepts identities vouched for by OIDC (``st.login``) or a trusted proxy
  header, only in the matching ``settings.auth_mode``; a new user gets no grants.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import case, or_, select, update
from sqlalchemy.exc import DBAPIError

from core.actor import Actor, Source
from core.db import retry_busy, session_scope, translate_db_error, write_scope
from core.errors import AuthenticationError, Conflict, InvalidInput, NotFound
from governance.rbac import Action, aware, require, utcnow
from governance.tables import SignInSession, User

SIGN_IN_FAILED = "Invalid username or password."
SIGN_IN_UNAVAILABLE = "Sign-in is unavailable right now. Please try again in a minute."
UNKNOWN_USER_ACTOR = "unknown user"  # never a valid username (it has a space)
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")
EXTERNAL_USERNAME_RE = re.compile(r"^[^\s\x00-\x1f\x7f]{1,128}$")  # e-mail addresses, IdP subjects
MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when there is no real one (same cost, built on first use)."""
    return _hasher.hash("vigil-dummy-password-for-timing")


@dataclass(frozen=True)
class SignedIn:
    username: str
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class UserView:
    username: str
    display_name: str
    auth_source: str
    is_demo: bool
    is_service: bool
    is_active: bool
    has_password: bool
    locked_until: datetime | None
    created_at: datetime
    last_sign_in_at: datetime | None


def _view(u: User) -> UserView:
    return UserView(u.username, u.display_name, u.auth_source, bool(u.is_demo), bool(u.is_service),
                    bool(u.is_active), u.password_hash is not None, aware(u.locked_until),
                    aware(u.created_at), aware(u.last_sign_in_at))  # type: ignore[arg-type]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_username(username: str, pattern: re.Pattern[str] = USERNAME_RE) -> None:
    if not pattern.match(username or ""):
        raise InvalidInput(f"username {username!r} is not valid: use 1-128 letters, digits and . _ @ + - "
                           "(starting with a letter or digit)")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password is too short: use at least {MIN_PASSWORD_LENGTH} characters")


def insert_user(session: Any, username: str, password: str | None = None, *, display_name: str = "",
                is_demo: bool = False, is_service: bool = False, auth_source: str = "local") -> User:
    """Store a new user without permission checks (bootstrap, demo set-up, external sign-in)."""
    _check_username(username, USERNAME_RE if auth_source == "local" else EXTERNAL_USERNAME_RE)
    if is_service and password is not None:
        raise InvalidInput("service accounts have no password (they cannot sign in interactively)")
    if auth_source == "local" and not is_service:
        if password is None:
            raise InvalidInput(f"user {username!r} needs a password (or create it as a service account)")
        _check_password(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists")
    row = User(username=username, display_name=display_name or "", auth_source=auth_source,
               password_hash=hash_password(password) if password is not None else None,
               is_demo=is_demo, is_service=is_service, is_active=True, failed_attempts=0,
               created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def create_user(ctx: Any, actor: Actor, username: str, password: str | None = None, *,
                display_name: str = "", is_demo: bool = False, is_service: bool = False) -> UserView:
    """Create a local (or service) account; needs access.manage. The user has no grants yet."""
    require(ctx, actor, Action.ACCESS_MANAGE, "*")
    with write_scope(ctx.engine) as session:
        view = _view(insert_user(session, username, password, display_name=display_name,
                                 is_demo=is_demo, is_service=is_service))
    ctx.audit.append(actor, "user.create", f"user:{username}", "success",
                     details={"is_demo": is_demo, "is_service": is_service, "display_name": display_name})
    return view


def set_password(ctx: Any, actor: Actor, username: str, password: str) -> None:
    """Set a new password and clear any lockout; needs access.manage."""
    require(ctx, actor, Action.ACCESS_MANAGE, "*")
    _check_password(password)
    new_hash = hash_password(password)  # slow: outside the write transaction
    with write_scope(ctx.engine) as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"user {username!r} does not exist")
        if user.is_service:
            raise InvalidInput(f"{username!r} is a service account and cannot have a password")
        user.password_hash = new_hash
        user.failed_attempts, user.locked_until = 0, None
    ctx.audit.append(actor, "user.set_password", f"user:{username}", "success")


def get_user(ctx: Any, username: str) -> UserView | None:
    with session_scope(ctx.engine) as session:
        user = session.scalar(select(User).where(User.username == username))
        return _view(user) if user is not None else None


def list_users(ctx: Any, actor: Actor) -> list[UserView]:
    """Every account, by name; needs access.manage."""
    require(ctx, actor, Action.ACCESS_MANAGE, "*")
    with session_scope(ctx.engine) as session:
        return [_view(u) for u in session.scalars(select(User).order_by(User.username))]


def _fail(ctx: Any, actor: Actor, reason: str, details: dict[str, Any] | None = None) -> None:
    retry_busy(lambda: ctx.audit.append(actor, "auth.sign_in", f"user:{actor.username}", "failed",
                                        reason=reason, details=details))
    raise AuthenticationError(SIGN_IN_FAILED)


def _new_session(ctx: Any, session: Any, username: str, client_addr: str | None) -> SignedIn:
    now = utcnow()
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(minutes=ctx.settings.session_ttl_minutes)
    session.add(SignInSession(token_hash=token_hash(token), username=username, created_at=now,
                              expires_at=expires, client_addr=client_addr))
    return SignedIn(username=username, token=token, expires_at=expires)


@dataclass(frozen=True)
class _Account:
    """What sign-in needs to know about an account, read in one short transaction."""

    id: int
    username: str
    password_hash: str | None
    is_service: bool
    is_active: bool
    is_demo: bool
    locked_until: datetime | None


def _load_account(engine: Any, username: str) -> _Account | None:
    with session_scope(engine) as session:
        u = session.scalar(select(User).where(User.username == username))
        if u is None:
            return None
        return _Account(u.id, u.username, u.password_hash, bool(u.is_service), bool(u.is_active),
                        bool(u.is_demo), aware(u.locked_until))


def _refusal(account: _Account | None, now: datetime, demo_mode: bool) -> str | None:
    if account is None:
        return "unknown user"
    if account.is_service or account.password_hash is None:
        return "account has no password (service or external account)"
    if not account.is_active:
        return "account disabled"
    if account.locked_until is not None and account.locked_until > now:
        return f"account locked until {account.locked_until.isoformat()}"
    if account.is_demo and not demo_mode:
        return "demo account while demo mode is off"
    return None


def _count_failure(engine: Any, user_id: int, now: datetime, threshold: int,
                   until: datetime) -> tuple[str, int]:
    """Count one failed attempt in ONE statement, so parallel guesses are each counted once.

    Reaching ``threshold`` consecutive failures locks the account until ``until`` and restarts
    the count; an attempt that lands while the account is already locked leaves both alone.
    Returns ``(what happened, consecutive failures)``.
    """
    locked_now = User.locked_until > now  # NULL compares as unknown: not locked
    reaches = User.failed_attempts + 1 >= threshold
    with write_scope(engine) as session:
        row = session.execute(
            update(User).where(User.id == user_id).values(
                failed_attempts=case((locked_now, User.failed_attempts), (reaches, 0),
                                     else_=User.failed_attempts + 1),
                locked_until=case((locked_now, User.locked_until), (reaches, until),
                                  else_=User.locked_until),
            ).returning(User.failed_attempts, User.locked_until)
        ).one()
    locked_until = aware(row[1])
    if locked_until is not None and locked_until == until:
        return "locked", threshold
    if locked_until is not None and locked_until > now:
        return "already locked", int(row[0])
    return "counted", int(row[0])


def _open_session(ctx: Any, account: _Account, now: datetime, new_hash: str | None,
                  client_addr: str | None) -> SignedIn | None:
    """Reset the failure count and store a session, unless the account was locked or disabled
    meanwhile (checked in the same statement): None then."""
    values: dict[str, Any] = {"failed_attempts": 0, "locked_until": None, "last_sign_in_at": now}
    if new_hash is not None:
        values["password_hash"] = new_hash
    with write_scope(ctx.engine) as session:
        still_allowed = (User.id == account.id) & User.is_active.is_(True) \
            & or_(User.locked_until.is_(None), User.locked_until <= now)
        if session.execute(update(User).where(still_allowed).values(**values)
                           .returning(User.id)).first() is None:
            return None
        return _new_session(ctx, session, account.username, client_addr)


def authenticate(ctx: Any, username: str, password: str, *, client_addr: str | None = None,
                 source: Source = "ui") -> SignedIn:
    """Check a local password and open a session; every outcome is audited.

    Concurrency-safe: the account is read in one short transaction, the argon2 check runs
    outside any transaction, and each write (count a failure, open a session) is one short
    write transaction, retried while the database is busy. A failure is counted with a single
    ``UPDATE ... RETURNING``, so N parallel wrong guesses are N counted, audited failures and the
    lock falls at exactly ``settings.lockout_threshold``. The audit actor of an attempt on an
    unknown username is :data:`UNKNOWN_USER_ACTOR` (what was typed may be a password).
    """
    settings = ctx.settings
    now = utcnow()
    try:
        account = retry_busy(lambda: _load_account(ctx.engine, username or ""))
        actor = Actor(account.username if account else UNKNOWN_USER_ACTOR, source, client_addr)
        refusal = _refusal(account, now, settings.demo_mode)
        if refusal is not None:
            try:  # the same argon2 work as a real check, so timing does not reveal the reason
                _hasher.verify(_dummy_hash(), password or "")
            except VerificationError:
                pass
            _fail(ctx, actor, refusal)
        assert account is not None and account.password_hash is not None
        try:
            _hasher.verify(account.password_hash, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            until = now + timedelta(minutes=settings.lockout_minutes)
            what, failures = retry_busy(lambda: _count_failure(
                ctx.engine, account.id, now, settings.lockout_threshold, until))
            reason = "wrong password"
            if what == "locked":
                reason += f"; account locked for {settings.lockout_minutes} min"
            elif what == "already locked":
                reason += "; account already locked"
            _fail(ctx, actor, reason, {"consecutive_failures": failures})
        new_hash = hash_password(password) if _hasher.check_needs_rehash(account.password_hash) else None
        signed = retry_busy(lambda: _open_session(ctx, account, now, new_hash, client_addr))
        if signed is None:
            _fail(ctx, actor, "account locked or disabled while signing in")
        assert signed is not None
        retry_busy(lambda: ctx.audit.append(
            actor, "auth.sign_in", f"user:{account.username}", "success",
            details={"via": "password", "expires_at": signed.expires_at.isoformat()}))
        return signed
    except DBAPIError as exc:
        raise translate_db_error(exc, ctx.engine.url, doing="signing in") from None


def external_sign_in(ctx: Any, username: str, *, via: Literal["oidc", "proxy"],
                     client_addr: str | None = None, display_name: str = "") -> SignedIn:
    """Sign in an identity vouched for by OIDC or a trusted proxy; creates it (with no grants)."""
    actor = Actor((username or "")[:128], "ui", client_addr)
    if via not in ("oidc", "proxy"):
        raise InvalidInput(f"via must be 'oidc' or 'proxy', got {via!r}")
    if ctx.settings.auth_mode != via:
        _fail(ctx, actor, f"{via} sign-in while VIGIL_AUTH_MODE={ctx.settings.auth_mode}")
    if not EXTERNAL_USERNAME_RE.match(username or ""):
        _fail(ctx, actor, "name from the identity provider is empty, too long or has spaces")
    created = False
    with write_scope(ctx.engine) as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = insert_user(session, username, None, display_name=display_name, auth_source=via)
            created = True
        refusal = None
        if user.is_service:
            refusal = "service account"
        elif not user.is_active:
            refusal = "account disabled"
        elif user.is_demo and not ctx.settings.demo_mode:
            refusal = "demo account while demo mode is off"
        if refusal is None:
            user.last_sign_in_at = utcnow()
            signed = _new_session(ctx, session, user.username, client_addr)
    if created:
        ctx.audit.append(actor, "user.create", f"user:{username}", "success",
                         details={"auth_source": via, "grants": 0})
    if refusal is not None:
        _fail(ctx, actor, refusal, {"via": via})
    ctx.audit.append(actor, "auth.sign_in", f"user:{username}", "success",
                     details={"via": via, "expires_at": signed.expires_at.isoformat()})
    return signed


def resolve_session(ctx: Any, token: str | None) -> str | None:
    """The username of a live session (not expired, not revoked, user still allowed), else None."""
    if not token:
        return None
    now = utcnow()
    with session_scope(ctx.engine) as session:
        row = session.scalar(select(SignInSession).where(SignInSession.token_hash == token_hash(token)))
        if row is None or row.revoked_at is not None:
            return None
        if aware(row.expires_at) <= now:  # type: ignore[operator]
            return None
        user = session.scalar(select(User).where(User.username == row.username))
        if user is None or not user.is_active or (user.is_demo and not ctx.settings.demo_mode):
            return None
        return row.username


def sign_out(ctx: Any, token: str | None, *, client_addr: str | None = None) -> None:
    """Revoke the session of ``token`` (no-op for an unknown or already revoked token); audited."""
    if not token:
        return
    with write_scope(ctx.engine) as session:
        row = session.scalar(select(SignInSession).where(SignInSession.token_hash == token_hash(token)))
        if row is None or row.revoked_at is not None:
            return
        row.revoked_at = utcnow()
        username = row.username
    ctx.audit.append(Actor(username, "ui", client_addr), "auth.sign_out", f"user:{username}", "success")
