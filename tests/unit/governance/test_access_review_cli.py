"""`python -m jobs.access review`: the text and CSV a reviewer reads, who-can, and exit codes."""

from __future__ import annotations

import csv
import io

import pytest

from jobs import access as access_cli
from jobs._cli import EXIT_DENIED, EXIT_OK, EXIT_USAGE
from tests.unit.governance.test_governance_cli import _run, env  # noqa: F401  (the fixture)


@pytest.fixture
def people(env, monkeypatch, capsys):  # type: ignore[no-untyped-def]  # noqa: F811
    _run(access_cli, ["bootstrap-admin", "alice", "--password-stdin"], monkeypatch, "alice-pass-1\n")
    for name in ("bob", "aldo"):
        _run(access_cli, ["create-user", "--as", "alice", name, "--password-stdin"], monkeypatch, f"{name}-pass-12\n")
    for argv in (["aldo", "auditor", "--reason", "audit 2026"],
                 ["bob", "reviewer", "--scope", "diabetes", "--reason", "CAB-12",
                  "--valid-from", "2025-01-01T00:00:00Z", "--expires-at", "2025-06-01T00:00:00Z"],
                 ["bob", "viewer", "--reason", "dashboards"]):
        assert _run(access_cli, ["grant", "--as", "alice", *argv], monkeypatch) == EXIT_OK
    capsys.readouterr()


def test_review_at_a_past_date_as_text(people, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _run(access_cli, ["review", "--as", "aldo", "--at", "2025-05-10T00:00:00Z"], monkeypatch) == EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Access review at 2025-05-10T00:00:00Z (1 active grant(s))"
    assert "bob" in out[2] and "reviewer  diabetes" in out[2] and "2025-06-01T00:00:00Z" in out[2]
    assert out[2].endswith("alice: CAB-12")
    assert "Expiring within 30 days of 2025-05-10T00:00:00Z: 1" in out
    assert any(line.startswith("Accounts unused for 90 days") for line in out)


def test_review_now_as_csv_to_a_file(people, monkeypatch, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "review.csv"
    assert _run(access_cli, ["review", "--as", "aldo", "--format", "csv", "--out", str(target)], monkeypatch) == EXIT_OK
    assert f"access review written to {target}" in capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert sorted((r["username"], r["role"], r["scope"]) for r in rows) == [
        ("aldo", "auditor", "*"), ("alice", "admin", "*"), ("bob", "viewer", "*")]  # bob's reviewer grant ended


def test_who_can_approve_at_a_past_date(people, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    argv = ["review", "--as", "aldo", "--who-can", "release.approve", "--model", "diabetes"]
    assert _run(access_cli, [*argv, "--at", "2025-03-01"], monkeypatch) == EXIT_OK
    assert capsys.readouterr().out.splitlines()[0] == \
        "Who could release.approve on diabetes at 2025-03-01T00:00:00Z: bob"
    assert _run(access_cli, [*argv, "--at", "2025-03-01", "--format", "csv"], monkeypatch) == EXIT_OK
    [row] = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert (row["username"], row["role"], row["reason"], row["expiring_soon"]) == ("bob", "reviewer", "CAB-12", "")
    assert _run(access_cli, argv, monkeypatch) == EXIT_OK  # now: only the admin
    assert capsys.readouterr().out.splitlines()[0].endswith(": alice")
    assert _run(access_cli, ["review", "--as", "aldo", "--who-can", "release.approve"], monkeypatch) == EXIT_USAGE
    assert "needs --model" in capsys.readouterr().err


def test_review_refusals_and_bad_input(people, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _run(access_cli, ["review", "--as", "bob"], monkeypatch) == EXIT_DENIED
    err = capsys.readouterr().err
    assert err.startswith("permission denied: bob may not review access") and "Traceback" not in err
    assert _run(access_cli, ["review", "--as", "aldo", "--who-can", "model.fly", "--model", "diabetes"],
                monkeypatch) == EXIT_USAGE
    assert "unknown action 'model.fly'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        _run(access_cli, ["review", "--as", "aldo", "--at", "last tuesday"], monkeypatch)
    assert done.value.code == EXIT_USAGE
    assert "not an ISO-8601 time: 'last tuesday'" in capsys.readouterr().err
