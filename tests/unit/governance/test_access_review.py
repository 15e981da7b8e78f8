"""Access review on SQLite and PostgreSQL: a timeline of grants created, expired and revoked at
known dates, reviewed at several past moments against a hand-written expectation; what expires
within 30 days; unused accounts; who could approve a release then; refusals audited; CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from core.actor import Actor
from core.db import session_scope
from core.errors import InvalidInput, PermissionDenied
from governance import access, access_review, identity, rbac, tokens
from governance.tables import Grant, User

ROOT = Actor("root", "cli")
ALDO = Actor("aldo", "ui")  # auditor
VERA = Actor("vera", "ui")  # viewer


def d(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# id -> (user, role, scope, valid_from, expires_at, (revoked_at, reason) or None), by hand
TIMELINE = {
    "bob-review": ("bob", "reviewer", "diabetes", d("2025-01-10"), None, (d("2025-03-15"), "left the team")),
    "carol-review": ("carol", "reviewer", "*", d("2025-02-01"), d("2025-04-01"), None),
    "dave-ops": ("dave", "operator", "diabetes", d("2025-01-01"), None, None),
    "erin-review": ("erin", "reviewer", "breast-cancer", d("2025-02-15"), d("2025-06-30"), None),
    "bob-view": ("bob", "viewer", "*", d("2025-04-01"), None, None),
    "carol-audit": ("carol", "auditor", "*", d("2025-03-01"), d("2025-03-20"), None),
    "frank-review": ("frank", "reviewer", "diabetes", d("2025-01-01"), None, None),  # frank: disabled now
}


@pytest.fixture
def timeline(ctx):  # type: ignore[no-untyped-def]
    """The accounts and the TIMELINE's grants; returns (ctx, name -> grant id)."""
    access.bootstrap_admin(ctx, "root", "root-password")
    for name in ("aldo", "vera", "bob", "carol", "dave", "erin", "frank", "gina"):
        identity.create_user(ctx, ROOT, name, f"{name}-password")
    identity.create_user(ctx, ROOT, "cron", is_service=True)
    rbac.grant(ctx, ROOT, "aldo", "auditor", "*", reason="quarterly audit")
    rbac.grant(ctx, ROOT, "vera", "viewer", "*", reason="dashboards")
    ids = {}
    with session_scope(ctx.engine) as session:
        for key, (user, role, scope, start, end, revoked) in TIMELINE.items():
            row = rbac.insert_grant(session, user, role, scope, granted_by="root", reason=f"ticket {key}",
                                    valid_from=start, expires_at=end)
            if revoked is not None:
                row.revoked_at, row.revoked_by, row.revoke_reason = revoked[0], "root", revoked[1]
            ids[key] = row.id
        session.execute(update(User).where(User.username == "frank").values(is_active=False))
    return ctx, ids


def _active(ctx, at: datetime) -> set[str]:  # type: ignore[no-untyped-def]
    result = access_review.review(ctx, ALDO, at=at)
    return {r.reason.removeprefix("ticket ") for r in result.rows}


def test_review_at_past_dates_matches_the_timeline(timeline) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = timeline
    assert _active(ctx, d("2024-12-31")) == set()
    assert _active(ctx, d("2025-01-05")) == {"dave-ops", "frank-review"}
    assert _active(ctx, d("2025-02-20")) == {"bob-review", "carol-review", "dave-ops", "erin-review",
                                             "frank-review"}
    assert _active(ctx, d("2025-03-10")) == {"bob-review", "carol-review", "dave-ops", "erin-review",
                                             "carol-audit", "frank-review"}
    # revoked at 03-15 00:00: gone at that very moment; carol's audit grant still runs to 03-20
    assert _active(ctx, d("2025-03-15")) == {"carol-review", "dave-ops", "erin-review", "carol-audit",
                                             "frank-review"}
    # carol's review grant ends at 04-01 00:00, bob's viewer grant starts then
    assert _active(ctx, d("2025-04-01")) == {"dave-ops", "erin-review", "bob-view", "frank-review"}
    assert _active(ctx, d("2025-07-01")) == {"dave-ops", "bob-view", "frank-review"}


def test_rows_say_since_when_by_whom_why_and_a_later_revocation(timeline) -> None:  # type: ignore[no-untyped-def]
    ctx, ids = timeline
    rows = {r.grant_id: r for r in access_review.review(ctx, ALDO, at=d("2025-02-20")).rows}
    bob = rows[ids["bob-review"]]
    assert (bob.username, bob.role, bob.scope, bob.valid_from, bob.granted_by, bob.reason, bob.expires_at) == (
        "bob", "reviewer", "diabetes", d("2025-01-10"), "root", "ticket bob-review", None)
    assert (bob.revoked_at, bob.revoked_by, bob.revoke_reason) == (d("2025-03-15"), "root", "left the team")
    assert rows[ids["carol-review"]].revoked_at is None and rows[ids["carol-review"]].expires_at == d("2025-04-01")
    assert rows[ids["frank-review"]].account == "disabled" and bob.account == "active"
    # sorted by user, then scope
    assert [r.username for r in rows.values()] == sorted(r.username for r in rows.values())


def test_expiring_lists_active_grants_ending_within_30_days(timeline) -> None:  # type: ignore[no-untyped-def]
    ctx, ids = timeline
    result = access_review.review(ctx, ALDO, at=d("2025-03-10"))
    # 03-10 + 30 days = 04-09: carol's audit grant (03-20) then her review grant (04-01); erin's (06-30) not
    assert [r.grant_id for r in result.expiring] == [ids["carol-audit"], ids["carol-review"]]
    result = access_review.review(ctx, ALDO, at=d("2025-06-01"))
    assert [r.grant_id for r in result.expiring] == [ids["erin-review"]]  # 29 days ahead


def test_expiring_window_edges(timeline) -> None:  # type: ignore[no-untyped-def]
    ctx, ids = timeline
    # 05-31 00:00 + 30 days = 06-30 00:00, erin's end: inside the window
    assert [r.grant_id for r in access_review.review(ctx, ALDO, at=d("2025-05-31")).expiring] == [ids["erin-review"]]
    just_before = d("2025-05-31") - timedelta(seconds=1)  # 30 days and 1 s before the end
    assert access_review.review(ctx, ALDO, at=just_before).expiring == ()


def _set_user(ctx, name: str, **values) -> None:  # type: ignore[no-untyped-def]
    with session_scope(ctx.engine) as session:
        session.execute(update(User).where(User.username == name).values(**values))


def test_unused_accounts(timeline) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = timeline
    now = rbac.utcnow()
    old = now - timedelta(days=200)
    for name in ("bob", "carol", "dave", "gina", "frank", "cron", "vera"):
        _set_user(ctx, name, created_at=old)
    _set_user(ctx, "bob", last_sign_in_at=now - timedelta(days=100))  # signed in 100 days ago
    _set_user(ctx, "carol", last_sign_in_at=now - timedelta(days=100))  # ... but used a token today
    made = tokens.create_token(ctx, Actor("carol", "ui"), "laptop")
    assert tokens.resolve_token(ctx, made.token) == "carol"
    _set_user(ctx, "gina", last_sign_in_at=now - timedelta(days=89))  # inside the 90 days
    _set_user(ctx, "vera", last_sign_in_at=now - timedelta(days=91))
    # dave: 200 days old, never used; erin: never used but created today; frank: disabled; cron: service
    unused = {u.username: u for u in access_review.review(ctx, ALDO).unused}
    assert sorted(unused) == ["bob", "dave", "vera"]
    assert unused["dave"].last_used_at is None
    assert abs(unused["bob"].last_used_at - (now - timedelta(days=100))) < timedelta(seconds=1)
    # active grants now: bob's viewer grant since 2025-04-01, dave's operator grant, vera's viewer grant
    assert (unused["bob"].active_grants, unused["dave"].active_grants, unused["vera"].active_grants) == (1, 1, 1)


def test_who_could_approve_releases_of_diabetes_at_a_past_date(timeline) -> None:  # type: ignore[no-untyped-def]
    ctx, ids = timeline
    ask = access_review.who_can
    assert ask(ctx, ALDO, "release.approve", "diabetes", d("2025-03-10")).usernames == ["bob", "carol", "frank"]
    assert ask(ctx, ALDO, "release.approve", "diabetes", d("2025-03-16")).usernames == ["carol", "frank"]
    assert ask(ctx, ALDO, "release.approve", "breast-cancer", d("2025-03-16")).usernames == ["carol", "erin"]
    answer = ask(ctx, ALDO, "release.approve", "diabetes", d("2025-04-02"))
    assert [(r.username, r.account) for r in answer.rows] == [("frank", "disabled")]
    # a global action: the model does not matter, only grants on "*"
    audit = ask(ctx, ALDO, "audit.read", "diabetes", d("2025-03-10"))
    assert audit.model == "*" and audit.usernames == ["carol"]
    assert [r.grant_id for r in audit.rows] == [ids["carol-audit"]]


def test_who_can_now_agrees_with_rbac_can(timeline) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = timeline
    everyone = ["root", "aldo", "vera", "bob", "carol", "dave", "erin", "frank", "gina"]
    for action in ("release.approve", "model.view", "model.rollback", "audit.export", "access.manage"):
        for model in ctx.models.names:
            answer = access_review.who_can(ctx, ALDO, action, model)
            can_act = {r.username for r in answer.rows if r.account == "active"}
            assert can_act == {u for u in everyone if rbac.can(ctx, u, action, model)}, (action, model)


def test_refusals_are_audited_and_bad_questions_get_clear_errors(timeline) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = timeline
    with pytest.raises(PermissionDenied, match="vera may not review access"):
        access_review.review(ctx, VERA)
    with pytest.raises(PermissionDenied):
        access_review.who_can(ctx, VERA, "release.approve", "diabetes")
    denied = ctx.audit.query(actor="vera", action="access.review", outcome="denied")
    assert len(denied) == 2
    with pytest.raises(InvalidInput, match="unknown action 'release.aprove'"):
        access_review.who_can(ctx, ALDO, "release.aprove", "diabetes")
    with pytest.raises(InvalidInput, match="configured model name, got 'diabetis'"):
        access_review.who_can(ctx, ALDO, "release.approve", "diabetis")
    access_review.review(ctx, ROOT, at=d("2025-03-10"))  # an admin may review too
    done = ctx.audit.query(actor="root", action="access.review", outcome="success")
    assert [(e.details["at"], e.details["grants"], e.details["expiring"]) for e in done] == [
        ("2025-03-10T00:00:00+00:00", 6, 2)]


def test_csv_has_the_documented_columns_and_neutralises_formulas(timeline) -> None:  # type: ignore[no-untyped-def]
    ctx, ids = timeline
    with session_scope(ctx.engine) as session:
        session.execute(update(Grant).where(Grant.id == ids["dave-ops"]).values(reason="=HYPERLINK(\"x\")"))
    text = access_review.review_csv(access_review.review(ctx, ALDO, at=d("2025-03-10")))
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == ["grant_id", "username", "account", "role", "scope", "valid_from", "granted_by",
                                 "reason", "expires_at", "revoked_at", "revoked_by", "revoke_reason",
                                 "last_used_at", "expiring_soon"]
    rows = {int(r["grant_id"]): r for r in reader}
    assert len(rows) == 6
    bob = rows[ids["bob-review"]]
    assert (bob["valid_from"], bob["expires_at"], bob["revoked_at"], bob["revoke_reason"], bob["expiring_soon"]) == (
        "2025-01-10T00:00:00Z", "", "2025-03-15T00:00:00Z", "left the team", "no")
    assert rows[ids["carol-audit"]]["expiring_soon"] == "yes"
    assert rows[ids["dave-ops"]]["reason"] == "'=HYPERLINK(\"x\")"
