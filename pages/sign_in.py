"""Sign-in page: the only page anybody sees before signing in."""

import streamlit as st

from core.errors import AuthenticationError
from governance.identity import SIGN_IN_FAILED, SIGN_IN_UNAVAILABLE
from ui import state
from ui.auth import ensure_app_gate, proxy_username, sign_in
from ui.components import esc
from ui.context import get_context

ensure_app_gate()
ctx = get_context()
settings = ctx.settings

st.title("Vigil")
st.caption("Monitoring and governance for production ML models")

if state.AUTH_NOTICE in st.session_state:
    st.info(esc(st.session_state.pop(state.AUTH_NOTICE)))

if settings.auth_mode == "oidc":
    st.write("Sign in with your organisation's identity provider.")
    if st.button("Sign in with single sign-on", type="primary", icon=":material/login:"):
        if settings.oidc_provider:
            st.login(settings.oidc_provider)
        else:
            st.login()
elif settings.auth_mode == "proxy":
    st.error(f"The reverse proxy did not identify you (no {esc(settings.proxy_user_header)} "
             "header). Open Vigil through your organisation's sign-in proxy.")
    if proxy_username(settings.proxy_user_header):
        st.rerun()
else:
    with st.form("sign_in.form", border=True):
        username = st.text_input("Username", key="sign_in.username", autocomplete="username")
        password = st.text_input("Password", type="password", key="sign_in.password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            sign_in(ctx, username.strip(), password)
        except AuthenticationError:  # one message for every refusal: no oracle
            st.session_state[state.SIGN_IN_ERROR] = SIGN_IN_FAILED
        except Exception:  # the identity store is down (logged by sign_in): never SQL on screen
            st.session_state[state.SIGN_IN_ERROR] = SIGN_IN_UNAVAILABLE
        else:
            st.session_state.pop(state.SIGN_IN_ERROR, None)
            st.rerun()
    if state.SIGN_IN_ERROR in st.session_state:
        st.error(esc(st.session_state[state.SIGN_IN_ERROR]), icon=":material/block:")

    if settings.demo_mode:
        from governance.access import demo_accounts

        accounts = ", ".join(f"`{a.username}` / `{a.password}`" for a in demo_accounts())
        st.info(
            f"**Demo mode.** Sign in as one of the demo users (username / password): {accounts}. "
            "`python -m jobs.demo` prints them too. Demo accounts work only while VIGIL_DEMO is on; "
            "never enable it in production.",
            icon=":material/science:",
        )
