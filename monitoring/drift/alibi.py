"""alibi-detect adapter, run as a script inside its own environment (.venv-alibi):

    .venv-alibi/bin/python monitoring/drift/alibi.py --reference REF --current CUR \
        --detector ks|mmd [--alpha 0.05] [--drop a,b] [--mmd-max-rows 2000]

alibi-detect 0.13 is under the Business Source License 1.1 (production use needs a commercial
licence from Seldon) and pins numpy<2, so it never enters Vigil's main environment; Vigil's
``python -m jobs.drift --detector alibi-ks|alibi-mmd`` runs this file there as a subprocess.
It imports nothing from Vigil (numpy 1.x here) and reads Parquet with pyarrow 17 or CSV.

- ks: alibi-detect ``KSDrift`` per numeric feature (missing values dropped per feature, as Vigil
  does), which calls ``scipy.stats.ks_2samp(..., mode="asymp")``; feature-level drift when
  p < alpha / m (Bonferroni, alibi-detect's default correction).
- mmd: ``MMDDrift`` (torch backend, Gaussian kernel, 100 permutations) on rows without missing
  values, subsampled without replacement to ``--mmd-max-rows`` per side (the test is O(n^2)).
Prints one JSON object; exit 2 on bad input, 1 on other failures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# Run as a script, this file's folder would come first on sys.path, and its profile.py would
# shadow the standard library's profile module (imported by torch/transformers): drop it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if not p or Path(p).resolve() != _HERE]

LICENCE = "alibi-detect: Business Source License 1.1 (production use needs a commercial licence from Seldon)"


def _read(path: Path, drop: set[str]):
    import numpy as np
    import pyarrow as pa

    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    elif name.endswith((".csv", ".csv.gz")):
        from pyarrow import csv

        table = csv.read_csv(path, convert_options=csv.ConvertOptions(
            column_types={c: pa.string() for c in drop}))
    else:
        raise ValueError(f"{path}: unsupported file type (use .parquet or .csv)")
    cols = {}
    for n in table.column_names:
        if n in drop:
            continue
        typ = table.schema.field(n).type
        if not (pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)):
            raise ValueError(f"{path}: column {n!r} is {typ}, not numeric; list it in --categorical")
        cols[n] = np.asarray(table.column(n).to_numpy(zero_copy_only=False), dtype=np.float64)
    return cols, table.num_rows


def run_ks(ref: dict, cur: dict, alpha: float) -> dict:
    import numpy as np
    from alibi_detect.cd import KSDrift

    names = [n for n in ref if n in cur]
    m = len(names)
    feats = []
    for n in names:
        r, c = ref[n][~np.isnan(ref[n])], cur[n][~np.isnan(cur[n])]
        det = KSDrift(r.reshape(-1, 1), p_val=alpha)
        out = det.predict(c.reshape(-1, 1), return_p_val=True, return_distance=True)["data"]
        p = float(out["p_val"][0])
        feats.append({"feature": n, "ks_statistic": float(out["distance"][0]), "ks_pvalue": p,
                      "drifted": bool(p < alpha / m)})
    return {"features": feats, "drifted_features": sum(f["drifted"] for f in feats),
            "dataset_drift": any(f["drifted"] for f in feats), "correction": "bonferroni"}


def run_mmd(ref: dict, cur: dict, alpha: float, max_rows: int) -> dict:
    import numpy as np
    from alibi_detect.cd import MMDDrift

    names = [n for n in ref if n in cur]
    xr = np.column_stack([ref[n] for n in names]).astype(np.float32)
    xc = np.column_stack([cur[n] for n in names]).astype(np.float32)
    xr, xc = xr[~np.isnan(xr).any(axis=1)], xc[~np.isnan(xc).any(axis=1)]
    rng = np.random.default_rng(0)
    if len(xr) > max_rows:
        xr = xr[rng.choice(len(xr), max_rows, replace=False)]
    if len(xc) > max_rows:
        xc = xc[rng.choice(len(xc), max_rows, replace=False)]
    mu, sd = xr.mean(axis=0), xr.std(axis=0)
    sd[sd == 0] = 1.0
    det = MMDDrift((xr - mu) / sd, backend="pytorch", p_val=alpha, n_permutations=100)
    out = det.predict((xc - mu) / sd, return_p_val=True, return_distance=True)["data"]
    return {"mmd2": float(out["distance"]), "p_value": float(out["p_val"]),
            "dataset_drift": bool(out["is_drift"]), "rows_used": {"reference": len(xr), "current": len(xc)},
            "features_used": names}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", type=Path, required=True)
    p.add_argument("--current", type=Path, required=True)
    p.add_argument("--detector", choices=("ks", "mmd"), default="ks")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--drop", default="", help="comma-separated (categorical) columns to leave out")
    p.add_argument("--mmd-max-rows", type=int, default=2000)
    args = p.parse_args(argv)
    drop = {c for c in args.drop.split(",") if c}
    try:
        for path in (args.reference, args.current):
            if not path.is_file():
                raise ValueError(f"{path}: no such file")
        ref, nr = _read(args.reference, drop)
        cur, nc = _read(args.current, drop)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.detector == "ks":
        result = run_ks(ref, cur, args.alpha)
    else:
        result = run_mmd(ref, cur, args.alpha, args.mmd_max_rows)
    import alibi_detect

    result = {"detector": f"alibi-{args.detector}", "alibi_detect_version": alibi_detect.__version__,
              "licence": LICENCE, "rows": {"reference": nr, "current": nc}, **result}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
