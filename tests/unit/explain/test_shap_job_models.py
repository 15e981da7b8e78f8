"""jobs.shap as cron starts it (no --model): every configured model's champion, one line each;
a model without a champion yet is "no data", not an exit 2 (registry and service are fakes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from core.errors import NotFound, ServiceUnavailable
from jobs import shap as shap_job

REPO = Path(__file__).resolve().parents[3]


@dataclass
class _Version:
    version: str


class _Registry:
    def __init__(self, champions: dict[str, object]) -> None:
        self.champions = champions

    def champion(self, registered_model: str):  # type: ignore[no-untyped-def]
        found = self.champions[registered_model]
        if isinstance(found, Exception):
            raise found
        return found


@dataclass
class _View:
    version: str
    id: int = 7
    explainer: str = "tree"
    device: str = "cpu"
    explained_rows: int = 10
    runtime_s: float = 0.1
    additivity_ok: bool = True
    json_sha256: str = "x"
    sample_source: str = "logs"

    def top_features(self, n: int) -> list[str]:
        return ["bmi"][:n]


@pytest.fixture
def job_env(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIGIL_CONFIG", str(REPO / "config" / "models.yaml"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    from monitoring.explain import service

    explained: list[tuple[str, str | None]] = []

    def run_shap_report(ctx, actor, model, *, version=None, **_kw):  # type: ignore[no-untyped-def]
        explained.append((model, version))
        return _View(version=str(version))

    monkeypatch.setattr(service, "run_shap_report", run_shap_report)

    def use(champions: dict[str, object]) -> list[tuple[str, str | None]]:
        monkeypatch.setattr(service, "registry_for", lambda ctx, registry=None: _Registry(champions))
        return explained

    return use


def test_bare_job_explains_every_models_champion(job_env, capsys) -> None:
    explained = job_env({"breast-cancer-mlp": _Version("3"), "diabetes-gbr": _Version("2")})
    assert shap_job.main([]) == 0
    assert explained == [("breast-cancer", "3"), ("diabetes", "2")]
    out = capsys.readouterr().out
    assert "breast-cancer: 1 SHAP report (v3 report 7)" in out and "diabetes: 1 SHAP report (v2 report 7)" in out
    assert shap_job.main(["--all"]) == 0 and len(explained) == 4


def test_no_champion_yet_is_no_data_and_the_others_still_run(job_env, capsys) -> None:
    explained = job_env({"breast-cancer-mlp": None, "diabetes-gbr": NotFound("not registered")})
    assert shap_job.main([]) == 0
    out = capsys.readouterr().out
    assert "breast-cancer: no data (breast-cancer-mlp has no champion to explain yet)" in out
    assert "diabetes: no data (diabetes-gbr is not in the model registry yet)" in out
    assert explained == []


def test_registry_down_for_one_model_is_exit_5_after_the_others_ran(job_env, capsys) -> None:
    explained = job_env({"breast-cancer-mlp": ServiceUnavailable("MLflow does not answer"),
                         "diabetes-gbr": _Version("2")})
    assert shap_job.main([]) == 5
    captured = capsys.readouterr()
    assert "breast-cancer: unavailable: MLflow does not answer (exit 5)" in captured.err
    assert explained == [("diabetes", "2")]


def test_version_without_model_is_a_usage_error(capsys) -> None:
    assert shap_job.main(["--version", "2"]) == 2
    assert "--version needs --model" in capsys.readouterr().err
