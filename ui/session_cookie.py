"""The session cookie, set by the server as ``HttpOnly`` (and ``Secure`` over HTTPS).

A Streamlit script talks to the browser over a websocket and cannot send a ``Set-Cookie``
header itself; writing the cookie from JavaScript would leave it readable by any script in
the page. So the dashboard is served through ``asgi_app.py`` (Streamlit's supported
``st.App`` ASGI entry point, ``streamlit run asgi_app.py``), which adds one route,
``POST /auth/session``:

1. after sign-in (or sign-out) the script calls :func:`handoff` with the session token (or
   ``""`` to clear the cookie) and gets a one-time code: random, usable once, valid for
   :data:`CODE_TTL_S` seconds, kept in this process's memory;
2. the page posts that code to ``/auth/session`` (``fetch``, same origin);
3. the route swaps the code for the token and answers with ``Set-Cookie: vigil_session=...;
   HttpOnly; SameSite=Strict; Path=/; Max-Age=...`` plus ``Secure`` when the request came over
   HTTPS (directly or, per ``X-Forwarded-Proto``, through a TLS-terminating proxy).

The token itself never reaches JavaScript; the browser sends the cookie with the websocket
handshake, where ``st.context.cookies`` reads it (ui.auth). :data:`ENABLED` is switched on by
``asgi_app.py``; served by a plain ``streamlit run app.py`` no cookie is written at all (a
reload then asks to sign in again) rather than one that scripts could read.

Codes live in process memory: with several dashboard replicas behind a load balancer, the
balancer must keep a browser on one replica (it must already, for Streamlit's websocket).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any

SESSION_COOKIE = "vigil_session"
ROUTE = "/auth/session"
CODE_TTL_S = 60.0
ENABLED = False  # set by asgi_app.py, which serves ROUTE

log = logging.getLogger("vigil.ui.cookie")
_lock = threading.Lock()
_pending: dict[str, tuple[str, int, float]] = {}  # code -> (token or "", max_age, expires_at)


def handoff(token: str, max_age: int, *, now: float | None = None) -> str:
    """Remember ``token`` (``""``: clear the cookie) under a new one-time code and return it."""
    now = time.monotonic() if now is None else now
    code = secrets.token_urlsafe(32)
    with _lock:
        for stale in [c for c, (_, _, expires) in _pending.items() if expires < now]:
            del _pending[stale]
        _pending[code] = (token, max(int(max_age), 0) if token else 0, now + CODE_TTL_S)
    return code


def redeem(code: str, *, now: float | None = None) -> tuple[str, int] | None:
    """The (token, max_age) stored under ``code``, once; None for an unknown, used or expired code."""
    now = time.monotonic() if now is None else now
    with _lock:
        entry = _pending.pop(code, None)
    if entry is None or entry[2] < now:
        return None
    return entry[0], entry[1]


def _is_https(request: Any) -> bool:
    forwarded = (request.headers.get("x-forwarded-proto") or "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


async def session_route(request: Any) -> Any:
    """``POST /auth/session`` with JSON ``{"code": ...}``: set or clear the HttpOnly cookie."""
    from starlette.responses import Response

    try:
        body = await request.json()
    except Exception:  # not JSON
        body = None
    code = body.get("code") if isinstance(body, dict) else None
    found = redeem(code) if isinstance(code, str) else None
    if found is None:
        return Response(status_code=400, headers={"Cache-Control": "no-store"})
    token, max_age = found
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, path="/", httponly=True,
                        secure=_is_https(request), samesite="strict")
    return response


def routes() -> list[Any]:
    """The Starlette routes asgi_app.py adds to the Streamlit app."""
    from starlette.routing import Route

    return [Route(ROUTE, session_route, methods=["POST"])]


def script(code: str) -> str:
    """The page-side half: post the one-time code to the route (same origin, no token inside)."""
    return ("<script>fetch('" + ROUTE + "', {method: 'POST', credentials: 'same-origin', "
            "headers: {'Content-Type': 'application/json'}, body: JSON.stringify({code: '" + code + "'})"
            "});</script>")
