"""Access: accounts and role grants; grant and revoke with a reason, each confirmed and audited;
everyone's API tokens, any of which an admin may revoke; and the access review (grants at a
chosen date, expiring soon, unused accounts, who could act then) for auditors and admins. The
governance services it calls (identity, rbac, tokens, access_review) check the permission
(``access.manage``, ``audit.read``) and audit every change and review themselves."""

from datetime import UTC, date, datetime, time

import streamlit as st

from governance import identity, rbac, tokens
from ui import access_review as review_ui
from ui import state
from ui import tokens as token_ui
from ui.auth import actor_for, require_user
from ui.components import ask_confirmation, confirm, esc, show_outcome
from ui.context import get_context
from ui.nav import user_can

ctx = get_context()
user = require_user()
actor = actor_for(user)

st.title("Access")
show_outcome(state.ACCESS_RESULT, state.ACCESS_ERROR, success=lambda message: message)
token_ui.show_outcome()


def _manage() -> None:
    """Accounts, grants (grant / revoke) and everyone's API tokens: for access.manage."""
    try:
        users = identity.list_users(ctx, actor)
        show_inactive = st.toggle("Show expired and revoked grants", key="access.show_inactive")
        grants = rbac.list_grants(ctx, actor, include_inactive=show_inactive)
    except Exception as exc:  # refused (audited by the service) or the database is down
        st.error(f"Cannot read accounts and grants: {esc(exc)}")
        return

    st.subheader("Accounts")
    st.dataframe(
        [
            {"username": u.username, "name": u.display_name, "sign-in": u.auth_source,
             "active": u.is_active, "demo": u.is_demo, "service": u.is_service,
             "locked until": token_ui.when(u.locked_until), "last sign-in": token_ui.when(u.last_sign_in_at)}
            for u in users
        ],
        hide_index=True,
        key="access.users",
    )

    st.subheader("Grants")
    now = datetime.now(UTC)
    st.dataframe(
        [
            {"id": g.id, "user": g.username, "role": g.role, "scope": g.scope, "status": g.status(now),
             "granted by": g.granted_by, "reason": g.reason, "valid from": token_ui.when(g.valid_from),
             "expires": token_ui.when(g.expires_at), "revoked": token_ui.when(g.revoked_at)}
            for g in grants
        ],
        hide_index=True,
        key="access.grants",
    )

    left, right = st.columns(2)
    with left.form("access.grant_form"):
        st.markdown("**Grant a role**")
        grant_user = st.selectbox("User", [u.username for u in users if not u.is_service],
                                  key="access.grant_user")
        grant_role = st.selectbox("Role", list(rbac.ROLES), key="access.grant_role")
        grant_scope = st.selectbox("Scope", ["*", *ctx.models.names], key="access.grant_scope",
                                   help="* = every model and the global pages")
        grant_expiry = st.date_input("Expires (optional)", value=None, min_value=date.today(),
                                     key="access.grant_expiry")
        grant_reason = st.text_input("Reason", key="access.grant_reason",
                                     placeholder="ticket or justification (required)")
        if st.form_submit_button("Grant...", type="primary"):
            ask_confirmation("access.grant")

    with right.form("access.revoke_form"):
        st.markdown("**Revoke a grant**")
        active = [g for g in grants if g.status(now) in ("active", "pending")]
        by_id = {g.id: g for g in active}
        revoke_id = st.selectbox(
            "Grant", list(by_id), key="access.revoke_grant",
            format_func=lambda i: f"#{i} {by_id[i].username}: {by_id[i].role} on {by_id[i].scope}",
        )
        revoke_choice = by_id.get(revoke_id) if revoke_id is not None else None
        revoke_reason = st.text_input("Reason", key="access.revoke_reason",
                                      placeholder="why the grant ends (required)")
        if st.form_submit_button("Revoke...", type="primary"):
            ask_confirmation("access.revoke")

    def _grant() -> str:
        expires = datetime.combine(grant_expiry, time.min, tzinfo=UTC) if grant_expiry else None
        view = rbac.grant(ctx, actor, grant_user, grant_role, grant_scope, reason=grant_reason,
                          expires_at=expires)
        review_ui.forget_reviews()
        return f"Granted {view.role} on {view.scope} to {view.username} (grant #{view.id})."

    def _revoke() -> str:
        if revoke_choice is None:
            raise ValueError("choose a grant to revoke")
        view = rbac.revoke(ctx, actor, revoke_choice.id, reason=revoke_reason)
        review_ui.forget_reviews()
        return f"Revoked grant #{view.id} ({view.role} on {view.scope} for {view.username})."

    expiry_text = f"until {grant_expiry}" if grant_expiry else "with no expiry"
    confirm("access.grant",
            f"Grant **{esc(grant_role)}** on **{esc(grant_scope)}** to **{esc(grant_user)}** "
            f"{esc(expiry_text)}?"
            f"\n\nReason: {esc(grant_reason) or '_(none given)_'}",
            _grant, result_key=state.ACCESS_RESULT, error_key=state.ACCESS_ERROR, confirm_label="Grant")
    if revoke_choice is not None:
        confirm("access.revoke",
                f"Revoke grant **#{revoke_choice.id}** ({esc(revoke_choice.role)} on "
                f"{esc(revoke_choice.scope)} for **{esc(revoke_choice.username)}**)?"
                f"\n\nReason: {esc(revoke_reason) or '_(none given)_'}",
                _revoke, result_key=state.ACCESS_RESULT, error_key=state.ACCESS_ERROR, confirm_label="Revoke")

    st.subheader("API tokens")
    st.caption("Every person's command-line tokens (each person manages their own on the API tokens page). "
               "Revoke a token that may have leaked: commands using it stop working at once.")
    try:
        every_token = tokens.list_tokens(ctx, actor, everyone=True)
    except Exception as exc:  # refused (audited by the service) or the database is down
        st.error(f"Cannot read the API tokens: {esc(exc)}")
    else:
        token_ui.token_table(every_token, owners=True, key="access.tokens")
        token_ui.revoke_form(ctx, actor, every_token, owners=True, key="access.token_revoke")


if user_can(ctx, user.username, "access.manage"):
    _manage()
review_ui.review_section(ctx, actor)
