"""Who is using the dashboard: the one ``current_user()`` every page and app.py go through.

Three modes (``VIGIL_AUTH_MODE``):

- ``local`` (default): the sign-in page calls :func:`sign_in`, which stores the session token
  from ``governance.identity.authenticate`` in ``st.session_state``. Every rerun validates that
  token against the database (``resolve_session``), so an expired or revoked session signs the
  user out at once. Tests sign in any role the same way: they put a real token there. The
  token also goes into a cookie (``SESSION_COOKIE``, HttpOnly, SameSite=Strict, Secure over
  HTTPS, as long-lived as the session; set by the server, see ui.session_cookie) so that
  reloading the page or a reconnecting browser finds the session again; the cookie is only a
  carrier, validated like the token, and signing out revokes the session and clears it.
- ``oidc``: Streamlit's native ``st.login`` (provider ``VIGIL_OIDC_PROVIDER`` from
  ``.streamlit/secrets.toml [auth]``); the identity provider's e-mail address is the username,
  recorded once per browser session through ``governance.identity.external_sign_in``.
- ``proxy`` (only when explicitly enabled): a trusted reverse proxy authenticates and passes
  the username in ``VIGIL_PROXY_USER_HEADER``. Never enable it unless the proxy strips that
  header from client requests.

In every mode the username only identifies; what the user may do comes from the grants
(governance.rbac), checked by each service.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from core.actor import Actor
from core.context import AppContext
from core.errors import AuthenticationError, ServiceUnavailable, VigilError
from ui import session_cookie, state
from ui.context import get_context

_log = logging.getLogger("vigil.ui.auth")


def _log_outage(exc: Exception) -> None:
    """The server log gets what failed (a project error's own line, else only the class)."""
    _log.error("sign-in is unavailable: %s", exc if isinstance(exc, VigilError) else type(exc).__name__)


@dataclass(frozen=True)
class CurrentUser:
    username: str
    display_name: str
    roles: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (role, scope)
    via: str = "local"  # local | oidc | proxy

    def roles_text(self) -> str:
        if not self.roles:
            return "no roles granted"
        return ", ".join(role if scope == "*" else f"{role} ({scope})" for role, scope in self.roles)


def client_addr() -> str | None:
    """The browser's address as Streamlit sees it (None on localhost)."""
    try:
        addr = st.context.ip_address
    except Exception:  # not in a browser session (bare script)
        return None
    return addr if isinstance(addr, str) else None  # AppTest hands back a mock


def actor_for(user: CurrentUser) -> Actor:
    """The Actor that services and the audit log record for this dashboard user."""
    return Actor(user.username, "ui", client_addr())


def _roles(ctx: AppContext, username: str) -> tuple[tuple[str, str], ...]:
    from governance import rbac

    return tuple((str(role), str(scope)) for role, scope in rbac.roles_of(ctx, username))


def _display_name(ctx: AppContext, username: str) -> str:
    from governance import identity

    account = identity.get_user(ctx, username)
    return (account.display_name if account is not None else "") or username


def _user(ctx: AppContext, username: str, via: str, display_name: str = "") -> CurrentUser:
    return CurrentUser(username=username, display_name=display_name or _display_name(ctx, username),
                       roles=_roles(ctx, username), via=via)


SESSION_COOKIE = session_cookie.SESSION_COOKIE
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,200}")  # secrets.token_urlsafe, nothing to escape


def _cookie_token() -> str | None:
    """The session token from this browser's cookie, if it has a well-formed one not yet refused."""
    try:
        value = st.context.cookies.get(SESSION_COOKIE)
    except Exception:  # no browser connection (bare runs)
        return None
    if not isinstance(value, str) or not _TOKEN_RE.fullmatch(value) \
            or value == st.session_state.get(state.AUTH_COOKIE_STALE):
        return None
    return value


def _local_user(ctx: AppContext) -> CurrentUser | None:
    from governance import identity

    token = st.session_state.get(state.AUTH_TOKEN)
    from_cookie = not token
    if from_cookie:
        token = _cookie_token()
        if not token:
            return None
    username = identity.resolve_session(ctx, token)
    if username is None:
        st.session_state.pop(state.AUTH_TOKEN, None)
        _forget_cookie(token)
        st.session_state[state.AUTH_NOTICE] = "Your session has ended. Please sign in again."
        return None
    if from_cookie:
        st.session_state[state.AUTH_TOKEN] = token
    return _user(ctx, username, "local")


def _forget_cookie(token: str) -> None:
    """Clear the session cookie; the browser keeps sending the one it connected with, so this
    browser session never tries that token again either."""
    st.session_state[state.AUTH_COOKIE_STALE] = token
    st.session_state[state.AUTH_COOKIE_WRITE] = ""


def sync_session_cookie(ctx: AppContext) -> None:
    """Have the server set (or clear) the session cookie that sign-in or sign-out left pending
    (app.py, once per run). The cookie is HttpOnly: ui.session_cookie explains the hand-off."""
    pending = st.session_state.pop(state.AUTH_COOKIE_WRITE, None)
    if pending is None or ctx.settings.auth_mode != "local":
        return
    if not session_cookie.ENABLED:
        _warn_no_cookie_route()
        return
    if pending and _TOKEN_RE.fullmatch(pending):
        value, max_age = pending, ctx.settings.session_ttl_minutes * 60
    else:
        value, max_age = "", 0
    st.html(session_cookie.script(session_cookie.handoff(value, max_age)), unsafe_allow_javascript=True)


@st.cache_resource(show_spinner=False)
def _warn_no_cookie_route() -> bool:
    _log.warning(
        "served without asgi_app.py: no HttpOnly session cookie, so a reload asks to sign in again "
        "(start the dashboard with `streamlit run asgi_app.py`)")
    return True


def _external_user(ctx: AppContext, username: str, via: str, display_name: str) -> CurrentUser | None:
    """Record the external sign-in once per browser session, then re-check on every rerun."""
    from governance import identity

    if st.session_state.get(state.AUTH_EXTERNAL_REFUSED) == username:
        return None  # refused once in this browser session (audited then): do not retry every rerun
    if st.session_state.get(state.AUTH_EXTERNAL_USER) != username:
        st.session_state.pop(state.AUTH_EXTERNAL_TOKEN, None)
        try:
            result: Any = identity.external_sign_in(ctx, username, via=via, client_addr=client_addr(),
                                                   display_name=display_name)
        except AuthenticationError:  # disabled, service or demo account
            st.session_state[state.AUTH_EXTERNAL_REFUSED] = username
            st.session_state[state.AUTH_NOTICE] = identity.SIGN_IN_FAILED
            return None
        except Exception as exc:  # the identity store is down: a plain line, the cause in the log
            _log_outage(exc)
            st.session_state[state.AUTH_NOTICE] = identity.SIGN_IN_UNAVAILABLE
            return None
        st.session_state[state.AUTH_EXTERNAL_USER] = username
        token = getattr(result, "token", None)
        if token:
            st.session_state[state.AUTH_EXTERNAL_TOKEN] = token
    token = st.session_state.get(state.AUTH_EXTERNAL_TOKEN)
    if token and identity.resolve_session(ctx, token) is None:
        # The session was revoked or expired (e.g. the account was disabled): sign in again,
        # which external_sign_in refuses for a disabled account.
        st.session_state.pop(state.AUTH_EXTERNAL_USER, None)
        st.session_state.pop(state.AUTH_EXTERNAL_TOKEN, None)
        return None
    return _user(ctx, username, via, display_name)


def _oidc_user(ctx: AppContext) -> CurrentUser | None:
    info = st.user.to_dict()
    if not info.get("is_logged_in"):
        return None
    username = str(info.get("email") or info.get("preferred_username") or info.get("sub") or "")
    if not username:
        return None
    return _external_user(ctx, username, "oidc", str(info.get("name") or ""))


def proxy_username(header: str) -> str | None:
    try:
        value = st.context.headers.get(header)
    except Exception:
        return None
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _proxy_user(ctx: AppContext) -> CurrentUser | None:
    username = proxy_username(ctx.settings.proxy_user_header)
    if username is None:
        return None
    return _external_user(ctx, username, "proxy", "")


def current_user(ctx: AppContext | None = None) -> CurrentUser | None:
    """The signed-in user of this browser session, validated against the database, or None."""
    ctx = ctx or get_context()
    mode = ctx.settings.auth_mode
    if mode == "oidc":
        return _oidc_user(ctx)
    if mode == "proxy":
        return _proxy_user(ctx)
    return _local_user(ctx)


def remember_user(user: CurrentUser | None) -> None:
    """app.py records the user it resolved for this run, so pages need not ask the database again."""
    if user is None:
        st.session_state.pop(state.AUTH_CURRENT, None)
    else:
        st.session_state[state.AUTH_CURRENT] = user


def ensure_app_gate() -> None:
    """Make sure this run went through app.py (sign-in gate and per-role navigation).

    Streamlit keeps a relic of its first multipage design: while no run of this server process
    has called ``st.navigation`` yet, a request for ``/<page>`` runs ``pages/<page>.py``
    directly, without app.py. Every page calls this first; in that case it switches the relic
    off (as app.py's own ``st.navigation`` call would) and reruns through app.py.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the relic
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


def require_user() -> CurrentUser:
    """The user app.py resolved for this run; stops the page if nobody is signed in."""
    ensure_app_gate()
    user = st.session_state.get(state.AUTH_CURRENT)
    if not isinstance(user, CurrentUser):
        st.warning("Please sign in.")
        st.stop()
    return user


def sign_in(ctx: AppContext, username: str, password: str) -> None:
    """Local mode: check the password and keep the session token.

    Raises AuthenticationError (show ``identity.SIGN_IN_FAILED``) or ServiceUnavailable (show
    ``identity.SIGN_IN_UNAVAILABLE``); the cause of an outage goes to the server log only.
    """
    from governance import identity

    try:
        signed_in = identity.authenticate(ctx, username, password, client_addr=client_addr())
    except AuthenticationError:
        raise
    except Exception as exc:
        _log_outage(exc)
        raise ServiceUnavailable(identity.SIGN_IN_UNAVAILABLE) from None
    st.session_state[state.AUTH_TOKEN] = signed_in.token
    st.session_state[state.AUTH_COOKIE_WRITE] = signed_in.token
    st.session_state.pop(state.AUTH_NOTICE, None)


def sign_out(ctx: AppContext) -> None:
    """End the session in the database (local/oidc), forget it here, and leave the IdP session."""
    from governance import identity

    local_token = st.session_state.get(state.AUTH_TOKEN)
    if local_token:
        _forget_cookie(local_token)
    for key in (state.AUTH_TOKEN, state.AUTH_EXTERNAL_TOKEN):
        token = st.session_state.pop(key, None)
        if token:
            try:
                identity.sign_out(ctx, token)
            except Exception:  # the session is gone from this browser either way
                pass
    st.session_state.pop(state.AUTH_EXTERNAL_USER, None)
    st.session_state.pop(state.AUTH_CURRENT, None)
    if ctx.settings.auth_mode == "oidc":
        st.logout()
