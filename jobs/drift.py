"""Drift checks, two modes.

File mode (no configuration, database or MLflow; for CI gates and ad-hoc checks):
    python -m jobs.drift --reference REF --current CUR [--categorical a,b] [--bins 10]
        [--alpha 0.05] [--correction bh|bonferroni] [--format json|table]
    REF and CUR are Parquet or CSV; every column not named in --categorical must be numeric.
    Prints one JSON object (or a table) to stdout. --detector alibi-ks|alibi-mmd runs
    alibi-detect in its own environment (.venv-alibi, see requirements-alibi.txt; BSL licence).

Cron mode (stored run, Evidently report), what cron and the scheduler start:
    python -m jobs.drift [--model NAME | --all] [--window 1h|6h|1d] [--at ISO-8601] [--fail-on-drift]
    Without --reference/--current and without --model (or with --all) every configured model
    is checked; one line per model. A model that fails does not stop the others; the job
    exits with the worst code (see jobs/_models.py). A model with nothing ingested yet, or
    whose window holds no rows, prints "no data (...)": exit 0, but 1 with --fail-on-drift
    (no data must never pass a drift gate).

Exit codes: 0 done (also when drift was found), 3 drift found with --fail-on-drift,
2 usage or bad input, 1 failure, 5 a dependency (e.g. the alibi environment) is unavailable.
File mode also: 6 the current file has no rows ("status": "no_data" in the JSON; with or without
--fail-on-drift: no data is never "no drift"); 3 with --fail-on-drift when a feature has no usable
value in the current file or the reference ("status": "quality_failed",
"data_quality_failures": [...]; exit 0 without the flag, like drift). An empty reference is bad
input: exit 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from jobs._cli import EXIT_DRIFT, EXIT_NO_DATA, EXIT_OK, EXIT_USAGE, parser, run_main, setup_logging

WINDOWS = ("1h", "6h", "1d")


def build_parser():
    p = parser("drift", __doc__.split("\n\n")[0])
    p.description = __doc__
    f = p.add_argument_group("file mode")
    f.add_argument("--reference", type=Path, help="reference data, Parquet or CSV")
    f.add_argument("--current", type=Path, help="current data, Parquet or CSV (read in batches)")
    f.add_argument("--categorical", default="", help="comma-separated categorical columns")
    f.add_argument("--bins", type=int, default=10, help="PSI bins B for numeric features (default 10)")
    f.add_argument("--alpha", type=float, default=0.05, help="significance level after correction")
    f.add_argument("--correction", choices=("bh", "bonferroni"), default="bh",
                   help="multiple-testing correction across features (default Benjamini-Hochberg)")
    f.add_argument("--min-effect-ks", type=float, default=0.02,
                   help="a numeric feature drifts only if its KS statistic reaches this (default 0.02)")
    f.add_argument("--min-effect-psi", type=float, default=0.1,
                   help="a categorical feature drifts only if its PSI reaches this (default 0.1)")
    f.add_argument("--exact-cap", type=int, default=None,
                   help="values kept per side for exact KS; beyond, KS on histograms with an error "
                        "bound shown as ks_error_bound (default 1,000,000)")
    f.add_argument("--format", choices=("json", "table"), default="json")
    f.add_argument("--detector", choices=("ks", "alibi-ks", "alibi-mmd"), default="ks",
                   help="ks (built in); alibi-ks / alibi-mmd run alibi-detect in .venv-alibi")
    c = p.add_argument_group("cron mode")
    from jobs._models import add_model_selection

    add_model_selection(c, help_model="only this configured model (default: every configured model)")
    c.add_argument("--window", choices=WINDOWS, default="1d")
    c.add_argument("--at", help="end of the window, ISO-8601 (default: now)")
    c.add_argument("--fail-on-drift", action="store_true",
                   help="exit 3 when drift is found (file mode: also when a feature has no usable value)")
    return p


def _usage(p, message: str) -> int:
    p.print_usage(sys.stderr)
    print(f"{p.prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    file_mode = args.reference is not None or args.current is not None
    if file_mode and (args.model or args.all_models):
        return _usage(p, "use either --reference/--current (file mode) or --model/--all (cron mode), "
                         "not both")
    if file_mode:
        if args.reference is None or args.current is None:
            return _usage(p, "file mode needs both --reference and --current")
        if args.bins < 2:
            return _usage(p, "--bins must be at least 2")
        if not 0 < args.alpha < 1:
            return _usage(p, "--alpha must lie between 0 and 1")
        if args.exact_cap is not None and args.exact_cap < 1:
            return _usage(p, "--exact-cap must be positive")
        return _file_mode(args)
    if args.detector != "ks":
        return _usage(p, "--detector applies to file mode only")
    return _cron_mode(args, p)


def _file_mode(args) -> int:
    categorical = [c.strip() for c in args.categorical.split(",") if c.strip()]
    if args.detector != "ks":
        from monitoring.drift.filemode import run_alibi

        result = run_alibi(args.reference, args.current, args.detector.removeprefix("alibi-"),
                           categorical=categorical, alpha=args.alpha)
        print(json.dumps(result, allow_nan=False))
        drifted = bool(result.get("dataset_drift"))
    else:
        from monitoring.drift.filemode import FILE_MODE_EXACT_CAP, compare_files, format_table

        report = compare_files(args.reference, args.current, categorical=categorical, bins=args.bins,
                               alpha=args.alpha, correction=args.correction,
                               min_effect_ks=args.min_effect_ks, min_effect_psi=args.min_effect_psi,
                               exact_cap=args.exact_cap or FILE_MODE_EXACT_CAP)
        if args.format == "json":
            print(json.dumps(report.to_json_dict(), allow_nan=False))
        else:
            print(format_table(report))
        if report.status == "no_data":
            return EXIT_NO_DATA
        drifted = report.dataset_drift or report.data_quality_failed
    return EXIT_DRIFT if drifted and args.fail_on_drift else EXIT_OK


def _cron_mode(args, p) -> int:
    at = None
    if args.at:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError:
            return _usage(p, f"--at {args.at!r} is not an ISO-8601 timestamp")
    from jobs._identity import cli_actor
    from core.context import AppContext
    from jobs._models import Outcome, no_data, run_each, selected_models
    from monitoring.drift.service import run_drift_check
    from monitoring.logs.store import latest_timestamp

    ctx = AppContext.create()
    actor = cli_actor(ctx)
    gate = bool(args.fail_on_drift)

    def check(model: str) -> Outcome:
        if latest_timestamp(ctx.settings, model) is None:
            return no_data("nothing ingested yet", gate=gate)
        view = run_drift_check(ctx, actor, model, window=args.window, at=at)
        end = getattr(view, "window_end", at)
        status = getattr(view, "status", "ok")
        if status == "no_data":
            return no_data(f"no rows in the {args.window} window ending {end}", gate=gate)
        drifted = getattr(view, "drifted_features", 0)
        n_drifted = drifted if isinstance(drifted, int) else len(drifted or [])
        share = getattr(view, "share_drifted", None)
        share_txt = f" ({share:.0%} of features)" if isinstance(share, float) else ""
        line = (f"drift window {args.window} ending {end}: {n_drifted} drifted{share_txt}, "
                f"max severity {getattr(view, 'max_severity', 'none')}")
        if status == "quality_failed":  # a feature without usable values cannot pass a gate
            failing = (getattr(view, "quality", None) or {}).get("data_quality_failures") or []
            line += f"; DATA QUALITY FAILED: no usable values in {', '.join(map(str, failing)) or 'a feature'}"
            return Outcome(EXIT_DRIFT if gate else EXIT_OK, line)
        return Outcome(EXIT_DRIFT if n_drifted and gate else EXIT_OK, line)

    return run_each(selected_models(ctx, args.model), check)


if __name__ == "__main__":
    sys.exit(run_main(main))
