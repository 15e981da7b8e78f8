"""Roles and grants: deny by default, scopes, expiry and revocation at once, no self-grant,
every refusal audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.actor import Actor
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from governance import access, identity, rbac
from governance.rbac import ROLE_PERMISSIONS, Action, can, grant, require, revoke

ADMIN = Actor("root", "cli")
BOB = Actor("bob", "ui", "198.51.100.4")


@pytest.fixture
def gctx(sqlite_ctx):  # type: ignore[no-untyped-def]
    access.bootstrap_admin(sqlite_ctx, "root", "root-password")
    for name in ("bob", "carol"):
        identity.create_user(sqlite_ctx, ADMIN, name, f"{name}-password")
    return sqlite_ctx


def test_role_table_matches_the_design() -> None:
    assert ROLE_PERMISSIONS["viewer"] == {"model.view"}
    assert ROLE_PERMISSIONS["reviewer"] == {"model.view", "release.approve"}
    assert ROLE_PERMISSIONS["security"] == {"model.view", "release.approve"}  # a stage of its own
    assert rbac.ROLES == ("viewer", "operator", "reviewer", "security", "auditor", "admin")
    assert set(ROLE_PERMISSIONS) == set(rbac.ROLES)
    assert ROLE_PERMISSIONS["auditor"] == {"model.view", "audit.read", "audit.export", "system.view"}
    assert "release.approve" not in ROLE_PERMISSIONS["operator"]
    assert {"model.rollback", "drift.run", "system.view"} <= ROLE_PERMISSIONS["operator"]
    assert "access.manage" not in ROLE_PERMISSIONS["operator"] | ROLE_PERMISSIONS["auditor"]
    assert ROLE_PERMISSIONS["admin"] == rbac.ALL_ACTIONS
    assert sorted(a for r, p in ROLE_PERMISSIONS.items() if "model.view_pii" in p for a in [r]) == ["admin"]


def test_deny_by_default(gctx) -> None:  # type: ignore[no-untyped-def]
    assert not any(can(gctx, "bob", action, "diabetes") for action in rbac.ALL_ACTIONS)
    assert not can(gctx, "nobody", "model.view", "diabetes")
    assert rbac.permitted_models(gctx, "bob") == []


def test_model_scope_and_global_actions(gctx) -> None:  # type: ignore[no-untyped-def]
    grant(gctx, ADMIN, "bob", "operator", "diabetes", reason="on call for diabetes")
    assert can(gctx, "bob", Action.DRIFT_RUN, "diabetes")
    assert not can(gctx, "bob", Action.DRIFT_RUN, "breast-cancer")
    assert not can(gctx, "bob", Action.SYSTEM_VIEW)  # global action needs scope '*'
    assert rbac.permitted_models(gctx, "bob") == ["diabetes"]
    grant(gctx, ADMIN, "carol", "auditor", "*", reason="quarterly audit")
    assert can(gctx, "carol", Action.AUDIT_EXPORT) and can(gctx, "carol", Action.MODEL_VIEW, "breast-cancer")
    assert not can(gctx, "carol", Action.MODEL_ROLLBACK, "diabetes")
    assert rbac.roles_of(gctx, "carol") == [("auditor", "*")]


def test_expiry_and_future_validity_follow_the_clock(gctx) -> None:  # type: ignore[no-untyped-def]
    now = rbac.utcnow()
    grant(gctx, ADMIN, "bob", "viewer", "*", reason="temp", expires_at=now + timedelta(hours=1))
    grant(gctx, ADMIN, "carol", "viewer", "*", reason="later", valid_from=now + timedelta(days=1))
    assert can(gctx, "bob", "model.view", "diabetes")
    assert not can(gctx, "bob", "model.view", "diabetes", at=now + timedelta(hours=1, seconds=1))
    assert not can(gctx, "carol", "model.view", "diabetes")
    assert can(gctx, "carol", "model.view", "diabetes", at=now + timedelta(days=1, seconds=1))
    with pytest.raises(InvalidInput, match="must be after valid_from"):
        grant(gctx, ADMIN, "bob", "viewer", reason="x", expires_at=now - timedelta(seconds=1))


def test_revocation_takes_effect_at_once(gctx) -> None:  # type: ignore[no-untyped-def]
    g = grant(gctx, ADMIN, "bob", "operator", "*", reason="incident")
    assert can(gctx, "bob", "model.rollback", "diabetes")
    revoke(gctx, ADMIN, g.id, reason="incident closed")
    assert not can(gctx, "bob", "model.rollback", "diabetes")
    with pytest.raises(Conflict, match="already revoked"):
        revoke(gctx, ADMIN, g.id, reason="again")
    listed = rbac.list_grants(gctx, ADMIN, "bob", include_inactive=True)
    assert [(x.status(), x.revoked_by, x.revoke_reason) for x in listed] == [("revoked", "root", "incident closed")]
    assert rbac.list_grants(gctx, ADMIN, "bob") == []


def test_no_one_grants_themselves_and_the_refusal_is_audited(gctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied, match="root may not grant a role to themselves"):
        grant(gctx, ADMIN, "root", "viewer", reason="me")
    with pytest.raises(PermissionDenied, match="bob may not access.manage on \\*"):
        grant(gctx, BOB, "bob", "admin", reason="me")
    denied = gctx.audit.query(outcome="denied")
    assert [(d.actor, d.action) for d in denied] == [("root", "access.grant"), ("bob", "access.manage")]
    assert denied[1].client_addr == "198.51.100.4"


def test_own_admin_grant_cannot_be_revoked_by_oneself(gctx) -> None:  # type: ignore[no-untyped-def]
    own = rbac.list_grants(gctx, ADMIN, "root")[0]
    with pytest.raises(PermissionDenied, match="own admin grant"):
        revoke(gctx, ADMIN, own.id, reason="oops")
    assert can(gctx, "root", "access.manage")


def test_bad_grant_input_is_named(gctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="unknown role 'superuser'"):
        grant(gctx, ADMIN, "bob", "superuser", reason="x")
    with pytest.raises(InvalidInput, match="needs a reason"):
        grant(gctx, ADMIN, "bob", "viewer", reason=" ")
    with pytest.raises(InvalidInput, match="configured model"):
        grant(gctx, ADMIN, "bob", "viewer", "no-such-model", reason="x")
    with pytest.raises(NotFound, match="user 'ghost' does not exist"):
        grant(gctx, ADMIN, "ghost", "viewer", reason="x")
    with pytest.raises(NotFound, match="grant 999"):
        revoke(gctx, ADMIN, 999, reason="x")
    with pytest.raises(InvalidInput, match="unknown action"):
        can(gctx, "bob", "model.delete")


def test_require_audits_denial_and_passes_silently(gctx) -> None:  # type: ignore[no-untyped-def]
    before = gctx.audit.count()
    require(gctx, ADMIN, Action.AUDIT_READ)
    assert gctx.audit.count() == before
    with pytest.raises(PermissionDenied, match="^bob may not model.rollback on diabetes$"):
        require(gctx, BOB, Action.MODEL_ROLLBACK, "diabetes")
    last = gctx.audit.head()
    assert (last.actor, last.action, last.resource, last.outcome) == ("bob", "model.rollback", "diabetes", "denied")


def test_list_grants_needs_permission_except_for_own(gctx) -> None:  # type: ignore[no-untyped-def]
    grant(gctx, ADMIN, "bob", "viewer", reason="read-only")
    assert [g.role for g in rbac.list_grants(gctx, BOB, "bob")] == ["viewer"]
    with pytest.raises(PermissionDenied):
        rbac.list_grants(gctx, BOB)


def test_bootstrap_only_while_no_admin_exists(gctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Conflict, match="active admin already exists"):
        access.bootstrap_admin(gctx, "mallory", "mallory-password")
    assert identity.get_user(gctx, "mallory") is None
    assert gctx.audit.head().outcome == "denied"
