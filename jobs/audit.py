"""Check, export and read the tamper-evident audit log.

    python -m jobs.audit verify            # exit 0: last line "OK <n> entries head=<hash>"
                                           #   (+ " anchored at seq <m>, <time>" with checkpoints)
                                           # exit 1: last line "BROKEN at seq <n>: <what is wrong>"
    python -m jobs.audit checkpoint        # sign the chain head and write it outside the database
    python -m jobs.audit export --as auditor --format jsonl --out audit.jsonl [--since 2026-11-01]
    python -m jobs.audit tail --as auditor -n 20
    python -m jobs.audit purge --as admin --before 2025-01-01 [--dry-run]
                                           # exit 0 purged (or nothing to purge), 2 refused by the
                                           # retention period or bad input, 4 permission denied

``verify`` recomputes the whole SHA-256 chain (progress on stderr) and checks it against the newest
signed checkpoints (governance.audit_anchor): an entry rewritten before a checkpoint, or entries
deleted from the tail, are BROKEN even when every later hash was recomputed. Without
VIGIL_AUDIT_CHECKPOINT_URL it prints a warning line and checks the chain alone. ``checkpoint``
(scheduled) checks the chain since the newest checkpoint, signs (seq, head hash, count, time) with
the Ed25519 key in VIGIL_AUDIT_CHECKPOINT_KEY_FILE and writes it to every configured location.
``export`` needs audit.export (and is itself audited); ``tail`` needs audit.read. Outside demo
mode they act as the owner of the personal API token in VIGIL_TOKEN (``--as`` alone only works
in demo mode; see jobs/_identity.py).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from core.actor import Actor
from jobs._cli import EXIT_FAILED, EXIT_OK, EXIT_UNAVAILABLE, parser, run_main, setup_logging
from jobs._identity import AS_HELP, cli_actor, os_identity
from jobs.access import _when


def build_parser():  # type: ignore[no-untyped-def]
    p = parser("audit", __doc__ or "")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    v = sub.add_parser("verify", help="recompute the hash chain and report the first broken entry")
    v.add_argument("--batch-size", type=int, default=20_000, help="rows fetched per round trip")
    v.add_argument("--workers", type=int, default=None,
                   help="processes for a large SQLite log (default: one per core, at most 4)")
    v.add_argument("--quiet", action="store_true", help="no progress on stderr")
    v.add_argument("--checkpoints", type=int, default=10, metavar="N",
                   help="newest checkpoints to check per location (0: all; default 10)")
    v.add_argument("--anchor", action="append", default=None, metavar="URL",
                   help="read checkpoints from this directory/URL instead of VIGIL_AUDIT_CHECKPOINT_URL "
                        "(e.g. an auditor's copy; repeatable)")
    sub.add_parser("checkpoint", help="sign the chain head and write it where the database cannot rewrite it",
                   description="Check the chain since the newest checkpoint, then sign (seq, head, count, "
                               "time) and write it to every location in VIGIL_AUDIT_CHECKPOINT_URL.")
    for name, help_text in (("export", "write entries as CSV or JSON lines (audited)"),
                            ("tail", "print the newest entries")):
        c = sub.add_parser(name, help=help_text, description=help_text)
        c.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP)
        c.add_argument("--since", default=None, help="ISO-8601 UTC lower bound on ts (inclusive)")
        c.add_argument("--until", default=None, help="ISO-8601 UTC upper bound on ts (exclusive)")
        c.add_argument("--actor", default=None)
        c.add_argument("--action", default=None, help="an action, or a prefix like 'auth.*'")
        c.add_argument("--outcome", default=None, choices=["success", "denied", "failed"])
        if name == "export":
            c.add_argument("--format", required=True, choices=["csv", "jsonl"])
            c.add_argument("--out", default=None, help="file to write (default: standard output)")
        else:
            c.add_argument("-n", type=int, default=20, help="how many entries (default 20)")
    pu = sub.add_parser(
        "purge", help="delete entries older than a date, keeping the chain verifiable (admin; audited)",
        description="Delete the audit entries older than --before. Refused when that would remove an "
                    "entry younger than VIGIL_AUDIT_RETENTION_DAYS (default 400). The cut is signed as "
                    "a checkpoint (VIGIL_AUDIT_CHECKPOINT_KEY_FILE, written to VIGIL_AUDIT_CHECKPOINT_URL "
                    "when set) and recorded, so that `verify` still proves the rest of the chain.")
    pu.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP)
    pu.add_argument("--before", required=True, type=_when,
                    help="ISO-8601 time (UTC unless it has an offset): entries older than this go")
    pu.add_argument("--dry-run", action="store_true", help="report what would be purged; delete nothing")
    return p


def _filters(args) -> dict:  # type: ignore[no-untyped-def]
    keys = ("since", "until", "actor", "action", "outcome")
    return {k: getattr(args, k) for k in keys if getattr(args, k)}


def checkpoint(ctx) -> int:  # type: ignore[no-untyped-def]
    """Write one signed checkpoint (see the module docstring); the exit code of `checkpoint`."""
    from governance.audit_anchor import NOT_CONFIGURED, AnchorBroken, AnchorConfig, write_checkpoint

    config = AnchorConfig.from_env()
    if not config.configured:  # optional feature: the scheduled job stays green, and says so
        print(f"warning: {NOT_CONFIGURED}; no checkpoint written")
        return EXIT_OK
    config.private_key()  # a missing or wrong key is a configuration error before anything else
    actor = Actor(ctx.settings.job_user, "job", os_identity())
    try:
        cp, written = write_checkpoint(ctx, actor, config)
    except AnchorBroken as exc:
        print(str(exc))
        return EXIT_FAILED
    print(f"checkpoint seq {cp.seq} head={cp.head} at {cp.ts} written to {', '.join(written)}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from core.context import AppContext
    from governance.audit import export_audit, read_audit

    ctx = AppContext.create()
    if args.command == "verify":
        def progress(n: int) -> None:
            if not args.quiet and n % 100_000 < args.batch_size:
                print(f"verified {n} entries...", file=sys.stderr, flush=True)

        from governance.audit_verify import default_workers

        from dataclasses import replace

        from core.errors import ServiceUnavailable
        from governance.audit_anchor import AnchorConfig, check_checkpoints

        workers = default_workers() if args.workers is None else max(1, args.workers)
        anchor = AnchorConfig.from_env(urls=args.anchor)
        if anchor.configured:
            anchor.public_key()  # a missing or wrong key is a configuration error before the long check
        # the keys only (they check purge records); the checkpoints are checked just below
        chain = ctx.audit.verify(batch_size=max(100, args.batch_size), progress=progress, workers=workers,
                                 anchor=replace(anchor, sinks=()))
        try:
            report = check_checkpoints(ctx.engine, replace(chain, warning=""), anchor,
                                       max(0, args.checkpoints))
        except ServiceUnavailable as exc:  # the chain's own result still counts: print it, then exit 5
            print(chain.line())
            print(f"unavailable: {exc}", file=sys.stderr)
            return EXIT_UNAVAILABLE if chain.ok else EXIT_FAILED
        if report.warning:
            print(f"warning: {report.warning}")
        print(report.line())
        return EXIT_OK if report.ok else EXIT_FAILED
    if args.command == "checkpoint":
        return checkpoint(ctx)
    actor = cli_actor(ctx, args.as_user)
    if args.command == "purge":
        from governance.audit_retention import purge

        print(purge(ctx, actor, before=args.before, dry_run=args.dry_run).line())
        return EXIT_OK
    if args.command == "export":
        data = export_audit(ctx, actor, args.format, **_filters(args))
        if args.out:
            from core.artifacts import atomic_write_bytes
            from pathlib import Path

            atomic_write_bytes(Path(args.out), data)
            print(f"wrote {args.out} ({len(data)} bytes)", file=sys.stderr)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return EXIT_OK
    records = read_audit(ctx, actor, **_filters(args), limit=max(1, args.n), newest_first=True)
    for r in reversed(records):
        where = f"{r.source}@{r.client_addr}" if r.client_addr else r.source
        reason = f" ({r.reason})" if r.reason else ""
        print(f"{r.seq:>7} {r.ts} {r.actor} [{where}] {r.action} {r.resource} {r.outcome}{reason}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_main(main))
