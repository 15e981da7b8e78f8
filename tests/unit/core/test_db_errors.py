"""Database errors reach people as one clear line: the CLI's exit 5 for a leftover driver
error, the password hidden in every message, bounded retries on a busy database, and timeout
settings that are checked like every other setting."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from core.db import retry_busy, translate_db_error
from core.errors import ConfigError, ServiceUnavailable
from core.settings import Settings
from jobs._cli import EXIT_UNAVAILABLE, run_main


def _locked(code: int = 5) -> OperationalError:
    orig = sqlite3.OperationalError("database is locked")
    orig.sqlite_errorcode = code  # type: ignore[attr-defined]
    return OperationalError("UPDATE job_runs SET status=? WHERE job_runs.id = ?", ("failed", 7), orig)


def test_a_leftover_database_error_is_exit_5_with_one_line_and_no_sql(
        capsys: pytest.CaptureFixture[str]) -> None:
    def main(argv: object) -> int:
        raise _locked()

    assert run_main(main, []) == EXIT_UNAVAILABLE
    err = capsys.readouterr().err
    assert err.splitlines() == ["unavailable: database error: database is locked"]


def test_messages_hide_the_password_of_the_url() -> None:
    url = "postgresql+psycopg://vigil:hunter2-secret@db.example:5432/vigil"
    refused = OperationalError("SELECT 1", {},
                               Exception('connection failed: FATAL:  role "vigil" does not exist'))
    config = translate_db_error(refused, url)
    assert isinstance(config, ConfigError)
    assert "hunter2-secret" not in str(config) and "vigil:***@db.example" in str(config)
    down = translate_db_error(OperationalError("SELECT 1", {}, Exception("Connection refused")), url)
    assert isinstance(down, ServiceUnavailable) and "hunter2-secret" not in str(down)
    assert "\n" not in str(config) + str(down) and "SELECT" not in str(config) + str(down)


def test_retry_busy_repeats_a_fast_busy_failure_then_succeeds() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _locked(517)  # SQLITE_BUSY_SNAPSHOT: answered at once, worth another try
        return "done"

    assert retry_busy(flaky) == "done"
    assert len(calls) == 3


def test_retry_busy_is_bounded_and_does_not_retry_other_errors() -> None:
    calls = []

    def always_busy() -> None:
        calls.append(1)
        raise _locked()

    with pytest.raises(OperationalError):
        retry_busy(always_busy, attempts=4)
    assert len(calls) == 4

    calls.clear()

    def broken() -> None:
        calls.append(1)
        raise ValueError("not a database problem")

    with pytest.raises(ValueError):
        retry_busy(broken)
    assert len(calls) == 1


@pytest.mark.parametrize("key, value", [("VIGIL_DB_BUSY_TIMEOUT_SECONDS", "soon"),
                                        ("VIGIL_DB_CONNECT_TIMEOUT_SECONDS", "0"),
                                        ("VIGIL_DB_STATEMENT_TIMEOUT_SECONDS", "-1")])
def test_bad_timeout_settings_name_the_variable(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        Settings.from_env({key: value})


def test_timeout_settings_default_to_bounded_waits() -> None:
    s = Settings.from_env({})
    assert (s.db_connect_timeout_seconds, s.db_statement_timeout_seconds, s.db_busy_timeout_seconds) \
        == (10, 300, 30)


def test_unwritable_data_dir_is_a_config_error_naming_the_variable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="VIGIL_DATA_DIR"):
        Settings.from_env({"VIGIL_DATA_DIR": str(blocker / "data")}).ensure_dirs()
