"""The model inventory from the command line: list it, export it, edit an entry (admins).

Examples:
    python -m jobs.inventory list --as vera [--fail-on-overdue]
    python -m jobs.inventory export --as aldo --format yaml --out inventory.yaml
    python -m jobs.inventory edit --as alice diabetes --set last_review=2026-11-30 \\
        --set validation=validated --reason "annual review"

``list`` prints one line per model you may view (owner, tier, status, versions, validation, the
review state); with ``--fail-on-overdue`` it exits 1 when a review is overdue (for a cron job or
CI). ``export`` writes the same rows as CSV or YAML (to stdout without ``--out``) and is audited.
``edit`` sets inventory fields (owner, purpose, risk_tier, status, last_review,
review_every_days, validation; an empty value clears risk_tier, last_review or
review_every_days); it needs ``inventory.edit`` (admins), is validated like the models file and
audited with the old and new values. See README "Model inventory".

Who acts: VIGIL_TOKEN, or ``--as USER`` in demo mode (see ``python -m jobs.access --help``).
Exit codes: 0 ok, 1 a review is overdue (--fail-on-overdue), 2 bad input, 4 permission denied,
5 a dependency is unavailable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from core.errors import InvalidInput
from jobs._cli import EXIT_FAILED, EXIT_OK, parser, run_main, setup_logging
from jobs._identity import AS_HELP, cli_actor


def build_parser() -> argparse.ArgumentParser:
    p = parser("inventory", __doc__ or "")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, help_text: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_text, description=help_text)
        c.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP)
        return c

    c = cmd("list", "the inventory of the models you may view")
    c.add_argument("--fail-on-overdue", action="store_true", help="exit 1 when a review is overdue")
    c = cmd("export", "write the inventory as CSV or YAML (audited)")
    c.add_argument("--format", choices=("csv", "yaml"), default="csv")
    c.add_argument("--out", default=None, help="file to write (default: standard output)")
    c = cmd("edit", "change inventory fields of one model (admins; audited)")
    c.add_argument("model")
    c.add_argument("--set", dest="fields", action="append", default=[], metavar="FIELD=VALUE",
                   required=True, help="a field and its new value; repeat for more fields")
    c.add_argument("--reason", default="", help="why (recorded in the audit log)")
    return p


def _fields(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--set {pair!r}: write FIELD=VALUE, e.g. --set risk_tier=high")
        out[name.strip()] = value.strip()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from core.context import AppContext
    from governance import inventory

    ctx = AppContext.create()
    actor = cli_actor(ctx, args.as_user)
    if args.command == "list":
        rows = inventory.inventory(ctx, actor.username)
        print(f"{'model':<20} {'owner':<30} {'tier':<12} {'status':<11} {'versions':<11} {'validation':<10} review")
        for r in rows:
            print(f"{r.model:<20} {(r.owner or '-')[:30]:<30} {r.risk_tier or 'not assessed':<12} {r.status:<11} "
                  f"{r.versions_text:<11} {r.validation:<10} {r.review_text}")
        if args.fail_on_overdue and any(r.overdue for r in rows):
            return EXIT_FAILED
    elif args.command == "export":
        data = inventory.export_inventory(ctx, actor, args.format)
        if args.out:
            Path(args.out).write_bytes(data)
            print(f"inventory written to {args.out} ({len(data):,} bytes, {args.format})")
        else:
            sys.stdout.write(data.decode("utf-8"))
    elif args.command == "edit":
        row = inventory.edit(ctx, actor, args.model, reason=args.reason, **_fields(args.fields))
        print(f"{row.model}: inventory saved ({row.review_text})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_main(main))
