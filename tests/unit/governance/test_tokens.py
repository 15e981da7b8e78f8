"""Personal API tokens: shown once, stored hashed, expiring, revocable by the owner or an admin,
resolving only while valid, and every change and refusal audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from core.actor import Actor
from core.errors import AuthenticationError, ConfigError, Conflict, InvalidInput, PermissionDenied
from governance import access, identity, rbac, tokens
from governance.tables import ApiToken, User

ADMIN = Actor("root", "ui")
VERA = Actor("vera", "ui", "198.51.100.7")
OTTO = Actor("otto", "ui")


@pytest.fixture
def tctx(ctx):  # type: ignore[no-untyped-def]
    """SQLite and PostgreSQL (tests/conftest.py's ``ctx``), with an admin, a viewer, an operator
    and a service account."""
    access.bootstrap_admin(ctx, "root", "root-password")
    for name, role in (("vera", "viewer"), ("otto", "operator")):
        identity.create_user(ctx, ADMIN, name, f"{name}-password")
        rbac.grant(ctx, ADMIN, name, role, "*", reason="test")
    identity.create_user(ctx, ADMIN, "cron", is_service=True)
    return ctx


def _set(ctx, token_id: int, **values) -> None:  # type: ignore[no-untyped-def]
    with ctx.engine.begin() as conn:
        conn.execute(update(ApiToken).where(ApiToken.id == token_id).values(**values))


def test_create_returns_the_token_once_and_stores_only_its_hash(tctx) -> None:  # type: ignore[no-untyped-def]
    new = tokens.create_token(tctx, VERA, "laptop", expires_in_days=30)
    assert new.token.startswith("vgl_") and len(new.token) >= 4 + 43
    assert new.view.username == "vera" and new.view.prefix == new.token[:10] and new.view.status() == "active"
    assert new.view.expires_at - new.view.created_at == timedelta(days=30)
    with tctx.engine.connect() as conn:
        stored = conn.execute(ApiToken.__table__.select()).mappings().one()
    assert stored["token_hash"] == identity.token_hash(new.token) and new.token not in str(dict(stored))
    assert not hasattr(tokens.list_tokens(tctx, VERA)[0], "token_hash")  # listings never carry the hash
    entry = tctx.audit.query(action="token.create")[-1]
    assert (entry.actor, entry.resource, entry.outcome, entry.client_addr) == \
        ("vera", "user:vera", "success", "198.51.100.7")
    assert new.token not in str(entry)
    assert tokens.create_token(tctx, VERA, "second").token != new.token


def test_every_token_expires_within_the_configured_maximum(tctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("VIGIL_TOKEN_MAX_DAYS", raising=False)
    default = tokens.create_token(tctx, VERA, "default").view
    assert default.expires_at - default.created_at == timedelta(days=90)
    for bad in (0, -1, 366):
        with pytest.raises(InvalidInput, match="1 to 365 days"):
            tokens.create_token(tctx, VERA, "x", expires_in_days=bad)
    monkeypatch.setenv("VIGIL_TOKEN_MAX_DAYS", "7")
    with pytest.raises(InvalidInput, match="1 to 7 days"):
        tokens.create_token(tctx, VERA, "x", expires_in_days=30)
    monkeypatch.setenv("VIGIL_TOKEN_MAX_DAYS", "week")
    with pytest.raises(ConfigError, match="VIGIL_TOKEN_MAX_DAYS"):
        tokens.create_token(tctx, VERA, "x")
    with pytest.raises(InvalidInput, match="name"):
        tokens.create_token(tctx, VERA, "   ")


def test_service_accounts_and_disabled_people_get_no_token(tctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied, match="service accounts"):
        tokens.create_token(tctx, Actor("cron", "job"), "sneaky")
    with pytest.raises(PermissionDenied, match="unknown user"):
        tokens.create_token(tctx, Actor("ghost", "ui"), "x")
    assert [e.outcome for e in tctx.audit.query(action="token.create")] == ["denied", "denied"]
    assert tokens.list_tokens(tctx, ADMIN, everyone=True) == []


def test_resolve_accepts_a_valid_token_and_records_its_use(tctx) -> None:  # type: ignore[no-untyped-def]
    new = tokens.create_token(tctx, VERA, "laptop")
    assert tokens.list_tokens(tctx, VERA)[0].last_used_at is None
    assert tokens.resolve_token(tctx, new.token) == "vera"
    assert tokens.list_tokens(tctx, VERA)[0].last_used_at is not None


@pytest.mark.parametrize("case", ["expired", "revoked", "disabled owner", "unknown", "not a token"])
def test_resolve_refuses_and_audits_without_the_token(tctx, case: str) -> None:  # type: ignore[no-untyped-def]
    new = tokens.create_token(tctx, VERA, "laptop")
    presented = new.token
    if case == "expired":
        _set(tctx, new.view.id, expires_at=rbac.utcnow() - timedelta(seconds=1))
    elif case == "revoked":
        tokens.revoke_token(tctx, VERA, new.view.id)
    elif case == "disabled owner":
        with tctx.engine.begin() as conn:
            conn.execute(update(User).where(User.username == "vera").values(is_active=False))
    elif case == "unknown":
        presented = new.token[:-4] + "AAAA"
    else:
        presented = "hunter2-my-password"
    with pytest.raises(AuthenticationError, match="not valid"):
        tokens.resolve_token(tctx, presented, client_addr="os:mallory@box")
    entry = tctx.audit.query(action="auth.token")[-1]
    assert entry.outcome == "failed" and entry.client_addr == "os:mallory@box"
    assert entry.details["token_id"] == identity.token_hash(presented)[:12]
    known_owner = case in ("expired", "revoked", "disabled owner")
    assert entry.actor == ("vera" if known_owner else "anonymous")
    assert presented not in str(tctx.audit.query())  # never the token itself
    assert tokens.list_tokens(tctx, VERA)[0].last_used_at is None


def test_own_tokens_are_listed_and_revoked_by_their_owner(tctx) -> None:  # type: ignore[no-untyped-def]
    mine = tokens.create_token(tctx, VERA, "mine").view
    tokens.create_token(tctx, OTTO, "otto's")
    assert [v.name for v in tokens.list_tokens(tctx, VERA)] == ["mine"]
    revoked = tokens.revoke_token(tctx, VERA, mine.id)
    assert revoked.status() == "revoked" and revoked.revoked_by == "vera"
    with pytest.raises(Conflict, match="already revoked"):
        tokens.revoke_token(tctx, VERA, mine.id)


def test_a_viewer_cannot_revoke_or_list_another_persons_token_an_admin_can(tctx) -> None:  # type: ignore[no-untyped-def]
    ottos = tokens.create_token(tctx, OTTO, "otto ci")
    with pytest.raises(PermissionDenied, match="another person's"):
        tokens.revoke_token(tctx, VERA, ottos.view.id)
    with pytest.raises(PermissionDenied):
        tokens.list_tokens(tctx, VERA, everyone=True)
    assert tokens.resolve_token(tctx, ottos.token) == "otto"  # still works
    denied = tctx.audit.query(outcome="denied", actor="vera")
    assert [e.action for e in denied] == ["token.revoke", "token.list"]
    assert denied[0].resource == "user:otto"

    assert [v.username for v in tokens.list_tokens(tctx, ADMIN, everyone=True)] == ["otto"]
    tokens.revoke_token(tctx, ADMIN, ottos.view.id)
    with pytest.raises(AuthenticationError):
        tokens.resolve_token(tctx, ottos.token)
    entry = tctx.audit.query(action="token.revoke", outcome="success")[-1]
    assert (entry.actor, entry.resource) == ("root", "user:otto")


def test_a_token_carries_its_owners_grants_and_never_more(tctx) -> None:  # type: ignore[no-untyped-def]
    new = tokens.create_token(tctx, VERA, "laptop")
    owner = tokens.resolve_token(tctx, new.token)
    assert rbac.can(tctx, owner, "model.view", "diabetes")
    assert not rbac.can(tctx, owner, "access.manage")
    grant_id = next(g.id for g in rbac.list_grants(tctx, ADMIN, "vera"))
    rbac.revoke(tctx, ADMIN, grant_id, reason="left")
    assert not rbac.can(tctx, tokens.resolve_token(tctx, new.token), "model.view", "diabetes")
