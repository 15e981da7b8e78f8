"""Benchmark: 10,000,000 current rows x 50 features against a stored reference profile.

The reference (200,000 x 50) is fitted once into a ReferenceProfile (exact cap 100,000, the
configured default, so the histogram path with its KS error bound is exercised) and stored as
bytes; the current Parquet file is generated in chunks. The timed child process loads the
stored profile and streams the current file in record batches through compare(); wall time and
peak RSS come from os.wait4. Targets: under 60 s and under 1.5 GB.

    python -m benchmarks.drift_scale [--rows 10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
WORK = Path(__file__).resolve().parent / "_work"
COLS = 50
REF_ROWS = 200_000
CHUNK = 500_000

CHILD = """
import json, sys, time
t0 = time.perf_counter()
from monitoring.drift.profile import ReferenceProfile
from monitoring.drift.filemode import iter_current
from monitoring.drift.compare import compare
profile = ReferenceProfile.from_bytes(open(sys.argv[1], "rb").read())
report = compare(profile, iter_current(sys.argv[2], profile.names))
d = report.to_json_dict()
d["elapsed_in_process"] = time.perf_counter() - t0
print(json.dumps(d))
"""


def paths(rows: int) -> tuple[Path, Path]:
    return WORK / f"drift_scale_profile_{REF_ROWS}.bin", WORK / f"drift_scale_current_{rows}.parquet"


def generate(rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from monitoring.drift.profile import ReferenceProfile

    WORK.mkdir(parents=True, exist_ok=True)
    prof_path, cur_path = paths(rows)
    names = [f"f{i:02d}" for i in range(COLS)]
    if not prof_path.exists():
        rng = np.random.default_rng(7)
        ref = {n: rng.normal(size=REF_ROWS) for n in names}
        prof_path.write_bytes(ReferenceProfile.fit(ref, names, exact_cap=100_000, bins=10).to_bytes())
    if not cur_path.exists():
        rng = np.random.default_rng(8)
        tmp = cur_path.with_suffix(".tmp")
        schema = pa.schema([(n, pa.float64()) for n in names])
        with pq.ParquetWriter(tmp, schema) as writer:
            for start in range(0, rows, CHUNK):
                n = min(CHUNK, rows - start)
                cols = {name: rng.normal(size=n) for name in names}
                cols["f00"] = cols["f00"] + 0.05  # one small shift, one wider spread
                cols["f01"] = cols["f01"] * 1.1
                cols["f02"][:: 50] = np.nan  # some missing values
                writer.write_table(pa.table(cols, schema=schema), row_group_size=CHUNK)
        tmp.rename(cur_path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    t = time.perf_counter()
    generate(args.rows)
    gen_s = time.perf_counter() - t
    prof_path, cur_path = paths(args.rows)
    out = WORK / "scale_stdout.json"
    with out.open("w") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(prof_path), str(cur_path)], cwd=REPO,
                                stdout=fh, stderr=subprocess.PIPE)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        print(proc.stderr.read().decode()[-3000:], file=sys.stderr)
        return 1
    rss_mb = usage.ru_maxrss / 1024
    rep = json.loads(out.read_text())
    bound = rep["max_ks_error_bound"]
    drifted = [f["feature"] for f in rep["features"] if f["drifted"]]
    methods_used = sorted({f["ks_method"] for f in rep["features"]})
    size_gb = cur_path.stat().st_size / 1e9
    from benchmarks._results import machine_line

    md = (
        "## drift-scale: 10,000,000 current rows x 50 features against a stored profile\n\n"
        f"Reference profile fitted once on {REF_ROWS:,} x {COLS} (exact cap 100,000, so KS runs on "
        f"{4096}-interval quantile histograms) and stored; current: {args.rows:,} x {COLS} float64 "
        f"Parquet ({size_gb:.1f} GB on disk), streamed in record batches. One whole process. "
        f"Machine: {machine_line()}\n\n"
        "| measure | value | target |\n|---|---:|---:|\n"
        f"| wall time | {wall:.1f} s | < 60 s |\n"
        f"| peak RSS | {rss_mb:.0f} MB | < 1,500 MB |\n"
        f"| largest KS error bound | {bound:.2e} | <= 0.005 |\n\n"
        f"KS method: {', '.join(methods_used)}; rows counted {rep['rows']['current']:,}; drifted features: "
        f"{', '.join(drifted) or 'none'} (f00 +0.05 SD, f01 x1.1 spread). Data generation (not timed): "
        f"{gen_s:.0f} s.\n"
    )
    print(md)
    if not args.no_write:
        from benchmarks._results import write_section

        write_section("drift-scale", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
