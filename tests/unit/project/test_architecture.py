"""House rules that keep the codebase in one shape, checked on every run."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BELOW_UI = ("core", "governance", "monitoring", "jobs", "demo")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_nothing_below_the_ui_imports_streamlit() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for package in BELOW_UI
        for p in (ROOT / package).rglob("*.py")
        if "streamlit" in _imports(p)
    ]
    assert offenders == [], f"only app.py, pages/ and ui/ may import streamlit: {offenders}"


def test_every_requirement_is_pinned_exactly() -> None:
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-r"):
                continue
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9_.+\-]+", line), f"{name}: not pinned: {line}"


def test_alibi_detect_is_not_in_the_default_install() -> None:
    text = (ROOT / "requirements.txt").read_text().lower()
    assert "alibi" not in text, "alibi-detect is BSL-licensed and pins numpy<2: optional extra only"


def test_pandas_stays_below_3_for_evidently() -> None:
    pins = dict(
        line.split("==", 1) for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert int(pins["pandas"].split(".")[0]) < 3


@pytest.mark.parametrize("module", sorted(p.stem for p in (ROOT / "jobs").glob("*.py") if not p.stem.startswith("_")))
def test_every_job_explains_itself(module: str) -> None:
    out = subprocess.run([sys.executable, "-m", f"jobs.{module}", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout.lower() and f"jobs.{module}" in out.stdout


def test_importing_core_switches_telemetry_off() -> None:
    code = ("import os; [os.environ.pop(k, None) for k in ('DO_NOT_TRACK','MLFLOW_DISABLE_TELEMETRY')]; "
            "import core; print(os.environ['DO_NOT_TRACK'], os.environ['MLFLOW_DISABLE_TELEMETRY'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["true", "true"]
