"""Model inventory: the models file's fields validated, review due dates (hand-computed), admin edits
audited with old and new values, refusals audited, the export, MLflow down shown as "unavailable",
and the health webhook's "inventory review overdue" note."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from core.actor import Actor
from core.config import load_models_config
from core.errors import ConfigError, InvalidInput, PermissionDenied
from governance import access, identity, rbac
from governance.inventory import edit, export_inventory, inventory, is_overdue, next_review_due
from governance.inventory_reminders import REMIND_EVERY_DAYS, remind_overdue
from tests.unit.health.test_health_notify_export import _Hook

ADMIN = Actor("root", "ui")
VIEWER = Actor("vera", "ui")
DORA = Actor("dora", "ui")  # viewer of diabetes only
TODAY = date(2026, 12, 1)

_MINIMAL = """models:
  - name: m
    registered_model: m-reg
    logs: logs/m
    features: [{name: x}]
"""


class _DownRegistry:
    """An MLflow registry that does not answer."""

    def list_versions(self, registered_model: str):  # type: ignore[no-untyped-def]
        from core.errors import ServiceUnavailable

        raise ServiceUnavailable("MLflow registry http://127.0.0.1:9: connection refused")


@pytest.fixture
def ictx(ctx):  # type: ignore[no-untyped-def]
    access.bootstrap_admin(ctx, "root", "root-password")
    for name, role, scope in (("vera", "viewer", "*"), ("dora", "viewer", "diabetes"),
                              ("otto", "operator", "*")):
        identity.create_user(ctx, Actor("root", "cli"), name, f"{name}-password")
        rbac.grant(ctx, Actor("root", "cli"), name, role, scope, reason="test")
    return ctx


def _write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(_MINIMAL + "".join(f"    {line}\n" for line in extra.splitlines()), encoding="utf-8")
    return path


# -- the models file ----------------------------------------------------------------------------
def test_older_models_files_load_with_defaults(tmp_path: Path) -> None:
    spec = load_models_config(_write(tmp_path, "")).get("m")
    assert (spec.owner, spec.risk_tier, spec.status, spec.last_review, spec.validation) == \
        ("", None, "production", None, "pending")
    assert spec.review_interval_days == 365


def test_shipped_models_carry_their_inventory(models_config) -> None:  # type: ignore[no-untyped-def]
    cancer, diabetes = models_config.get("breast-cancer"), models_config.get("diabetes")
    assert cancer.risk_tier == "high" and cancer.review_interval_days == 180  # the tier's default
    assert cancer.last_review == date(2026, 10, 15) and cancer.validation == "validated"
    assert diabetes.review_interval_days == 365 and diabetes.last_review == date(2025, 10, 20)
    assert cancer.owner and diabetes.owner and cancer.purpose and diabetes.purpose


@pytest.mark.parametrize(("extra", "message"), [
    ("risk_tier: extreme", r"models\[0\]\.risk_tier: Input should be 'low', 'medium', 'high' or 'critical'"),
    ("status: live", r"models\[0\]\.status: Input should be 'development', 'staging', 'production' or 'retired'"),
    ("last_review: 2026-13-01", r"models\[0\]\.last_review: Input should be a valid date"),
    ("last_review: 2999-01-01", r"models\[0\]\.last_review: Value error, last_review 2999-01-01 is in the future"),
    ("review_every_days: 0", r"models\[0\]\.review_every_days: Input should be greater than or equal to 1"),
    ("validation: ok", r"models\[0\]\.validation: Input should be 'validated', 'pending' or 'expired'"),
])
def test_bad_inventory_fields_stop_start_up_naming_the_key(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_models_config(_write(tmp_path, extra))


# -- review arithmetic (hand-computed) ----------------------------------------------------------
def test_next_review_due_by_hand() -> None:
    # 2026-10-15 + 180 days: 16 days left in October, 30 in November, 31 in December (77),
    # 31 in January (108), 28 in February (136), 31 in March (167): April 13th.
    assert next_review_due(date(2026, 10, 15), 180, "production") == date(2027, 4, 13)
    # 2024-02-29 + 365 days: 2025-02-28 (2025 is not a leap year, so one day short of a calendar year)
    assert next_review_due(date(2024, 2, 29), 365, "staging") == date(2025, 2, 28)
    assert next_review_due(None, 365, "production") is None
    assert next_review_due(date(2026, 1, 1), 90, "retired") is None


def test_overdue_from_the_day_after_the_due_date() -> None:
    assert not is_overdue(date(2025, 12, 1), 365, "production", date(2026, 12, 1))  # due today
    assert is_overdue(date(2025, 12, 1), 365, "production", date(2026, 12, 2))
    assert is_overdue(None, 365, "development", date(2026, 12, 2))  # never reviewed: due now
    assert not is_overdue(date(2020, 1, 1), 30, "retired", date(2026, 12, 2))


# -- the inventory ------------------------------------------------------------------------------
def test_inventory_rows_for_what_the_viewer_may_view(ictx) -> None:  # type: ignore[no-untyped-def]
    rows = inventory(ictx, "vera", today=TODAY, registry=_DownRegistry())
    assert [r.model for r in rows] == ["breast-cancer", "diabetes"]
    cancer, diabetes = rows
    assert cancer.next_review_due == date(2027, 4, 13) and not cancer.overdue
    assert diabetes.next_review_due == date(2026, 10, 20) and diabetes.overdue  # 2025-10-20 + 365
    assert diabetes.review_text == "overdue since 2026-10-20"
    # MLflow down: "unavailable", not a crash
    assert cancer.versions is None and cancer.versions_text == "unavailable"
    assert "connection refused" in (cancer.versions_error or "")
    assert [r.model for r in inventory(ictx, "dora", today=TODAY, registry=_DownRegistry())] == ["diabetes"]
    assert inventory(ictx, "nobody", today=TODAY, with_versions=False) == []


def test_versions_and_champion_from_mlflow(ictx) -> None:  # type: ignore[no-untyped-def]
    from governance.registry import ModelVersionInfo

    class Registry:
        def list_versions(self, registered_model: str) -> list[ModelVersionInfo]:
            at = datetime(2026, 11, 1, tzinfo=UTC)
            if registered_model == "diabetes-gbr":
                from core.errors import NotFound

                raise NotFound("not registered")
            return [ModelVersionInfo("3", None, at), ModelVersionInfo("2", None, at, aliases=("champion",)),
                    ModelVersionInfo("1", None, at)]

    cancer, diabetes = inventory(ictx, "vera", today=TODAY, registry=Registry())
    assert (cancer.versions, cancer.champion) == (3, "2")
    assert (diabetes.versions, diabetes.champion, diabetes.versions_error) == (0, None, None)


# -- editing ------------------------------------------------------------------------------------
def test_admin_edit_wins_over_the_file_and_is_audited_with_old_and_new(ictx) -> None:  # type: ignore[no-untyped-def]
    row = edit(ictx, ADMIN, "diabetes", last_review="2026-11-30", validation="validated",
               owner="Population health analytics (pop-health@example.org)", reason="annual review done")
    assert row.last_review == date(2026, 11, 30) and row.validation == "validated"
    assert row.next_review_due == date(2027, 11, 30) and not row.overdue
    assert row.edited_fields == ("last_review", "validation")  # the owner did not change
    [entry] = ictx.audit.query(action="inventory.edit")
    assert entry.outcome == "success" and entry.resource == "diabetes" and entry.reason == "annual review done"
    assert entry.details["changes"] == {
        "last_review": {"old": "2025-10-20", "new": "2026-11-30"},
        "validation": {"old": "expired", "new": "validated"},
    }
    # the newest edit of a field wins; other fields keep the file's value
    edit(ictx, ADMIN, "diabetes", validation="expired")
    [again] = inventory(ictx, "dora", today=TODAY, with_versions=False)
    assert (again.validation, again.last_review, again.risk_tier) == ("expired", date(2026, 11, 30), "medium")
    assert ictx.audit.query(action="inventory.edit")[-1].details["changes"] == {
        "validation": {"old": "validated", "new": "expired"}}


def test_edit_refused_for_non_admins_and_audited(ictx) -> None:  # type: ignore[no-untyped-def]
    for actor in (VIEWER, Actor("otto", "ui")):
        with pytest.raises(PermissionDenied, match=f"{actor.username} may not inventory.edit on diabetes"):
            edit(ictx, actor, "diabetes", risk_tier="low")
    denied = ictx.audit.query(action="inventory.edit", outcome="denied")
    assert [e.actor for e in denied] == ["vera", "otto"]
    [row] = inventory(ictx, "dora", today=TODAY, with_versions=False)
    assert row.risk_tier == "medium"  # unchanged


@pytest.mark.parametrize(("fields", "message"), [
    ({"risk_tier": "extreme"}, "risk_tier: Input should be 'low', 'medium', 'high' or 'critical'"),
    ({"status": "live"}, "status: Input should be 'development'"),
    ({"last_review": "01/11/2026"}, "last_review: Input should be a valid date"),
    ({"colour": "blue"}, "not an inventory field: colour"),
    ({"risk_tier": "medium"}, "nothing to change"),
])
def test_edit_validates_like_the_file(ictx, fields: dict, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=message):
        edit(ictx, ADMIN, "diabetes", **fields)
    assert ictx.audit.query(action="inventory.edit", outcome="success") == []


# -- export -------------------------------------------------------------------------------------
def test_export_csv_and_yaml_of_visible_models_audited(ictx) -> None:  # type: ignore[no-untyped-def]
    edit(ictx, ADMIN, "diabetes", owner="=HYPERLINK(\"http://evil\")")
    data = export_inventory(ictx, DORA, "csv", today=TODAY, registry=_DownRegistry())
    [record] = list(csv.DictReader(io.StringIO(data.decode())))
    assert record["model"] == "diabetes" and record["next_review_due"] == "2026-10-20"
    assert record["overdue"] == "True" and record["versions"] == "unavailable"
    assert record["owner"].startswith("'=")  # a spreadsheet shows it as text, never runs it
    doc = yaml.safe_load(export_inventory(ictx, VIEWER, "yaml", today=TODAY, registry=_DownRegistry()))
    assert [r["model"] for r in doc["inventory"]] == ["breast-cancer", "diabetes"]
    assert doc["inventory"][0]["next_review_due"] == "2027-04-13" and doc["inventory"][0]["risk_tier"] == "high"
    exports = ictx.audit.query(action="inventory.export")
    assert [(e.actor, e.details["format"], e.details["models"]) for e in exports] == [
        ("dora", "csv", ["diabetes"]), ("vera", "yaml", ["breast-cancer", "diabetes"])]
    with pytest.raises(InvalidInput, match="export format must be one of csv, yaml"):
        export_inventory(ictx, VIEWER, "xlsx")


# -- the health webhook's note ------------------------------------------------------------------
def test_webhook_note_for_an_overdue_review_once_a_week(ictx) -> None:  # type: ignore[no-untyped-def]
    hook = _Hook()
    at = datetime(2026, 12, 1, 8, tzinfo=UTC)
    try:
        assert not remind_overdue(ictx, "breast-cancer", at, url=hook.url).overdue  # due 2027-04-13
        sent = remind_overdue(ictx, "diabetes", at, url=hook.url)
        assert sent.overdue and sent.sent
        [body] = hook.bodies
        assert body["text"] == "[Vigil] diabetes: inventory review overdue since 2026-10-20"
        fields = {f["title"]: f["value"] for f in body["attachments"][0]["fields"]}
        assert fields["Owner"] == "Population health analytics (pop-health@example.org)"
        assert fields["Last review"] == "2025-10-20 (every 365 days)"
        # the next health runs the same week send nothing; a week later it is sent again
        assert not remind_overdue(ictx, "diabetes", datetime(2026, 12, 7, 23, tzinfo=UTC), url=hook.url).sent
        assert remind_overdue(ictx, "diabetes", datetime(2026, 12, 1 + REMIND_EVERY_DAYS, 8, tzinfo=UTC),
                              url=hook.url).sent
        assert len(hook.bodies) == 2
    finally:
        hook.close()


def test_health_run_posts_the_overdue_note(ictx) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from core.context import AppContext
    from monitoring.health.service import run_health_check

    hook = _Hook()
    hctx = AppContext(settings=replace(ictx.settings, webhook_url=hook.url), engine=ictx.engine,
                      models=ictx.models)
    try:
        _, _ = run_health_check(hctx, Actor("otto", "job"), "diabetes", at=datetime(2026, 12, 1, tzinfo=UTC))
        notes = [b for b in hook.bodies if "inventory review overdue" in b["text"]]
        assert [b["text"] for b in notes] == ["[Vigil] diabetes: inventory review overdue since 2026-10-20"]
        [run] = [e for e in hctx.audit.query(action="health.run") if e.outcome == "success"]
    finally:
        hook.close()
    assert run.resource == "diabetes"


def test_no_note_for_a_review_that_is_not_overdue(ictx) -> None:  # type: ignore[no-untyped-def]
    hook = _Hook()
    try:
        edit(ictx, ADMIN, "diabetes", last_review="2026-11-30")
        outcome = remind_overdue(ictx, "diabetes", datetime(2026, 12, 1, tzinfo=UTC), url=hook.url)
    finally:
        hook.close()
    assert (outcome.overdue, outcome.sent, hook.posts) == (False, False, 0)


# -- the command line ---------------------------------------------------------------------------
def test_inventory_cli_list_export_edit(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from jobs import access as access_cli
    from jobs import inventory as cli
    from jobs._cli import EXIT_DENIED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, run_main

    repo = Path(__file__).resolve().parents[3]
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("VIGIL_TOKEN", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # MLflow down: nothing listens there
    monkeypatch.setenv("VIGIL_DEMO", "true")
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIGIL_CONFIG", str(repo / "config" / "models.yaml"))
    monkeypatch.setattr("sys.stdin", io.StringIO("alice-pass-1\n"))
    assert run_main(access_cli.main, ["bootstrap-admin", "alice", "--password-stdin"]) == EXIT_OK
    assert run_main(access_cli.main, ["create-user", "--as", "alice", "vic", "--service"]) == EXIT_OK
    assert run_main(access_cli.main, ["grant", "--as", "alice", "vic", "viewer", "--reason", "t"]) == EXIT_OK
    capsys.readouterr()

    # the shipped diabetes entry is overdue (due 2026-10-20) on any day from now on
    assert run_main(cli.main, ["list", "--as", "vic", "--fail-on-overdue"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "overdue since 2026-10-20" in out and "unavailable" in out  # versions: MLflow does not answer
    assert run_main(cli.main, ["edit", "--as", "vic", "diabetes", "--set", "risk_tier=low"]) == EXIT_DENIED
    assert "vic may not inventory.edit on diabetes" in capsys.readouterr().err
    assert run_main(cli.main, ["edit", "--as", "alice", "diabetes", "--set", "risk_tier=extreme"]) == EXIT_USAGE
    assert "risk_tier: Input should be" in capsys.readouterr().err
    assert run_main(cli.main, ["edit", "--as", "alice", "diabetes", "--set", "last_review 2026-11-30"]) == EXIT_USAGE
    assert "write FIELD=VALUE" in capsys.readouterr().err
    today = datetime.now(UTC).date().isoformat()
    assert run_main(cli.main, ["edit", "--as", "alice", "diabetes", "--set", f"last_review={today}",
                               "--reason", "annual review"]) == EXIT_OK
    assert "diabetes: inventory saved (due " in capsys.readouterr().out
    out_file = tmp_path / "inventory.csv"
    assert run_main(cli.main, ["export", "--as", "vic", "--out", str(out_file)]) == EXIT_OK
    rows = {r["model"]: r for r in csv.DictReader(io.StringIO(out_file.read_text()))}
    assert rows["diabetes"]["last_review"] == today and rows["diabetes"]["overdue"] == "False"
