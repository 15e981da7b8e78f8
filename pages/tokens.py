"""API tokens: a signed-in person creates, lists and revokes their own command-line tokens."""

import streamlit as st

from governance import tokens
from ui import tokens as token_ui
from ui.auth import actor_for, require_user
from ui.components import esc
from ui.context import get_context

ctx = get_context()
user = require_user()
actor = actor_for(user)

st.title("API tokens")
st.caption("A personal API token lets the command line act as you, with your roles and never more: "
           "`export VIGIL_TOKEN=vgl_...` then run `python -m jobs.<name>`. Every command is audited "
           "under your name with the machine's user and host. Tokens expire; revoke one as soon as "
           "it is no longer needed or may have leaked.")
token_ui.show_outcome()
token_ui.show_new_token()

try:
    mine = tokens.list_tokens(ctx, actor)
except Exception as exc:  # the database is down
    st.error(f"Cannot read your API tokens: {esc(exc)}")
    st.stop()

st.subheader("Your tokens")
token_ui.token_table(mine, owners=False, key="tokens.mine")
left, right = st.columns(2)
with left:
    token_ui.create_form(ctx, actor)
with right:
    token_ui.revoke_form(ctx, actor, mine, owners=False, key="tokens.revoke")
