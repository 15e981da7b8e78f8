"""Small building blocks shared by the pages: escaping, degraded notices, the user box in the
sidebar and the confirmation dialog every write goes through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core.context import AppContext
from ui import state
from ui.auth import CurrentUser, sign_out
from ui.escape import md_text


def esc(text: object) -> str:
    """Escape text (user input, names from a database or an IdP, log values, error messages)
    for st.markdown: ui.escape.md_text (secrets masked, no markup, no auto-links)."""
    return md_text(text)


def degraded(what: str, error: object) -> None:
    """A dependency did not answer: say so, keep the rest of the page."""
    st.warning(f"{what} is degraded: {esc(error)}", icon=":material/warning:")


def sidebar_user(ctx: AppContext, user: CurrentUser) -> None:
    with st.sidebar:
        st.markdown(f"**{esc(user.display_name)}**")
        if user.display_name != user.username:
            st.caption(esc(user.username))
        st.caption(f"Roles: {esc(user.roles_text())}")
        if user.via != "proxy":  # behind a trusted proxy, signing out is the proxy's business
            if st.button("Sign out", key="auth.sign_out", icon=":material/logout:"):
                sign_out(ctx)
                st.rerun()


def ask_confirmation(name: str) -> None:
    """Open the confirmation dialog for the write called ``name`` (see :func:`confirm`)."""
    st.session_state[state.CONFIRM_PENDING] = name


def _dismiss() -> None:
    st.session_state.pop(state.CONFIRM_PENDING, None)


@st.dialog("Please confirm", on_dismiss=_dismiss)
def _confirm_dialog(summary: str, action: Callable[[], Any], result_key: str, error_key: str,
                    confirm_label: str) -> None:
    st.markdown(summary)
    left, right = st.columns(2)
    if left.button(confirm_label, type="primary", key="confirm.ok"):
        _dismiss()
        st.session_state.pop(error_key, None)
        st.session_state.pop(result_key, None)
        try:
            st.session_state[result_key] = action()
        except Exception as exc:  # the service refused or failed: show why, never a traceback
            st.session_state[error_key] = str(exc) or type(exc).__name__
        st.rerun()
    if right.button("Cancel", key="confirm.cancel"):
        _dismiss()
        st.rerun()


def confirm(name: str, summary: str, action: Callable[[], Any], *, result_key: str,
            error_key: str, confirm_label: str = "Confirm") -> None:
    """Show the dialog while the write ``name`` waits; on confirm run ``action`` once.

    ``summary`` is markdown the caller has escaped. The action's return value lands in
    ``st.session_state[result_key]``, its error message in ``st.session_state[error_key]``.
    """
    if st.session_state.get(state.CONFIRM_PENDING) == name:
        _confirm_dialog(summary, action, result_key, error_key, confirm_label)


def show_outcome(result_key: str, error_key: str, *, success: Callable[[Any], str],
                 keep_result: bool = False) -> None:
    """Show the result of the last confirmed write, then forget it (unless ``keep_result``)."""
    if error_key in st.session_state:
        st.error(esc(st.session_state.pop(error_key)), icon=":material/block:")
    if result_key in st.session_state:
        result = st.session_state[result_key] if keep_result else st.session_state.pop(result_key)
        st.success(esc(success(result)), icon=":material/check_circle:")


def drift_that_matters_section(ctx: Any, model: str, username: str, *, key: str) -> None:
    """The drifted features ranked by how much they move predictions (Drift and Explanations pages)."""
    from ui import explain_charts, explain_loaders

    st.subheader("Drift that matters")
    matters = explain_loaders.drift_that_matters(ctx, model, username)
    if matters.error:
        degraded("Drift that matters", matters.error)
    elif matters.value is None:
        st.caption("Needs a drift check and a SHAP report of this model.")
    else:
        st.caption(
            "Each feature's drift severity (PSI) weighted by its share of the model's importance: "
            "drifted features that move predictions come first."
        )
        st.dataframe(explain_charts.drift_that_matters_frame(matters.value.result), hide_index=True, key=key)
