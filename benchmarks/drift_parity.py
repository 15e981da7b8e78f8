"""Benchmark: drift file mode after the plug-in redesign vs the code before it (the anchor).

Issue 9 moved KS, PSI and chi-square onto plug-in methods with mergeable accumulators; its
done-when is "every statistic and the file-mode JSON unchanged (identical numbers), speed within
10%". The anchor is the last commit before the redesign (ANCHOR below), unpacked with
``git archive`` into benchmarks/_work/anchor. Each case runs ``python -m jobs.drift`` file mode
in both trees, alternating, whole processes: stdout (the JSON) must be byte-identical and the
exit codes equal; wall time and CPU time are compared as medians and ratios.

Cases: the 200,000 x 50 numeric files of benchmarks.drift_filemode (exact KS over the cap,
histogram path), the same with 7 PSI bins and Bonferroni, and a mixed CSV with categorical
features, rare levels, missing values and infinities.

    python -m benchmarks.drift_parity [--rounds 5] [--anchor COMMIT]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import drift_filemode
from benchmarks._results import machine_line, write_section

REPO = Path(__file__).resolve().parent.parent
WORK = Path(__file__).resolve().parent / "_work"
ANCHOR = "d290951"  # main before issue 9 (hand-wired KS/PSI/chi-square in monitoring/drift/compare.py)


def unpack_anchor(commit: str) -> Path:
    target = WORK / f"anchor-{commit}"
    if not (target / "jobs" / "drift.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit], cwd=REPO, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def mixed_csv() -> tuple[Path, Path]:
    ref, cur = WORK / "drift_mixed_ref.csv", WORK / "drift_mixed_cur.csv"
    if ref.exists() and cur.exists():
        return ref, cur
    import pandas as pd

    rng = np.random.default_rng(9)
    n = 20_000

    def frame(shift: float, p: list[float]) -> pd.DataFrame:
        x = rng.normal(shift, 1, n)
        x[rng.random(n) < 0.02] = np.nan
        x[rng.random(n) < 0.001] = np.inf
        return pd.DataFrame({
            "age": rng.normal(40 + 5 * shift, 10, n).round(1),
            "score": x,
            "plan": rng.choice(["basic", "pro", "team", "rare"], n, p=p),
            "region": rng.choice(["eu", "us", "apac"], n),
        })

    frame(0.0, [0.6, 0.3, 0.0995, 0.0005]).to_csv(ref, index=False)
    frame(0.3, [0.4, 0.4, 0.1995, 0.0005]).to_csv(cur, index=False)
    return ref, cur


def run(tree: Path, args: list[str]) -> tuple[float, float, int, str]:
    """(wall s, CPU s, exit code, stdout) of ``python -m jobs.drift ARGS`` run in ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "jobs.drift", *args], cwd=tree, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read().decode() if proc.stdout else ""
    _pid, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - t0, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status), out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.drift_parity", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--anchor", default=ANCHOR)
    args = p.parse_args(argv)
    drift_filemode.generate()
    anchor = unpack_anchor(args.anchor)
    mref, mcur = mixed_csv()
    big = ["--reference", str(drift_filemode.REF), "--current", str(drift_filemode.CUR), "--format", "json"]
    cases = {
        "200k x 50 numeric": big,
        "200k x 50, 7 bins, Bonferroni": [*big, "--bins", "7", "--correction", "bonferroni"],
        "mixed CSV (categorical, rare, NaN, inf)": ["--reference", str(mref), "--current", str(mcur),
                                                    "--categorical", "plan,region", "--format", "json"],
    }
    rows, identical = [], True
    for name, case in cases.items():
        new_wall, old_wall, new_cpu, old_cpu = [], [], [], []
        same = True
        for _ in range(args.rounds):
            w, c, code_old, out_old = run(anchor, case)
            old_wall.append(w)
            old_cpu.append(c)
            w, c, code_new, out_new = run(REPO, case)
            new_wall.append(w)
            new_cpu.append(c)
            same = same and out_old == out_new and code_old == code_new and bool(out_new.strip())
        identical = identical and same
        rows.append((name, statistics.median(old_wall), statistics.median(new_wall), statistics.median(old_cpu),
                     statistics.median(new_cpu), same, code_new))
        print(f"{name}: identical={same} exit={code_new} wall {statistics.median(old_wall):.2f} -> "
              f"{statistics.median(new_wall):.2f} s, CPU {statistics.median(old_cpu):.2f} -> "
              f"{statistics.median(new_cpu):.2f} s", flush=True)
    table = "\n".join(
        f"| {n} | {'yes' if s else '**NO**'} | {code} | {ow:.2f} | {nw:.2f} | {nw / ow:.2f} | {oc:.2f} | {nc:.2f} | {nc / oc:.2f} |"
        for n, ow, nw, oc, nc, s, code in rows)
    write_section("drift-parity", (
        "## drift-parity: file mode after the plug-in redesign vs the code before it\n\n"
        f"Anchor: commit `{args.anchor}` (hand-wired KS, PSI and chi-square), unpacked with `git archive`; "
        f"alternating whole processes, {args.rounds} rounds per case, medians. Target: identical JSON, "
        f"speed within 10%.\n\n"
        "| case | JSON identical | exit | anchor wall s | new wall s | ratio | anchor CPU s | new CPU s | ratio |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        f"{table}\n\n_{machine_line()}_\n"
    ))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
