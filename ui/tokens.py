"""The personal API token widgets: create (the token shown once), list, revoke with a confirmation.

Used by pages/tokens.py (every signed-in person, their own tokens) and pages/access.py (an
admin: everyone's tokens). Every write is one call to governance.tokens, which checks the
permission and writes the audit entry itself.
"""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from core.actor import Actor
from core.context import AppContext
from core.timeutil import utcnow
from governance import tokens
from ui import components, state
from ui.components import ask_confirmation, confirm, esc

NEW_TOKEN, RESULT, ERROR = state.TOKENS_NEW, state.TOKENS_RESULT, state.TOKENS_ERROR


def when(moment: datetime | None) -> str:
    """A stored moment as the token and access tables show it (empty when there is none)."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def show_new_token() -> None:
    """The token created in the previous run, once: it is removed from the session as it is shown."""
    created = st.session_state.pop(NEW_TOKEN, None)
    if not created:
        return
    name, token = created
    st.success(f"API token **{esc(name)}** created. Copy it now (the copy icon is at the right of "
               "the box):", icon=":material/key:")
    st.code(token, language=None)
    st.warning("This token will not be shown again: Vigil keeps only its hash. Store it like a "
               "password, e.g. `export VIGIL_TOKEN=...` in the shell that runs `python -m jobs.<name>`. "
               "Lost it? Revoke it and create a new one.", icon=":material/warning:")


def show_outcome() -> None:
    """The result of the last token write (ui.components.show_outcome), then forgotten."""
    components.show_outcome(RESULT, ERROR, success=lambda message: message)


def create_form(ctx: AppContext, actor: Actor) -> None:
    """Name and lifetime of a new token of ``actor`` themselves."""
    longest = tokens.max_ttl_days()
    with st.form("tokens.create_form", clear_on_submit=True):
        st.markdown("**Create a token**")
        name = st.text_input("Name", key="tokens.name", max_chars=tokens.MAX_NAME_LENGTH,
                             placeholder="where it is used, e.g. laptop CLI")
        days = st.number_input("Expires after (days)", min_value=1, max_value=longest,
                               value=min(tokens.DEFAULT_TTL_DAYS, longest), step=1, key="tokens.days")
        if st.form_submit_button("Create token", type="primary", key="tokens.create"):
            try:
                new = tokens.create_token(ctx, actor, name, expires_in_days=int(days))
            except Exception as exc:  # refused (audited by the service) or bad input
                st.session_state[ERROR] = str(exc) or type(exc).__name__
            else:
                st.session_state[NEW_TOKEN] = (new.view.name, new.token)
            st.rerun()


def token_table(views: list[tokens.TokenView], *, owners: bool, key: str) -> None:
    if not views:
        st.caption("No API tokens yet.")
        return
    now = utcnow()
    rows = []
    for v in views:
        row = {"name": v.name, "starts with": v.prefix, "created": when(v.created_at),
               "expires": when(v.expires_at), "last used": when(v.last_used_at) or "never",
               "status": v.status(now)}
        if owners:
            row = {"owner": v.username, **row, "revoked by": v.revoked_by or ""}
        rows.append(row)
    st.dataframe(rows, hide_index=True, key=key)


def revoke_form(ctx: AppContext, actor: Actor, views: list[tokens.TokenView], *, owners: bool,
                key: str) -> None:
    """Pick an active token and revoke it after a confirmation dialog."""
    now = utcnow()
    active = {v.id: v for v in views if v.status(now) == "active"}
    if not active:
        return

    def label(token_id: int) -> str:
        v = active[token_id]
        return f"{v.username}: {v.name} ({v.prefix}...)" if owners else f"{v.name} ({v.prefix}...)"

    with st.form(f"{key}.form"):
        st.markdown("**Revoke a token**")
        chosen = st.selectbox("Token", list(active), format_func=label, key=f"{key}.choice")
        if st.form_submit_button("Revoke...", type="primary", key=f"{key}.submit"):
            ask_confirmation(key)
    found = active.get(chosen) if chosen is not None else None
    if found is None:
        return
    choice: tokens.TokenView = found

    def _revoke() -> str:
        view = tokens.revoke_token(ctx, actor, choice.id)
        return f"Revoked API token {view.name} ({view.prefix}...) of {view.username}."

    confirm(key, f"Revoke the API token **{esc(choice.name)}** ({esc(choice.prefix)}...) of "
                 f"**{esc(choice.username)}**? Commands using it stop working at once.",
            _revoke, result_key=RESULT, error_key=ERROR, confirm_label="Revoke")
