"""Check, export and read the tamper-evident audit log.

    python -m jobs.audit verify            # exit 0: last line "OK <n> entries head=<hash>"
                                           #   (+ " anchored at seq <m>, <time>" with checkpoints)
                                           # exit 1: last line "BROKEN at seq <n>: <what is wrong>"
    python -m jobs.audit checkpoint        # sign the chain head and write it outside the database
    python -m jobs.audit export --as auditor --format jsonl|csv|pdf --out audit.jsonl [--since 2026-11-01]
                                           # writes audit.jsonl, audit.jsonl.manifest.json, audit.jsonl.sig
    python -m jobs.audit verify-export audit.jsonl [--public-key vigil-export.pub.pem] [--against-db]
    python -m jobs.audit public-key --as auditor [--out vigil-export.pub.pem]
    python -m jobs.audit evidence --as auditor --model diabetes [--since ISO] [--until ISO] --out pack.zip
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
``export`` needs audit.export (and is itself audited). With ``--out FILE`` it writes a signed
export (governance.audit_export): FILE, FILE.manifest.json and FILE.sig (base64 Ed25519 signature
over the manifest); without ``--out`` a CSV or JSONL export goes to standard output unsigned (a
PDF needs ``--out``). ``verify-export FILE`` exits 0 when the three files are intact and 1,
printing each problem, when anything changed; with ``--public-key PEM`` it needs no database
(an auditor's machine); ``--against-db`` also checks the rows against the live chain (needs
audit.read). ``public-key`` prints or writes the PEM that verifies exports (audit.read or
audit.export). ``evidence`` writes a model's signed evidence pack (governance.evidence_pack: model
card, MLflow versions, releases, drift, SLOs, SHAP report hashes, the model's audit entries; the
last 30 days by default) as FILE.zip, FILE.zip.manifest.json and FILE.zip.sig; it needs
model.view on the model and audit.export, and is audited. ``tail`` needs audit.read. Outside demo
mode they act as the owner of the personal API token in VIGIL_TOKEN (``--as`` alone only works
in demo mode; see jobs/_identity.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from core.actor import Actor
from jobs._cli import EXIT_FAILED, EXIT_OK, EXIT_UNAVAILABLE, iso_time, parser, run_main, setup_logging
from jobs._identity import AS_HELP, cli_actor, os_identity


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
            c.add_argument("--format", required=True, choices=["csv", "jsonl", "pdf"])
            c.add_argument("--out", default=None,
                           help="file to write, signed: also FILE.manifest.json and FILE.sig (default: "
                                "standard output, unsigned; csv and jsonl only)")
        else:
            c.add_argument("-n", type=int, default=20, help="how many entries (default 20)")
    pu = sub.add_parser(
        "purge", help="delete entries older than a date, keeping the chain verifiable (admin; audited)",
        description="Delete the audit entries older than --before. Refused when that would remove an "
                    "entry younger than VIGIL_AUDIT_RETENTION_DAYS (default 400). The cut is signed as "
                    "a checkpoint (VIGIL_AUDIT_CHECKPOINT_KEY_FILE, written to VIGIL_AUDIT_CHECKPOINT_URL "
                    "when set) and recorded, so that `verify` still proves the rest of the chain.")
    pu.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP)
    pu.add_argument("--before", required=True, type=iso_time,
                    help="ISO-8601 time (UTC unless it has an offset): entries older than this go")
    pu.add_argument("--dry-run", action="store_true", help="report what would be purged; delete nothing")
    ve = sub.add_parser("verify-export", help="check a signed export: signature, manifest, file hash",
                        description="Exit 0 when FILE, FILE.manifest.json and FILE.sig are intact, 1 "
                                    "(printing each problem) when anything changed.")
    ve.add_argument("file", metavar="FILE")
    ve.add_argument("--public-key", default=None, metavar="PEM",
                    help="the console's public key file (default: this console's own key); no database needed")
    ve.add_argument("--against-db", action="store_true",
                    help="also check that the exported entries still match the live chain (needs audit.read)")
    ve.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP)
    ev = sub.add_parser("evidence", help="write a model's signed evidence pack (zip)",
                        description="One zip for one model and period: model card, versions and metrics, "
                                    "releases, drift and SLO summaries, SHAP report hashes, audit entries; "
                                    "signed like an export (FILE, FILE.manifest.json, FILE.sig).")
    ev.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP)
    ev.add_argument("--model", required=True)
    ev.add_argument("--since", default=None, help="ISO-8601 UTC start (inclusive; default: 30 days before --until)")
    ev.add_argument("--until", default=None, help="ISO-8601 UTC end (exclusive; default: now)")
    ev.add_argument("--out", required=True, help="the zip to write")
    pk = sub.add_parser("public-key", help="print or write the PEM public key that verifies exports")
    pk.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP)
    pk.add_argument("--out", default=None, help="file to write (default: standard output)")
    return p


def verify_export_command(args, ctx=None) -> int:  # type: ignore[no-untyped-def]
    """``verify-export``: print each problem; exit 0 intact, 1 anything changed."""
    from pathlib import Path

    from core.errors import InvalidInput
    from governance.audit_export import check_against_db, verify_export

    pem = None
    if args.public_key:
        try:
            pem = Path(args.public_key).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read the public key file {args.public_key}: {exc.strerror or exc}") from None
    problems = verify_export(args.file, public_key_pem=pem)
    if args.against_db and not problems:
        problems = check_against_db(ctx, cli_actor(ctx, args.as_user), args.file)
    for problem in problems:
        print(f"FAILED {args.file}: {problem}")
    if problems:
        return EXIT_FAILED
    checked = " and the live chain" if args.against_db else ""
    print(f"OK {args.file}: signature, manifest and file hash intact{checked}")
    return EXIT_OK


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

    if args.command == "verify-export" and not args.against_db:  # an auditor's machine: no database
        return verify_export_command(args)
    ctx = AppContext.create()
    if args.command == "verify-export":
        return verify_export_command(args, ctx)
    if args.command == "verify":
        def progress(n: int) -> None:
            if not args.quiet and n % 100_000 < args.batch_size:
                print(f"verified {n} entries...", file=sys.stderr, flush=True)

        from dataclasses import replace

        from core.errors import ServiceUnavailable
        from governance.audit_anchor import AnchorConfig, check_checkpoints
        from governance.audit_verify import default_workers

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
    if args.command == "evidence":
        from pathlib import Path

        from governance.evidence_pack import build_pack

        pack = build_pack(ctx, actor, args.model, args.since, args.until, file_name=Path(args.out).name)
        written = pack.write(args.out)
        parts = json.loads(pack.manifest)["evidence_pack"]["parts"]
        for part, status in parts.items():
            if status != "ok":
                print(f"warning: {part}: unavailable: {status}", file=sys.stderr)
        print(f"wrote {', '.join(map(str, written))} ({len(pack.data)} bytes, signed)", file=sys.stderr)
        return EXIT_OK
    if args.command == "public-key":
        from governance.audit_export import export_public_key

        pem = export_public_key(ctx, actor)
        if args.out:
            from pathlib import Path

            from core.artifacts import atomic_write_bytes

            atomic_write_bytes(Path(args.out), pem)
            print(f"wrote {args.out}", file=sys.stderr)
        else:
            sys.stdout.write(pem.decode("ascii"))
        return EXIT_OK
    if args.command == "export":
        if args.out:
            from pathlib import Path

            from governance.audit_export import export_signed

            signed = export_signed(ctx, actor, args.format, file_name=Path(args.out).name, **_filters(args))
            written = signed.write(args.out)
            print(f"wrote {', '.join(map(str, written))} ({len(signed.data)} bytes, "
                  f"{json.loads(signed.manifest)['entries']} entries, signed)", file=sys.stderr)
            return EXIT_OK
        if args.format == "pdf":
            from core.errors import InvalidInput

            raise InvalidInput("a PDF export needs --out FILE")
        data = export_audit(ctx, actor, args.format, **_filters(args))
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
