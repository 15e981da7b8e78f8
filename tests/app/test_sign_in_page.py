"""The sign-in page shows one message for every refusal and a plain "unavailable" line when the
identity store fails: never SQL, parameters or exception class names."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from governance.identity import SIGN_IN_FAILED, SIGN_IN_UNAVAILABLE
from tests.app.conftest import PASSWORD, Installation, new_app, texts


def _submit(username: str, password: str):  # type: ignore[no-untyped-def]
    at = new_app().run()
    at.text_input(key="sign_in.username").input(username)
    at.text_input(key="sign_in.password").input(password)
    at.button[0].click()
    return at.run()


def _errors(at) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(e.value).replace("\\", "") for e in at.error]


def test_every_refusal_looks_the_same_and_a_typed_password_is_not_stored(vigil_env: Installation) -> None:
    typed_as_username = "Tr0ub4dor-typed-in-the-wrong-field"
    seen = {_errors(_submit(user, pw))[0] for user, pw in (("vera", "wrong-password"),
                                                         ("no-such-user", PASSWORD),
                                                         (typed_as_username, PASSWORD))}
    assert seen == {SIGN_IN_FAILED.replace("\\", "")}
    stored = vigil_env.ctx.audit.query(action="auth.sign_in", outcome="failed")
    assert not [e for e in stored if typed_as_username in e.actor + e.resource + str(e.details)]
    assert stored[-1].actor == "unknown user"


def test_a_database_failure_shows_unavailable_and_no_sql(vigil_env: Installation,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from governance import identity

    def locked(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT INTO sign_in_sessions (token_hash, username) VALUES (?, ?)",
                               ("abc123", "vera"), sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(identity, "authenticate", locked)
    at = _submit("vera", PASSWORD)
    assert not at.exception
    assert _errors(at) == [SIGN_IN_UNAVAILABLE]
    shown = texts(at)
    for leak in ("OperationalError", "INSERT", "sign_in_sessions", "abc123", "SQL", "locked"):
        assert leak not in shown


def test_right_password_still_signs_in(vigil_env: Installation) -> None:
    at = _submit("vera", PASSWORD)
    assert not at.exception and not at.error
