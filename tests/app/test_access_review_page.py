"""The Access page's review section, through AppTest: the grants at a chosen date, expiring soon,
unused accounts, the CSV download, and "who could ... then?"."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from core.db import session_scope
from tests.app.conftest import ADMIN, new_app, sign_in_as, texts

# a reviewer grant of dora's (a viewer of diabetes today) that began and ended long ago
PAST_REASON = "TICKET-1 <b>winter freeze</b>"


@pytest.fixture
def past_grant(vigil_env):  # type: ignore[no-untyped-def]
    from governance import rbac
    from governance.tables import Grant

    with session_scope(vigil_env.ctx.engine) as session:
        existing = session.query(Grant).filter(Grant.reason == PAST_REASON).one_or_none()
        if existing is None:
            rbac.insert_grant(session, "dora", "reviewer", "diabetes", granted_by=ADMIN, reason=PAST_REASON,
                              valid_from=datetime(2025, 1, 1, tzinfo=UTC),
                              expires_at=datetime(2025, 2, 1, tzinfo=UTC))
    return vigil_env


def _open(inst):  # type: ignore[no-untyped-def]
    at = sign_in_as(new_app(), inst, ADMIN).run()
    at.switch_page("pages/access.py").run()
    assert not at.exception, at.exception
    return at


def _frame(at, tab: str):  # type: ignore[no-untyped-def]
    """The table in the review tab whose label starts with ``tab`` (None when it shows none)."""
    block = next(t for t in at.tabs if t.label.startswith(tab))
    return block.dataframe[0].value if block.dataframe else None


def _reviews(ctx) -> int:  # type: ignore[no-untyped-def]
    return len(ctx.audit.query(actor=ADMIN, action="access.review", outcome="success"))


def test_review_today_lists_the_grants_in_force_and_is_audited_once(past_grant) -> None:  # type: ignore[no-untyped-def]
    ctx = past_grant.ctx
    before = _reviews(ctx)
    at = _open(past_grant)
    assert "Access review" in [h.value for h in at.header]
    grants = _frame(at, "Grants")
    held = set(zip(grants["user"], grants["role"], grants["scope"], strict=True))
    assert {("vera", "viewer", "*"), ("aldo", "auditor", "*"), ("dora", "viewer", "diabetes"),
            (ADMIN, "admin", "*")} <= held
    assert PAST_REASON not in set(grants["reason"])  # the past grant is over
    assert _reviews(ctx) == before + 1
    at.run()  # a rerun (any widget) shows the kept review: the audit log is not flooded
    assert _reviews(ctx) == before + 1


def test_review_at_a_past_date_shows_that_days_grants_and_the_csv(past_grant, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from governance import access_review

    offered: list[str] = []  # the CSV texts the page put behind its download button
    real_csv = access_review.review_csv
    monkeypatch.setattr(access_review, "review_csv", lambda result: offered.append(real_csv(result)) or offered[-1])
    at = _open(past_grant)
    at.date_input(key="access.review_date").set_value(date(2025, 1, 20)).run()
    assert not at.exception, at.exception
    grants = _frame(at, "Grants")
    assert list(grants["user"]) == ["dora"]
    row = grants.iloc[0]
    assert (row["role"], row["scope"], row["reason"], row["since"], row["expires"]) == (
        "reviewer", "diabetes", PAST_REASON, "2025-01-01 00:00 UTC", "2025-02-01 00:00 UTC")
    assert "Grants in force at 2025-01-20 23:59 UTC" in texts(at)
    expiring = _frame(at, "Expiring")  # ends 12 days later
    assert list(expiring["user"]) == ["dora"]
    [download] = at.get("download_button")
    assert download.label == "Download CSV" and download.proto.url.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(offered[-1])))
    assert [(r["username"], r["reason"], r["expiring_soon"]) for r in rows] == [("dora", PAST_REASON, "yes")]


def test_who_could_approve_then(past_grant) -> None:  # type: ignore[no-untyped-def]
    at = _open(past_grant)
    at.date_input(key="access.review_date").set_value(date(2025, 1, 20)).run()
    at.selectbox(key="access.who_can_action").select("release.approve")
    at.selectbox(key="access.who_can_model").select("diabetes")
    at.button(key="access.who_can_ask").click().run()
    assert not at.exception, at.exception
    assert "Who could release.approve on diabetes at 2025-01-20 23:59 UTC: dora" in texts(at).replace("**", "")
    assert list(_frame(at, "Who could")["reason"]) == [PAST_REASON]
    at.date_input(key="access.review_date").set_value(date(2025, 3, 1)).run()
    at.button(key="access.who_can_ask").click().run()
    assert "Who could release.approve on diabetes at 2025-03-01 23:59 UTC: nobody" in texts(at).replace("**", "")
    assert _frame(at, "Who could") is None


def test_unused_tab_says_what_it_counts(past_grant) -> None:  # type: ignore[no-untyped-def]
    at = _open(past_grant)
    # every fixture account was created minutes ago: none is "unused for 90 days"
    assert "Every active account was used within 90 days." in texts(at)
    assert "no sign-in and no API-token use for 90 days" in texts(at)
