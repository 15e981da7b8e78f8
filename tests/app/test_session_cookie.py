"""The session cookie is set by the server as HttpOnly (Secure over HTTPS), never by page script."""

from __future__ import annotations

import pytest

from ui import session_cookie


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    return TestClient(Starlette(routes=session_cookie.routes()))


def test_a_one_time_code_sets_an_httponly_strict_cookie_once(client) -> None:  # type: ignore[no-untyped-def]
    code = session_cookie.handoff("tok_" + "a" * 40, 3600)
    response = client.post(session_cookie.ROUTE, json={"code": code})
    assert response.status_code == 204
    header = response.headers["set-cookie"]
    assert header.startswith(f"vigil_session=tok_{'a' * 40};")
    assert "HttpOnly" in header and "SameSite=strict" in header and "Max-Age=3600" in header
    assert "Secure" not in header  # plain HTTP: a Secure cookie would be dropped
    assert client.post(session_cookie.ROUTE, json={"code": code}).status_code == 400  # used up


def test_https_behind_a_proxy_adds_secure_and_sign_out_clears(client) -> None:  # type: ignore[no-untyped-def]
    code = session_cookie.handoff("tok_" + "b" * 40, 60)
    header = client.post(session_cookie.ROUTE, json={"code": code},
                         headers={"X-Forwarded-Proto": "https"}).headers["set-cookie"]
    assert "Secure" in header and "HttpOnly" in header
    cleared = client.post(session_cookie.ROUTE, json={"code": session_cookie.handoff("", 0)})
    assert cleared.headers["set-cookie"].startswith('vigil_session="";') and "Max-Age=0" in cleared.headers["set-cookie"]


def test_unknown_or_expired_codes_set_nothing(client) -> None:  # type: ignore[no-untyped-def]
    assert client.post(session_cookie.ROUTE, json={"code": "guess"}).status_code == 400
    assert "set-cookie" not in client.post(session_cookie.ROUTE, content=b"not json").headers
    old = session_cookie.handoff("tok_" + "c" * 40, 60, now=0.0)
    assert session_cookie.redeem(old, now=session_cookie.CODE_TTL_S + 1) is None


def test_the_page_script_carries_the_code_not_the_token() -> None:
    token = "tok_" + "d" * 40
    code = session_cookie.handoff(token, 60)
    script = session_cookie.script(code)
    assert code in script and token not in script and "document.cookie" not in script
