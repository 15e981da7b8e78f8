"""Local accounts: argon2 hashes, one message for every refusal, lockout, expiring revocable
sessions, demo and service accounts, external (OIDC/proxy) identities with no grants."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from core.actor import Actor
from core.errors import AuthenticationError, Conflict, InvalidInput, PermissionDenied
from governance import access, identity, rbac
from governance.identity import SIGN_IN_FAILED, authenticate, resolve_session, sign_out

ADMIN = Actor("root", "cli")


@pytest.fixture
def gctx(sqlite_ctx):  # type: ignore[no-untyped-def]
    access.bootstrap_admin(sqlite_ctx, "root", "root-password")
    identity.create_user(sqlite_ctx, ADMIN, "bob", "bob-password", display_name="Bob")
    return sqlite_ctx


def _sign_ins(ctx):  # type: ignore[no-untyped-def]
    return [(r.actor, r.outcome, r.reason) for r in ctx.audit.query(action="auth.sign_in")]


def test_password_is_stored_as_argon2_hash(gctx) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from core.db import session_scope
    from governance.tables import User

    with session_scope(gctx.engine) as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "bob"))
    assert stored.startswith("$argon2id$") and "bob-password" not in stored


def test_sign_in_opens_a_session_and_is_audited(gctx) -> None:  # type: ignore[no-untyped-def]
    signed = authenticate(gctx, "bob", "bob-password", client_addr="192.0.2.7")
    assert signed.username == "bob"
    assert resolve_session(gctx, signed.token) == "bob"
    assert resolve_session(gctx, "not-a-token") is None
    entry = gctx.audit.query(action="auth.sign_in")[-1]
    assert (entry.actor, entry.outcome, entry.client_addr, entry.source) == ("bob", "success", "192.0.2.7", "ui")


def test_one_message_for_unknown_user_wrong_password_and_lockout(gctx) -> None:  # type: ignore[no-untyped-def]
    messages = set()
    for user, password in (("nobody", "whatever1"), ("bob", "wrong-password")):
        with pytest.raises(AuthenticationError) as err:
            authenticate(gctx, user, password)
        messages.add(str(err.value))
    assert messages == {SIGN_IN_FAILED}
    # the text typed as an unknown username may be a password: it is never stored
    assert _sign_ins(gctx) == [("unknown user", "failed", "unknown user"), ("bob", "failed", "wrong password")]


def test_lockout_after_threshold_failures_then_expires(gctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    threshold = gctx.settings.lockout_threshold
    for _ in range(threshold):
        with pytest.raises(AuthenticationError):
            authenticate(gctx, "bob", "wrong-password")
    assert "account locked" in _sign_ins(gctx)[-1][2]
    with pytest.raises(AuthenticationError, match="^Invalid username or password.$"):
        authenticate(gctx, "bob", "bob-password")  # right password, still locked
    assert _sign_ins(gctx)[-1][2].startswith("account locked until")
    later = rbac.utcnow() + timedelta(minutes=gctx.settings.lockout_minutes, seconds=1)
    monkeypatch.setattr(identity, "utcnow", lambda: later)
    assert authenticate(gctx, "bob", "bob-password").username == "bob"


def test_success_resets_the_failure_count(gctx) -> None:  # type: ignore[no-untyped-def]
    for _ in range(gctx.settings.lockout_threshold - 1):
        with pytest.raises(AuthenticationError):
            authenticate(gctx, "bob", "wrong-password")
    authenticate(gctx, "bob", "bob-password")
    with pytest.raises(AuthenticationError):
        authenticate(gctx, "bob", "wrong-password")
    assert authenticate(gctx, "bob", "bob-password").username == "bob"  # not locked


def test_session_expires_and_sign_out_revokes(gctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    signed = authenticate(gctx, "bob", "bob-password")
    assert signed.expires_at - rbac.utcnow() <= timedelta(minutes=gctx.settings.session_ttl_minutes)
    later = signed.expires_at + timedelta(seconds=1)
    monkeypatch.setattr(identity, "utcnow", lambda: later)
    assert resolve_session(gctx, signed.token) is None
    monkeypatch.undo()
    other = authenticate(gctx, "bob", "bob-password")
    sign_out(gctx, other.token)
    assert resolve_session(gctx, other.token) is None
    assert gctx.audit.query(action="auth.sign_out")[-1].actor == "bob"


def test_demo_accounts_work_only_in_demo_mode(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = sqlite_ctx
    ctx.settings = dataclasses.replace(ctx.settings, demo_mode=True)
    accounts = access.ensure_demo_accounts(ctx)
    assert access.ensure_demo_accounts(ctx) == accounts  # idempotent
    assert {a.role for a in accounts} == set(rbac.ROLES)
    assert [(a.username, a.role) for a in accounts if a.username != a.role] == [("reviewer2", "reviewer")]
    assert rbac.roles_of(ctx, "security") == [("security", "*")]
    signed = {a.username: authenticate(ctx, a.username, a.password) for a in accounts}
    assert rbac.roles_of(ctx, "auditor") == [("auditor", "*")]
    ctx.settings = dataclasses.replace(ctx.settings, demo_mode=False)
    for a in accounts:
        with pytest.raises(AuthenticationError, match="^Invalid username or password.$"):
            authenticate(ctx, a.username, a.password)
        assert resolve_session(ctx, signed[a.username].token) is None
    assert not rbac.can(ctx, "admin", "access.manage")
    assert rbac.can(ctx, "scheduler", "drift.run", "diabetes")  # the service account is not a demo one


def test_service_accounts_cannot_sign_in(gctx) -> None:  # type: ignore[no-untyped-def]
    identity.create_user(gctx, ADMIN, "ci-bot", is_service=True)
    with pytest.raises(AuthenticationError, match="^Invalid username or password.$"):
        authenticate(gctx, "ci-bot", "")
    with pytest.raises(InvalidInput, match="service accounts have no password"):
        identity.create_user(gctx, ADMIN, "bot2", "some-password", is_service=True)


def test_create_user_validates_and_needs_access_manage(gctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Conflict, match="already exists"):
        identity.create_user(gctx, ADMIN, "bob", "another-pass")
    with pytest.raises(InvalidInput, match="too short"):
        identity.create_user(gctx, ADMIN, "carol", "short")
    with pytest.raises(InvalidInput, match="username"):
        identity.create_user(gctx, ADMIN, "bad name!", "long-enough")
    with pytest.raises(PermissionDenied, match="bob may not access.manage on \\*"):
        identity.create_user(gctx, Actor("bob", "ui"), "carol", "carol-password")
    assert identity.get_user(gctx, "carol") is None


def test_set_password_clears_lockout(gctx) -> None:  # type: ignore[no-untyped-def]
    for _ in range(gctx.settings.lockout_threshold):
        with pytest.raises(AuthenticationError):
            authenticate(gctx, "bob", "wrong-password")
    identity.set_password(gctx, ADMIN, "bob", "fresh-password")
    assert authenticate(gctx, "bob", "fresh-password").username == "bob"


def test_external_sign_in_creates_user_without_grants(gctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AuthenticationError):  # proxy mode is off unless enabled
        identity.external_sign_in(gctx, "dana.o'neil@example.org", via="proxy")
    assert identity.get_user(gctx, "dana.o'neil@example.org") is None
    gctx.settings = dataclasses.replace(gctx.settings, auth_mode="oidc")
    signed = identity.external_sign_in(gctx, "dana.o'neil@example.org", via="oidc", display_name="Dana")
    assert resolve_session(gctx, signed.token) == "dana.o'neil@example.org"
    user = identity.get_user(gctx, "dana.o'neil@example.org")
    assert user is not None and user.auth_source == "oidc" and not user.has_password
    assert rbac.roles_of(gctx, "dana.o'neil@example.org") == []
    assert not rbac.can(gctx, "dana.o'neil@example.org", "model.view", "diabetes")
    with pytest.raises(AuthenticationError):  # no local password: cannot use the password form
        authenticate(gctx, "dana.o'neil@example.org", "anything-1")


def test_unknown_user_costs_one_password_check_like_a_known_one(gctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[str] = []
    real = identity._hasher

    class Counting:
        def verify(self, hashed: str, password: str) -> bool:
            calls.append(hashed[:9])
            return real.verify(hashed, password)

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(real, name)

    monkeypatch.setattr(identity, "_hasher", Counting())
    for user in ("nobody", "bob"):
        with pytest.raises(AuthenticationError):
            authenticate(gctx, user, "wrong-password")
    assert calls == ["$argon2id", "$argon2id"]


def test_external_sign_in_refuses_blank_names(gctx) -> None:  # type: ignore[no-untyped-def]
    gctx.settings = dataclasses.replace(gctx.settings, auth_mode="proxy")
    for bad in ("", "two words", "x" * 129):
        with pytest.raises(AuthenticationError):
            identity.external_sign_in(gctx, bad, via="proxy")
    assert [u.username for u in identity.list_users(gctx, ADMIN)] == ["bob", "root"]
