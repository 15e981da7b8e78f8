"""Vigil dashboard script, served by ``streamlit run asgi_app.py`` (asgi_app.py adds the cookie route).

Builds the shared context, finds out who is signed in, and offers exactly the pages that
user's roles allow (ui/nav.py). Nothing else happens here.
"""

import streamlit as st

st.set_page_config(page_title="Vigil", page_icon=":material/monitor_heart:", layout="wide")

from core.errors import ConfigError  # noqa: E402
from core.redact import install_log_redaction, redact_text  # noqa: E402
from ui.auth import current_user, remember_user, sync_session_cookie  # noqa: E402
from ui.components import sidebar_user  # noqa: E402
from ui.context import get_context  # noqa: E402
from ui.escape import md_text  # noqa: E402
from ui.nav import navigation  # noqa: E402

install_log_redaction()  # core.redact: no secret in the server log

try:
    ctx = get_context()
except ConfigError as exc:
    st.error(f"Vigil cannot start: the configuration is invalid.\n\n{redact_text(str(exc))}",
             icon=":material/error:")
    st.stop()
except Exception as exc:  # database unreachable, migrations failed, ...
    st.error(f"Vigil cannot start: {type(exc).__name__}: {md_text(exc)}", icon=":material/error:")
    st.stop()

try:
    user = current_user(ctx)
except Exception as exc:  # the identity store did not answer
    st.error(f"Sign-in is unavailable: {type(exc).__name__}: {md_text(exc)}", icon=":material/error:")
    st.stop()

remember_user(user)
sync_session_cookie(ctx)
page = navigation(ctx, user)
if user is not None:
    sidebar_user(ctx, user)
page.run()
