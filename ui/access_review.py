"""The Access page's review section: widgets and tables around governance.access_review.

Every review is an audited read (``access.review``), so the section does not ask the service on
every rerun of the page: a review is kept in the session per reviewed moment ("now" for at most
NOW_TTL_S seconds, or until a grant or revocation on the page, or the Refresh button), and a
who-can question is asked only when its button is pressed.
"""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import streamlit as st

from core.actor import Actor
from core.context import AppContext
from governance import access_review, rbac
from governance.access_review import AccessReview, ReviewRow
from ui.components import esc
from ui.tokens import when

REVIEWS = "access.review_results"  # {(username, moment iso or "now"): (monotonic time, AccessReview)}
WHO_CAN = "access.who_can_result"  # the last who-can answer (WhoCan) or an error message (str)
NOW_TTL_S = 60


def forget_reviews() -> None:
    """Drop the kept reviews (after a grant or a revocation: the next look asks again)."""
    st.session_state.pop(REVIEWS, None)


def moment(day: date, at_time: time | None) -> datetime | None:
    """The reviewed moment: the day at ``at_time`` (UTC); without a time the end of that day, or
    None (now) for today."""
    today = datetime.now(UTC).date()
    if at_time is not None:
        return datetime.combine(day, at_time, tzinfo=UTC)
    if day >= today:
        return None
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC) - timedelta(microseconds=1)


def _review(ctx: AppContext, actor: Actor, at: datetime | None) -> AccessReview:
    kept: dict[tuple[str, str], tuple[float, AccessReview]] = st.session_state.setdefault(REVIEWS, {})
    key = (actor.username, at.isoformat() if at else "now")
    hit = kept.get(key)
    if hit is not None and (at is not None or clock.monotonic() - hit[0] < NOW_TTL_S):
        return hit[1]
    result = access_review.review(ctx, actor, at=at)
    kept[key] = (clock.monotonic(), result)
    return result


def _rows_table(rows: tuple[ReviewRow, ...], key: str) -> None:
    st.dataframe(
        [
            {"id": r.grant_id, "user": r.username, "account": r.account, "role": r.role, "scope": r.scope,
             "since": when(r.valid_from), "granted by": r.granted_by, "reason": r.reason,
             "expires": when(r.expires_at),
             "revoked later": (f"{when(r.revoked_at)} by {r.revoked_by}: {r.revoke_reason}"
                               if r.revoked_at else ""),
             "last used": when(r.last_used_at) or "never"}
            for r in rows
        ],
        hide_index=True,
        key=key,
    )


def review_section(ctx: AppContext, actor: Actor) -> None:
    """The "Access review" section: the grants at a chosen moment, expiring soon, unused accounts,
    a CSV download, and "who could ... on ... then?"."""
    st.header("Access review")
    c1, c2, c3 = st.columns([2, 2, 1])
    day = c1.date_input("Review at (UTC date)", value="today", key="access.review_date",
                        max_value=datetime.now(UTC).date() + timedelta(days=366))
    at_time = c2.time_input("Time of day (UTC, optional)", value=None, key="access.review_time",
                            help="Empty: the end of the chosen day, or now for today.")
    if c3.button("Refresh", key="access.review_refresh", icon=":material/refresh:"):
        forget_reviews()
    at = moment(day, at_time)
    try:
        result = _review(ctx, actor, at)
    except Exception as exc:  # refused (audited by the service) or the database is down
        st.error(f"Cannot review access: {esc(exc)}")
        return
    shown = when(result.at)
    st.caption(f"Grants in force at {shown}. Every review is recorded in the audit log.")
    grants_tab, expiring_tab, unused_tab, who_tab = st.tabs(
        [f"Grants ({len(result.rows)})",
         f"Expiring within {result.expiring_days} days ({len(result.expiring)})",
         f"Unused for {result.unused_days} days ({len(result.unused)})", "Who could...?"])
    with grants_tab:
        if result.rows:
            _rows_table(result.rows, "access.review_grants")
        else:
            st.info(f"No grant was in force at {shown}.")
        stamp = result.at.strftime("%Y%m%dT%H%M%SZ")
        st.download_button("Download CSV", data=access_review.review_csv(result).encode("utf-8"),
                           file_name=f"vigil-access-review-{stamp}.csv", mime="text/csv",
                           key="access.review_csv", icon=":material/file_download:")
    with expiring_tab:
        if result.expiring:
            _rows_table(result.expiring, "access.review_expiring")
        else:
            st.info(f"No grant in force at {shown} ends within {result.expiring_days} days.")
    with unused_tab:
        st.caption(f"Person accounts (not service accounts) with no sign-in and no API-token use for "
                   f"{result.unused_days} days, as of now: the database keeps only the latest use.")
        if result.unused:
            st.dataframe(
                [{"user": u.username, "kind": u.kind, "sign-in": u.auth_source, "created": when(u.created_at),
                  "last used": when(u.last_used_at) or "never", "active grants": u.active_grants}
                 for u in result.unused],
                hide_index=True,
                key="access.review_unused",
            )
        else:
            st.info(f"Every active account was used within {result.unused_days} days.")
    with who_tab:
        _who_can_form(ctx, actor, at)


def _who_can_form(ctx: AppContext, actor: Actor, at: datetime | None) -> None:
    c1, c2 = st.columns(2)
    action = c1.selectbox("Action", sorted(rbac.ALL_ACTIONS), key="access.who_can_action",
                          index=sorted(rbac.ALL_ACTIONS).index(rbac.Action.RELEASE_APPROVE))
    model = c2.selectbox("Model", [*ctx.models.names, "*"], key="access.who_can_model",
                         help="Ignored for global actions (audit.*, access.manage, system.view).")
    if st.button("Ask", key="access.who_can_ask", icon=":material/person_search:"):
        try:
            st.session_state[WHO_CAN] = access_review.who_can(ctx, actor, action, model, at)
        except Exception as exc:  # refused (audited) or bad input: one line, no traceback
            st.session_state[WHO_CAN] = str(exc) or type(exc).__name__
    answer: Any = st.session_state.get(WHO_CAN)
    if isinstance(answer, str):
        st.error(esc(answer))
    elif answer is not None:
        names = ", ".join(answer.usernames) or "nobody"
        st.markdown(f"Who could **{esc(answer.action)}** on **{esc(answer.model)}** at "
                    f"{esc(when(answer.at))}: **{esc(names)}**")
        if answer.rows:
            _rows_table(answer.rows, "access.who_can_rows")
