"""The API tokens page (every role) and the Access page's token section (admin), through AppTest."""

from __future__ import annotations

import pytest

from core.actor import Actor
from core.errors import AuthenticationError
from governance import tokens
from tests.app.conftest import new_app, sign_in_as, texts


def _rows(at, column: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """The rows of the token table: the one with ``column`` ("owner" on the Access page)."""
    frame = next(d.value for d in at.dataframe if column in d.value.columns and "starts with" in d.value.columns)
    return frame.to_dict("records")


def test_create_shows_the_token_once_lists_it_and_revoke_ends_it(vigil_env) -> None:  # type: ignore[no-untyped-def]
    at = sign_in_as(new_app(), vigil_env, "vera").run()
    at.switch_page("pages/tokens.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["API tokens"]
    at.button(key="tokens.create").click().run()  # no name: one clear line, no token
    assert not at.code and any("needs a name" in e.value for e in at.error)
    at.text_input(key="tokens.name").input("vera laptop")
    at.number_input(key="tokens.days").set_value(30)
    at.button(key="tokens.create").click().run()
    assert not at.exception
    assert len(at.code) == 1
    token = at.code[0].value
    assert token.startswith("vgl_")
    assert "will not be shown again" in texts(at)
    assert tokens.resolve_token(vigil_env.ctx, token) == "vera"  # the shown token works, as vera

    at.run()  # any later run: the token is gone from the page for good
    assert not at.code and token not in texts(at)
    rows = [r for r in _rows(at, "name") if r["name"] == "vera laptop"]
    assert len(rows) == 1 and rows[0]["status"] == "active" and rows[0]["starts with"] == token[:10]
    assert rows[0]["last used"] != "never"  # resolve_token above counted as a use

    at.selectbox(key="tokens.revoke.choice").set_value(
        next(v.id for v in tokens.list_tokens(vigil_env.ctx, Actor("vera", "ui")) if v.name == "vera laptop"))
    at.button(key="tokens.revoke.submit").click().run()
    assert "Commands using it stop working at once" in texts(at)  # the confirmation dialog
    at.button(key="confirm.ok").click().run()
    assert not at.exception
    assert "Revoked API token vera laptop" in texts(at)
    assert [r["status"] for r in _rows(at, "name") if r["name"] == "vera laptop"] == ["revoked"]
    with pytest.raises(AuthenticationError):
        tokens.resolve_token(vigil_env.ctx, token)


def test_admin_sees_and_revokes_another_persons_token_on_access(vigil_env) -> None:  # type: ignore[no-untyped-def]
    new = tokens.create_token(vigil_env.ctx, Actor("otto", "ui"), "otto ci")
    at = sign_in_as(new_app(), vigil_env, "alice").run()
    at.switch_page("pages/access.py").run()
    assert not at.exception
    rows = [r for r in _rows(at, "owner") if r["name"] == "otto ci"]
    assert rows and rows[0]["owner"] == "otto" and rows[0]["status"] == "active"
    assert new.token not in texts(at) and "token_hash" not in str(_rows(at, "owner"))
    at.selectbox(key="access.token_revoke.choice").set_value(new.view.id)
    at.button(key="access.token_revoke.submit").click().run()
    at.button(key="confirm.ok").click().run()
    assert "Revoked API token otto ci" in texts(at)
    with pytest.raises(AuthenticationError):
        tokens.resolve_token(vigil_env.ctx, new.token)
    entry = vigil_env.ctx.audit.query(action="token.revoke")[-1]
    assert entry.actor == "alice" and entry.resource == "user:otto" and entry.outcome == "success"
