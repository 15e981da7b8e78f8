"""alibi-detect's KSDrift agrees with Vigil's KS (run in its own environment, .venv-alibi).

The environment is optional (alibi-detect is BSL-licensed and pins numpy<2): without it the test
skips, but under CI=true its absence fails the run. Create it with
``python3.11 -m venv .venv-alibi && .venv-alibi/bin/pip install -r requirements-alibi.txt``.
alibi-detect calls ``scipy.stats.ks_2samp(..., mode="asymp")`` and stores results as float32, so
the samples are larger than 10,000 (scipy's default is then asymptotic too) and the comparison
allows float32 rounding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # a second Python environment, alibi-detect and torch MMD
REPO = Path(__file__).resolve().parents[2]
ALIBI_PYTHON = Path(os.environ.get("VIGIL_ALIBI_PYTHON", REPO / ".venv-alibi" / "bin" / "python"))


@pytest.fixture(scope="module")
def alibi_env():
    if not ALIBI_PYTHON.exists():
        msg = (f"alibi-detect environment {ALIBI_PYTHON} is missing; create it with "
               "python3.11 -m venv .venv-alibi && .venv-alibi/bin/pip install -r requirements-alibi.txt")
        if os.environ.get("CI"):
            pytest.fail(msg + " (CI=true requires it)", pytrace=False)
        pytest.skip(msg)
    return ALIBI_PYTHON


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("alibi")
    rng = np.random.default_rng(646)
    ref = pd.DataFrame({"a": rng.normal(size=15_000), "b": rng.normal(size=15_000),
                        "c": rng.exponential(size=15_000), "site": rng.choice(["x", "y"], 15_000)})
    cur = pd.DataFrame({"a": rng.normal(0.08, size=12_000), "b": rng.normal(size=12_000),
                        "c": rng.exponential(1.05, size=12_000), "site": rng.choice(["x", "y"], 12_000)})
    cur.loc[::11, "b"] = np.nan
    ref.to_parquet(d / "ref.parquet")
    cur.to_parquet(d / "cur.parquet")
    cur.to_csv(d / "cur.csv", index=False)
    return d


def _cli(*args: str, env_python: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VIGIL_ALIBI_PYTHON": str(env_python)}
    return subprocess.run([sys.executable, "-m", "jobs.drift", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600, check=False, env=env)


def test_alibi_ks_agrees_with_vigil_ks(alibi_env, files):
    ours = _cli("--reference", str(files / "ref.parquet"), "--current", str(files / "cur.parquet"),
                "--categorical", "site", env_python=alibi_env)
    assert ours.returncode == 0, ours.stderr
    theirs = _cli("--reference", str(files / "ref.parquet"), "--current", str(files / "cur.csv"),
                  "--categorical", "site", "--detector", "alibi-ks", env_python=alibi_env)
    assert theirs.returncode == 0, theirs.stderr
    a, b = json.loads(ours.stdout), json.loads(theirs.stdout)
    assert b["detector"] == "alibi-ks" and "Business Source License" in b["licence"]
    vig = {f["feature"]: f for f in a["features"] if f["kind"] == "numeric"}
    ali = {f["feature"]: f for f in b["features"]}
    assert set(ali) == set(vig) == {"a", "b", "c"}
    for name in vig:
        assert abs(ali[name]["ks_statistic"] - vig[name]["ks_statistic"]) <= 1e-6  # float32
        assert ali[name]["ks_pvalue"] == pytest.approx(vig[name]["ks_pvalue"], rel=1e-5, abs=1e-7)
    assert ali["a"]["drifted"] and not ali["b"]["drifted"]


def test_alibi_mmd_runs_on_torch(alibi_env, files):
    res = _cli("--reference", str(files / "ref.parquet"), "--current", str(files / "cur.parquet"),
               "--categorical", "site", "--detector", "alibi-mmd", env_python=alibi_env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["detector"] == "alibi-mmd" and 0 <= out["p_value"] <= 1
    assert out["rows_used"]["reference"] == 2000 and out["features_used"] == ["a", "b", "c"]
