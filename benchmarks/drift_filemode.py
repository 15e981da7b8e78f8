"""Benchmark: `python -m jobs.drift` file mode vs Evidently DataDriftPreset (KS, then PSI).

Same 200,000 x 50 float Parquet files (reference, and a current with shifted columns), generated
once into benchmarks/_work/. Whole processes, alternating ours / Evidently for ROUNDS rounds;
wall time and peak RSS of each child from os.wait4. Also checks that our KS and PSI equal
scipy.stats.ks_2samp and the PSI definition on those files. Target: >= 25x faster.

    python -m benchmarks.drift_filemode [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
WORK = Path(__file__).resolve().parent / "_work"
ROWS, COLS = 200_000, 50
REF = WORK / "drift_ref_200k.parquet"
CUR = WORK / "drift_cur_200k.parquet"

EVIDENTLY = """
import os, sys
os.environ.setdefault("DO_NOT_TRACK", "true")
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
out = []
for method in ("ks", "psi"):
    snap = Report([DataDriftPreset(method=method)]).run(current_data=cur, reference_data=ref)
    out.append(len(snap.dict()["metrics"]))
print(out)
"""

# the anchor process: scipy_reference() over the two files, start-up and reading included
SCIPY_LOOP = "import sys; from benchmarks.drift_filemode import scipy_loop_main; scipy_loop_main(sys.argv[1:])"


def generate() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    WORK.mkdir(parents=True, exist_ok=True)
    if REF.exists() and CUR.exists():
        return
    rng = np.random.default_rng(2026)
    names = [f"f{i:02d}" for i in range(COLS)]
    ref = {n: rng.normal(size=ROWS) for n in names}
    cur = {n: rng.normal(size=ROWS) for n in names}
    for i in range(5):  # five shifted columns, two with a wider spread, one exponential
        cur[names[i]] = cur[names[i]] + 0.05 * (i + 1)
    cur[names[5]] *= 1.2
    cur[names[6]] *= 1.5
    ref[names[7]] = rng.exponential(size=ROWS)
    cur[names[7]] = rng.exponential(1.1, size=ROWS)
    pq.write_table(pa.table(ref), REF)
    pq.write_table(pa.table(cur), CUR)


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one child process."""
    out = WORK / "child_stdout.txt"
    with out.open("w") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=fh, stderr=subprocess.PIPE)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd[:4]} failed: {err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out.read_text()


def scipy_reference(ref, cur) -> dict[str, tuple[float, float, float]]:  # type: ignore[no-untyped-def]
    """Per column of two Arrow tables: (KS statistic, KS p-value) from scipy.stats.ks_2samp and
    PSI by the definition, a plain loop. The benchmark's anchor and the equality check both use it."""
    from scipy import stats

    out = {}
    for name in ref.column_names:
        r, c = ref.column(name).to_numpy(), cur.column(name).to_numpy()
        ks = stats.ks_2samp(r, c)
        edges = np.unique(np.quantile(r, np.arange(1, 10) / 10))
        rs = np.bincount(np.searchsorted(edges, r, side="left"), minlength=len(edges) + 1) / len(r)
        cs = np.bincount(np.searchsorted(edges, c, side="left"), minlength=len(edges) + 1) / len(c)
        rs, cs = np.where(rs == 0, 1e-4, rs), np.where(cs == 0, 1e-4, cs)
        out[name] = (float(ks.statistic), float(ks.pvalue), float(np.sum((cs - rs) * np.log(cs / rs))))
    return out


def scipy_loop_main(paths: list[str]) -> None:
    import pyarrow.parquet as pq

    print(len(scipy_reference(pq.read_table(paths[0]), pq.read_table(paths[1]))))


def verify(report: dict) -> dict:
    """Largest differences of our JSON from scipy's KS and the PSI definition on the files."""
    import pyarrow.parquet as pq

    want = scipy_reference(pq.read_table(REF), pq.read_table(CUR))
    worst = {"ks_statistic": 0.0, "ks_pvalue": 0.0, "psi": 0.0}
    for f in report["features"]:
        ks_stat, ks_p, psi = want[f["feature"]]
        worst["ks_statistic"] = max(worst["ks_statistic"], abs(f["ks_statistic"] - ks_stat))
        worst["ks_pvalue"] = max(worst["ks_pvalue"], abs(f["ks_pvalue"] - ks_p))
        worst["psi"] = max(worst["psi"], abs(f["psi"] - psi))
    return worst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-write", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    generate()
    ours_cmd = [sys.executable, "-m", "jobs.drift", "--reference", str(REF), "--current", str(CUR),
                "--format", "json"]
    evid_cmd = [sys.executable, "-c", EVIDENTLY, str(REF), str(CUR)]
    loop_cmd = [sys.executable, "-c", SCIPY_LOOP, str(REF), str(CUR)]
    ours, evid, loop = [], [], []
    report: dict = {}
    for r in range(args.rounds):
        wall, rss, stdout = timed(ours_cmd)
        ours.append((wall, rss))
        report = json.loads(stdout)
        wall_e, rss_e, _ = timed(evid_cmd)
        evid.append((wall_e, rss_e))
        wall_l, rss_l, _ = timed(loop_cmd)
        loop.append((wall_l, rss_l))
        print(f"round {r + 1}: vigil {wall:.2f} s {rss:.0f} MB | evidently {wall_e:.2f} s {rss_e:.0f} MB"
              f" | scipy loop {wall_l:.2f} s {rss_l:.0f} MB", flush=True)
    worst = verify(report)
    o_t, o_m = statistics.median(w for w, _ in ours), statistics.median(m for _, m in ours)
    e_t, e_m = statistics.median(w for w, _ in evid), statistics.median(m for _, m in evid)
    l_t, l_m = statistics.median(w for w, _ in loop), statistics.median(m for _, m in loop)
    ratio = e_t / o_t
    drifted = [f["feature"] for f in report["features"] if f["drifted"]]
    md = (
        "## drift-filemode: `python -m jobs.drift` file mode vs Evidently DataDriftPreset\n\n"
        f"{ROWS:,} x {COLS} float64 columns, Parquet (reference and current, 8 columns changed); whole "
        f"processes, alternating, {args.rounds} rounds, medians. Machine: "
        + __import__("benchmarks._results", fromlist=["machine_line"]).machine_line() + "\n\n"
        "| run | wall time (s) | peak RSS (MB) |\n|---|---:|---:|\n"
        f"| Vigil file mode (KS + PSI + BH, exact KS) | {o_t:.2f} | {o_m:.0f} |\n"
        f"| Evidently 0.7 DataDriftPreset, KS then PSI | {e_t:.2f} | {e_m:.0f} |\n"
        f"| for reference: a plain loop of scipy.stats.ks_2samp + numpy PSI | {l_t:.2f} | {l_m:.0f} |\n\n"
        f"Speed-up over Evidently: **{ratio:.1f}x** (target >= 25x: {'met' if ratio >= 25 else 'missed'}); "
        f"over the scipy loop: {l_t / o_t:.1f}x. Per round (s): Vigil "
        f"{', '.join(f'{w:.2f}' for w, _ in ours)}; Evidently {', '.join(f'{w:.2f}' for w, _ in evid)}; "
        f"scipy loop {', '.join(f'{w:.2f}' for w, _ in loop)}.\n\n"
        f"Equality with scipy on these files (max abs difference over {COLS} features): KS statistic "
        f"{worst['ks_statistic']:.1e}, KS p-value {worst['ks_pvalue']:.1e}, PSI vs the definition "
        f"{worst['psi']:.1e}. Drifted: {len(drifted)} features ({', '.join(drifted)}).\n"
    )
    print(md)
    if not args.no_write:
        from benchmarks._results import write_section

        write_section("drift-filemode", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
