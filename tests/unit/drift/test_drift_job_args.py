"""jobs.drift argument parsing and the cron-mode call (the service's run_drift_check replaced by a
stub on the real module; nothing else of the module is faked)."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from jobs import drift as job


@dataclass
class _View:
    drifted_features: list = field(default_factory=list)
    share_drifted: float = 0.0
    max_severity: str = "none"
    status: str = "ok"
    window_end: datetime = datetime(2026, 11, 22, tzinfo=UTC)


@pytest.fixture
def cron(monkeypatch):
    calls = []
    view = _View()

    def run_drift_check(ctx, actor, model, *, window="1d", at=None):
        calls.append((ctx, actor, model, window, at))
        return view

    import monitoring.drift.service as service  # the real module; only its entry point is replaced

    monkeypatch.setattr(service, "run_drift_check", run_drift_check)

    class _Settings:
        job_user = "scheduler"

    class _Models:
        names = ["breast-cancer", "diabetes", "m"]

        def get(self, name):
            from core.errors import NotFound

            if name not in self.names:
                raise NotFound(f"model {name!r} is not configured")
            return types.SimpleNamespace(name=name)

    class _Ctx:
        settings = _Settings()
        models = _Models()

        @classmethod
        def create(cls):
            return cls()

    import core.context
    import monitoring.logs.store

    monkeypatch.setattr(core.context.AppContext, "create", _Ctx.create)
    monkeypatch.setattr(monitoring.logs.store, "latest_timestamp", lambda settings, model: datetime.now(UTC))
    return calls, view


def test_cron_mode_calls_service_as_job_user(cron, capsys):
    calls, _view = cron
    assert job.main(["--model", "breast-cancer", "--window", "6h", "--at", "2026-11-21T12:00:00+00:00"]) == 0
    _ctx, actor, model, window, at = calls[0]
    assert (actor.username, actor.source, model, window) == ("scheduler", "job", "breast-cancer", "6h")
    assert at == datetime(2026, 11, 21, 12, tzinfo=UTC)
    assert "breast-cancer" in capsys.readouterr().out


def test_cron_mode_exit_codes_on_drift(cron):
    _calls, view = cron
    view.drifted_features = ["mean_radius"]
    view.share_drifted = 0.5
    assert job.main(["--model", "m"]) == 0
    assert job.main(["--model", "m", "--fail-on-drift"]) == 3


def test_bare_cron_mode_checks_every_configured_model(cron, capsys):
    """Cron and the scheduler start `python -m jobs.drift` with no --model: every model runs."""
    calls, _view = cron
    assert job.main([]) == 0
    assert [c[2] for c in calls] == ["breast-cancer", "diabetes", "m"]
    assert job.main(["--all"]) == 0
    assert [c[2] for c in calls[3:]] == ["breast-cancer", "diabetes", "m"]
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out[:3]] == ["breast-cancer", "diabetes", "m"]


def test_one_failing_model_does_not_stop_the_others(cron, monkeypatch, capsys):
    from core.errors import ServiceUnavailable

    calls, view = cron
    fake = sys.modules["monitoring.drift.service"]
    healthy = fake.run_drift_check

    def flaky(ctx, actor, model, *, window="1d", at=None):
        if model == "breast-cancer":
            raise ServiceUnavailable("MLflow registry did not answer")
        if model == "diabetes":
            raise RuntimeError("boom")
        view.drifted_features = ["x"]
        return healthy(ctx, actor, model, window=window, at=at)

    monkeypatch.setattr(fake, "run_drift_check", flaky)
    assert job.main(["--fail-on-drift"]) == 1  # worst of 5 (unavailable), 1 (bug), 3 (drift)
    captured = capsys.readouterr()
    assert [c[2] for c in calls] == ["m"]  # the third model still ran after two failures
    assert "breast-cancer: unavailable: MLflow registry did not answer (exit 5)" in captured.err
    assert "diabetes: error: RuntimeError: boom (exit 1)" in captured.err
    assert "Traceback" not in captured.err
    assert captured.out.startswith("m: drift window 1d")


def test_model_with_nothing_ingested_is_no_data_not_a_crash(cron, monkeypatch, capsys):
    import monitoring.logs.store

    calls, _view = cron
    monkeypatch.setattr(monitoring.logs.store, "latest_timestamp",
                        lambda settings, model: None if model == "diabetes" else datetime.now(UTC))
    assert job.main([]) == 0
    assert "diabetes: no data (nothing ingested yet)" in capsys.readouterr().out
    assert "diabetes" not in [c[2] for c in calls]
    assert job.main(["--fail-on-drift"]) == 6  # no data never passes a drift gate: file mode's code


def test_window_without_rows_is_no_data(cron, capsys):
    _calls, view = cron
    view.status = "no_data"
    assert job.main(["--model", "m"]) == 0
    assert "m: no data (no rows in the 1d window" in capsys.readouterr().out
    assert job.main(["--model", "m", "--fail-on-drift"]) == 6


def test_window_with_an_all_missing_feature_fails_the_gate(cron, capsys):
    """A feature with no usable value in the window is a data-quality failure, never 'no drift'."""
    _calls, view = cron
    view.status = "quality_failed"
    view.quality = {"data_quality_failures": ["mean_radius"]}
    assert job.main(["--model", "m"]) == 0
    assert "DATA QUALITY FAILED: no usable values in mean_radius" in capsys.readouterr().out
    assert job.main(["--model", "m", "--fail-on-drift"]) == 3


@pytest.mark.parametrize("argv", [
    ["--reference", "r.csv"], ["--all", "--reference", "r", "--current", "c"],
 ["--model", "m", "--reference", "r", "--current", "c"],
    ["--model", "m", "--at", "yesterday"], ["--model", "m", "--detector", "alibi-ks"],
    ["--reference", "r", "--current", "c", "--bins", "1"],
    ["--reference", "r", "--current", "c", "--alpha", "2"],
])
def test_usage_errors_exit_2(argv, capsys):
    assert job.main(argv) == 2
    assert "error" in capsys.readouterr().err


def test_bad_choices_exit_2():
    with pytest.raises(SystemExit) as exc:
        job.main(["--model", "m", "--window", "2h"])
    assert exc.value.code == 2


def test_alibi_missing_environment_explains_how(monkeypatch, tmp_path, capsys):
    from jobs._cli import run_main

    monkeypatch.setenv("VIGIL_ALIBI_PYTHON", str(tmp_path / "no-python"))
    code = run_main(job.main, ["--reference", "r.csv", "--current", "c.csv", "--detector", "alibi-ks"])
    err = capsys.readouterr().err
    assert code == 5 and "requirements-alibi.txt" in err and "Business Source License" in err


def test_one_default_minimum_effect_everywhere() -> None:
    """The config's default, the engine's and the CLI's agree (a 0.1-SD shift must be catchable)."""
    from core.config import Thresholds
    from jobs.drift import build_parser
    from monitoring.drift.compare import DEFAULT_MIN_EFFECT_KS, DEFAULT_MIN_EFFECT_PSI

    assert Thresholds().min_effect_ks == DEFAULT_MIN_EFFECT_KS == 0.02
    assert Thresholds().min_effect_psi == DEFAULT_MIN_EFFECT_PSI
    args = build_parser().parse_args(["--reference", "r.csv", "--current", "c.csv"])
    assert args.min_effect_ks == DEFAULT_MIN_EFFECT_KS


def test_a_database_error_in_one_model_is_one_line_without_sql(cron, monkeypatch, capsys):
    import sqlite3

    from sqlalchemy.exc import OperationalError

    calls, _view = cron
    fake = sys.modules["monitoring.drift.service"]
    healthy = fake.run_drift_check

    def locked(ctx, actor, model, *, window="1d", at=None):
        if model == "diabetes":
            raise OperationalError("UPDATE job_runs SET status=? WHERE id = ?", ("success", 4),
                                   sqlite3.OperationalError("database is locked"))
        return healthy(ctx, actor, model, window=window, at=at)

    monkeypatch.setattr(fake, "run_drift_check", locked)
    assert job.main([]) == 5
    err = capsys.readouterr().err
    assert "diabetes: unavailable: database error: database is locked (exit 5)" in err
    assert "UPDATE" not in err and "job_runs" not in err
    assert [c[2] for c in calls] == ["breast-cancer", "m"]


def test_warnings_a_model_prints_are_passed_through_not_swallowed(cron, monkeypatch, capsys):
    from core.errors import ServiceUnavailable

    _calls, _view = cron
    fake = sys.modules["monitoring.drift.service"]
    healthy = fake.run_drift_check

    def noisy(ctx, actor, model, *, window="1d", at=None):
        print(f"warning from {model}'s library", file=sys.stderr)
        if model == "diabetes":
            raise ServiceUnavailable("registry down")
        return healthy(ctx, actor, model, window=window, at=at)

    monkeypatch.setattr(fake, "run_drift_check", noisy)
    assert job.main([]) == 5
    err = capsys.readouterr().err.splitlines()
    assert "warning from breast-cancer's library" in err and "warning from diabetes's library" in err
    assert "diabetes: unavailable: registry down (exit 5)" in err
