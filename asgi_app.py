"""Serve the Vigil dashboard: ``streamlit run asgi_app.py`` (or ``uvicorn asgi_app:app``).

Streamlit's supported ASGI entry point (``st.App``) runs ``app.py`` as usual and adds the one
route the dashboard needs beside it: ``POST /auth/session``, which sets the session cookie as
``HttpOnly`` (``Secure`` over HTTPS) from the server, so no script in the page can read it
(ui/session_cookie.py).
"""

from pathlib import Path

import streamlit as st

from ui import session_cookie

session_cookie.ENABLED = True
app = st.App(Path(__file__).resolve().parent / "app.py", routes=session_cookie.routes())
