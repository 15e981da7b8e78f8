"""Ingest new inference-log files into the Parquet log store, quarantining invalid rows.

    python -m jobs.ingest [--model NAME | --all] [--path URL] [--as USER]

For each configured model (the default, or --all; or only --model), reads the files under the model's ``logs``
location (or --path: a directory or any fsspec URL such as s3://bucket/logs/model/): JSONL,
CSV and Parquet, also gzip/zstd-compressed and logrotate's ``x.jsonl.1`` siblings. Only what
the ingest ledger has not seen is read (complete lines only; a file that grew yields its new
lines, a truncated or rotated one its new content). Each model's ingestion goes through
governance.runner.governed_run (``ingest.run`` checked first, run recorded, timed, outcome
audited with its counts). Prints one line per model:

    breast-cancer: rows read=N stored=S quarantined=Q (files ingested=F, skipped=K)

then one line per file it could not read, with the reason. rows read always equals stored +
quarantined. One ingestion per model runs at a time; a second waits for the first. A model
whose location fails does not stop the others (jobs/_models.py): its error is one line and the
job exits with the worst code, e.g. 5 for a remote location that does not answer.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from jobs._cli import EXIT_OK, parser, run_main, setup_logging
from jobs._identity import AS_HELP


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("ingest", __doc__ or "")
    from jobs._models import add_model_selection

    add_model_selection(p, help_model="only this configured model (default: every configured model)")
    p.add_argument("--path", help="read this directory or fsspec URL instead of the configured logs")
    p.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP)
    args = p.parse_args(argv)
    setup_logging(args.verbose)

    import core  # noqa: F401  (telemetry off)
    from jobs._identity import cli_actor
    from core.context import AppContext
    from core.errors import InvalidInput
    from jobs._models import Outcome, run_each, selected_models
    from monitoring.logs.ingest import ingest_model

    ctx = AppContext.create()
    if args.path and not args.model and len(ctx.models.names) > 1:
        raise InvalidInput("--path needs --model (which model's schema the files follow)")
    actor = cli_actor(ctx, args.as_user)

    def ingest(name: str) -> Outcome:
        result = ingest_model(ctx, actor, name, path=args.path)
        lines = [f"rows read={result.rows_read} stored={result.rows_stored} "
                 f"quarantined={result.rows_quarantined} (files ingested={result.files_ingested}, "
                 f"skipped={result.files_skipped})"]
        lines += [f"  note: {note}" for note in result.notes]
        lines += [f"  note: {url} was truncated, rotated or rewritten; its new content was read"
                  for url in result.files_rotated]
        lines += [f"  skipped: {url}: {reason}" for url, reason in result.skipped]
        return Outcome(EXIT_OK, "\n".join(lines))

    return run_each(selected_models(ctx, args.model), ingest)


if __name__ == "__main__":
    sys.exit(run_main(main))
