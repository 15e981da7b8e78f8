"""`python -m jobs.drift` file mode as a whole process: the JSON contract, scipy equality, errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

REPO = Path(__file__).resolve().parents[2]
KEYS = ["feature", "kind", "ks_statistic", "ks_pvalue", "chi2_statistic", "chi2_pvalue", "psi",
        "p_value_adjusted", "drifted", "severity", "missing_share_reference", "missing_share_current"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs.drift", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)


def _psi(ref, cur, bins=10):
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    edges = np.unique(np.quantile(ref, np.arange(1, bins) / bins))
    r = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=len(edges) + 1) / len(ref)
    c = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=len(edges) + 1) / len(cur)
    r, c = np.where(r == 0, 1e-4, r), np.where(c == 0, 1e-4, c)
    return float(np.sum((c - r) * np.log(c / r)))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("drift_files")
    rng = np.random.default_rng(42)
    n_ref, n_cur = 12_000, 8_000
    ref = pd.DataFrame({"a": rng.normal(size=n_ref), "b": rng.gamma(2.0, size=n_ref),
                        "i": rng.integers(0, 7, size=n_ref), "site": rng.choice(["n", "s", "e"], n_ref)})
    cur = pd.DataFrame({"a": rng.normal(0.2, size=n_cur), "b": rng.gamma(2.0, size=n_cur),
                        "i": rng.integers(0, 8, size=n_cur), "site": rng.choice(["n", "s", "w"], n_cur)})
    ref.loc[::13, "b"] = np.nan
    cur.loc[::6, "b"] = np.nan
    ref.to_parquet(d / "ref.parquet", row_group_size=3000)
    cur.to_parquet(d / "cur.parquet", row_group_size=1000)
    ref.to_csv(d / "ref.csv", index=False)
    cur.to_csv(d / "cur.csv", index=False)
    return d, ref, cur


@pytest.mark.parametrize("ref_name,cur_name", [("ref.parquet", "cur.parquet"), ("ref.csv", "cur.csv"),
                                               ("ref.parquet", "cur.csv")])
def test_json_matches_scipy_and_psi_definition(files, ref_name, cur_name):
    d, ref, cur = files
    res = _run("--reference", str(d / ref_name), "--current", str(d / cur_name), "--categorical", "site",
               "--format", "json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)  # exactly one JSON object on stdout
    assert out["rows"] == {"reference": 12_000, "current": 8_000}
    feats = {f["feature"]: f for f in out["features"]}
    assert list(feats) == ["a", "b", "i", "site"]
    for name in ("a", "b", "i"):
        f = feats[name]
        assert list(f)[:len(KEYS)] == KEYS and f["kind"] == "numeric"
        r, c = ref[name].to_numpy(float), cur[name].to_numpy(float)
        want = stats.ks_2samp(r[~np.isnan(r)], c[~np.isnan(c)])
        assert abs(f["ks_statistic"] - want.statistic) <= 1e-9
        assert abs(f["ks_pvalue"] - want.pvalue) <= 1e-6
        assert f["psi"] == pytest.approx(_psi(r, c), abs=1e-12)
        assert f["chi2_statistic"] is None and f["chi2_pvalue"] is None and f["ks_error_bound"] == 0.0
    assert feats["b"]["missing_share_reference"] == pytest.approx(ref["b"].isna().mean())
    assert feats["b"]["missing_share_current"] == pytest.approx(cur["b"].isna().mean())
    site = feats["site"]
    table = pd.crosstab(np.r_[np.zeros(len(ref)), np.ones(len(cur))], np.r_[ref["site"], cur["site"]]).to_numpy()
    chi = stats.chi2_contingency(table, correction=False)
    assert site["kind"] == "categorical" and site["ks_statistic"] is None and site["ks_pvalue"] is None
    assert site["chi2_statistic"] == pytest.approx(chi.statistic, rel=1e-12)
    assert site["chi2_pvalue"] == pytest.approx(chi.pvalue, abs=1e-12)
    assert feats["a"]["drifted"] and site["drifted"] and not feats["b"]["drifted"]
    assert site["severity"] == "significant"
    assert out["drifted_features"] == sum(f["drifted"] for f in out["features"]) and out["dataset_drift"]
    # adjusted p-values: Benjamini-Hochberg over the 4 features
    raw = [feats[n]["ks_pvalue"] for n in ("a", "b", "i")] + [site["chi2_pvalue"]]
    order = np.argsort(raw)
    adj = np.minimum.accumulate((np.array(raw)[order] * 4 / np.arange(1, 5))[::-1])[::-1]
    want_adj = np.empty(4)
    want_adj[order] = np.minimum(adj, 1)
    got_adj = [feats[n]["p_value_adjusted"] for n in ("a", "b", "i", "site")]
    assert np.allclose(got_adj, want_adj, rtol=1e-12, atol=0)


def test_bonferroni_bins_alpha_and_table(files):
    d, ref, cur = files
    res = _run("--reference", str(d / "ref.parquet"), "--current", str(d / "cur.parquet"), "--categorical",
               "site", "--bins", "4", "--alpha", "0.01", "--correction", "bonferroni")
    out = json.loads(res.stdout)
    a = out["features"][0]
    assert a["psi"] == pytest.approx(_psi(ref["a"].to_numpy(), cur["a"].to_numpy(), bins=4), abs=1e-12)
    assert a["p_value_adjusted"] == pytest.approx(min(1.0, a["ks_pvalue"] * 4))
    assert out["settings"]["alpha"] == 0.01 and out["settings"]["correction"] == "bonferroni"
    table = _run("--reference", str(d / "ref.csv"), "--current", str(d / "cur.csv"), "--categorical", "site",
                 "--format", "table")
    assert table.returncode == 0 and "dataset drift: yes" in table.stdout and "site" in table.stdout


def test_histogram_path_shows_its_bound(files):
    d, ref, cur = files
    res = _run("--reference", str(d / "ref.parquet"), "--current", str(d / "cur.parquet"), "--categorical",
               "site", "--exact-cap", "5000")
    out = json.loads(res.stdout)
    a = out["features"][0]
    want = stats.ks_2samp(ref["a"], cur["a"]).statistic
    assert a["ks_method"] == "histogram" and 0 <= a["ks_error_bound"] <= 0.005
    assert abs(a["ks_statistic"] - want) <= a["ks_error_bound"] + 1e-12
    assert out["max_ks_error_bound"] <= 0.005


def test_exit_codes_and_clear_errors(files, tmp_path):
    d, _, _ = files
    ok = _run("--reference", str(d / "ref.csv"), "--current", str(d / "cur.csv"), "--categorical", "site")
    assert ok.returncode == 0  # drift found, still 0
    gate = _run("--reference", str(d / "ref.csv"), "--current", str(d / "cur.csv"), "--categorical", "site",
                "--fail-on-drift")
    assert gate.returncode == 3 and json.loads(gate.stdout)["dataset_drift"]
    bad = _run("--reference", str(d / "ref.csv"), "--current", str(d / "cur.csv"))
    assert bad.returncode == 2 and "ref.csv" in bad.stderr and "'site'" in bad.stderr and "--categorical" in bad.stderr
    assert bad.stdout == ""
    missing = _run("--reference", str(d / "nope.parquet"), "--current", str(d / "cur.csv"))
    assert missing.returncode == 2 and "nope.parquet" in missing.stderr
    pd.DataFrame({"a": [1.0]}).to_parquet(tmp_path / "short.parquet")
    short = _run("--reference", str(d / "ref.parquet"), "--current", str(tmp_path / "short.parquet"),
                 "--categorical", "site")
    assert short.returncode == 2 and "short.parquet" in short.stderr and "missing" in short.stderr
    usage = _run("--reference", str(d / "ref.csv"))
    assert usage.returncode == 2 and "--current" in usage.stderr
    both = _run("--reference", "a", "--current", "b", "--model", "m")
    assert both.returncode == 2


def test_help_is_instant_and_lists_both_modes():
    res = _run("--help")
    assert res.returncode == 0 and "--reference" in res.stdout and "--model" in res.stdout
    probe = subprocess.run([sys.executable, "-c", ("import sys, jobs.drift; "
                            "print(any(m in sys.modules for m in ('scipy', 'evidently', 'torch', 'pandas')))")],
                           cwd=REPO, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "False"


def test_nan_free_json(files):
    d, _, _ = files
    res = _run("--reference", str(d / "ref.parquet"), "--current", str(d / "cur.parquet"), "--categorical", "site")
    json.loads(res.stdout, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert not math.isnan(json.loads(res.stdout)["features"][0]["psi"])


# --------------------------------------------------------------------------- edge cases (issue 8, item 11)
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("drift_edges")
    rng = np.random.default_rng(11)
    n = 2_000
    ref = pd.DataFrame({"a": rng.normal(size=n), "b": rng.gamma(2.0, size=n),
                        "site": rng.choice(["n", "s", "e"], n)})
    ref.to_parquet(d / "ref.parquet")
    ref.to_csv(d / "ref.csv", index=False)
    ref.iloc[:0].to_parquet(d / "empty.parquet")
    ref.iloc[:0].to_csv(d / "empty.csv", index=False)  # header only
    (d / "zero.csv").write_bytes(b"")
    return d, ref


@pytest.mark.parametrize("name", ["empty.parquet", "empty.csv", "zero.csv"])
def test_empty_current_is_no_data_not_no_drift(small, name):
    d, _ = small
    for gate in ([], ["--fail-on-drift"]):
        res = _run("--reference", str(d / "ref.parquet"), "--current", str(d / name), "--categorical", "site",
                   *gate)
        assert res.returncode == 6, (gate, res.stderr)
        out = json.loads(res.stdout)
        assert out["status"] == "no_data" and out["rows"]["current"] == 0 and not out["dataset_drift"]
        assert {f["data_quality"] for f in out["features"]} == {"no_data"}
    table = _run("--reference", str(d / "ref.csv"), "--current", str(d / name), "--categorical", "site",
                 "--format", "table")
    assert table.returncode == 6 and table.stdout.startswith("NO DATA")


@pytest.mark.parametrize("name", ["empty.parquet", "empty.csv", "zero.csv"])
def test_empty_reference_is_bad_input(small, name):
    d, _ = small
    res = _run("--reference", str(d / name), "--current", str(d / "ref.parquet"), "--categorical", "site")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [f"error: {d / name}: the reference has no rows; "
                                               "give a reference file with data"]


def test_all_missing_column_fails_the_gate(small, tmp_path):
    d, ref = small
    cur = ref.copy()
    cur["b"] = np.nan
    cur["site"] = None
    cur.to_parquet(tmp_path / "cur.parquet")
    plain = _run("--reference", str(d / "ref.parquet"), "--current", str(tmp_path / "cur.parquet"),
                 "--categorical", "site")
    assert plain.returncode == 0
    out = json.loads(plain.stdout)
    feats = {f["feature"]: f for f in out["features"]}
    assert out["status"] == "quality_failed" and out["data_quality_failed"] is True
    assert out["data_quality_failures"] == ["b", "site"] and not out["dataset_drift"]
    assert feats["b"]["data_quality"] == "all_missing" and feats["site"]["data_quality"] == "all_missing"
    assert feats["a"]["data_quality"] == "ok" and feats["b"]["missing_share_current"] == 1.0
    gate = _run("--reference", str(d / "ref.parquet"), "--current", str(tmp_path / "cur.parquet"),
                "--categorical", "site", "--fail-on-drift")
    assert gate.returncode == 3 and json.loads(gate.stdout)["status"] == "quality_failed"
    # a reference column without any value cannot be tested: it fails the gate as well
    bad_ref = ref.copy()
    bad_ref["b"] = np.nan
    bad_ref.to_parquet(tmp_path / "bad_ref.parquet")
    res = _run("--reference", str(tmp_path / "bad_ref.parquet"), "--current", str(d / "ref.parquet"),
               "--categorical", "site", "--fail-on-drift")
    assert res.returncode == 3
    out = json.loads(res.stdout)
    assert out["data_quality_failures"] == ["b"]
    assert out["features"][1]["data_quality"] == "reference_all_missing"


def test_same_data_as_parquet_and_csv_gives_identical_json(tmp_path):
    rng = np.random.default_rng(12)
    n = 3_000
    ref = pd.DataFrame({"a": rng.normal(size=n), "i": rng.integers(0, 9, n).astype(float),
                        "site": rng.choice(["n", "s", "e"], n).astype(object),
                        "empty": pd.Series([None] * n, dtype=object)})
    cur = pd.DataFrame({"a": rng.normal(0.1, size=n), "i": rng.integers(0, 9, n).astype(float),
                        "site": rng.choice(["n", "s", "w"], n).astype(object),
                        "empty": pd.Series([None] * n, dtype=object)})
    ref.loc[::7, "a"] = np.nan
    cur.loc[::5, "i"] = np.nan
    ref.loc[::11, "site"] = None
    cur.loc[::3, "site"] = None
    for name, frame in (("ref", ref), ("cur", cur)):
        frame.to_parquet(tmp_path / f"{name}.parquet")
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    outs = {}
    for fmt_ref in ("parquet", "csv"):
        for fmt_cur in ("parquet", "csv"):
            res = _run("--reference", str(tmp_path / f"ref.{fmt_ref}"),
                       "--current", str(tmp_path / f"cur.{fmt_cur}"), "--categorical", "site,empty")
            assert res.returncode == 0, res.stderr
            outs[fmt_ref, fmt_cur] = json.loads(res.stdout)
    first = outs["parquet", "parquet"]
    assert all(out == first for out in outs.values())
    feats = {f["feature"]: f for f in first["features"]}
    assert feats["empty"]["psi"] is None and feats["empty"]["data_quality"] == "all_missing"
    assert feats["site"]["missing_share_current"] == pytest.approx(cur["site"].isna().mean())
    assert feats["i"]["missing_share_current"] == pytest.approx(cur["i"].isna().mean())


def test_infinite_reference_values_are_counted_without_warnings(small, tmp_path):
    d, ref = small
    bad = ref.copy()
    bad.loc[:4, "a"] = np.inf
    bad.loc[5:7, "a"] = -np.inf
    bad.to_parquet(tmp_path / "inf.parquet")
    bad.to_csv(tmp_path / "inf.csv", index=False)
    for name in ("inf.parquet", "inf.csv"):
        res = _run("--reference", str(tmp_path / name), "--current", str(d / "ref.parquet"),
                   "--categorical", "site")
        assert res.returncode == 0 and res.stderr == ""  # no NumPy RuntimeWarning
        a = json.loads(res.stdout)["features"][0]
        finite = bad["a"].to_numpy()[np.isfinite(bad["a"].to_numpy())]
        want = stats.ks_2samp(finite, ref["a"])
        assert a["non_finite_reference"] == 8 and a["non_finite_current"] == 0 and a["data_quality"] == "ok"
        assert abs(a["ks_statistic"] - want.statistic) <= 1e-9 and abs(a["ks_pvalue"] - want.pvalue) <= 1e-6
        assert a["psi"] == pytest.approx(_psi(finite, ref["a"].to_numpy()), abs=1e-12)
