"""Manage accounts and role grants from the command line.

Examples:
    python -m jobs.access bootstrap-admin alice --password-stdin < pw.txt   # first admin only
    python -m jobs.access create-user --as alice bob                        # prompts for a password
    python -m jobs.access create-user --as alice ci-bot --service           # no password
    python -m jobs.access grant --as alice bob operator --scope diabetes --reason "on call" \\
        --expires-at 2027-01-01T00:00:00Z
    python -m jobs.access revoke --as alice 7 --reason "left the team"
    python -m jobs.access list-users --as alice
    python -m jobs.access list-grants --as alice [--user bob] [--all]
    python -m jobs.access list-tokens [--all]          # your API tokens (--all: everyone's, admins)
    python -m jobs.access revoke-token 12              # your own, or anyone's with access.manage
    python -m jobs.access review --as aldo [--at 2026-11-01T12:00:00Z] [--format csv] [--out FILE]
    python -m jobs.access review --as aldo --who-can release.approve --model diabetes --at 2026-11-01

Who acts: outside demo mode a person acts only with their personal API token in VIGIL_TOKEN
(create it on the dashboard's "API tokens" page); ``--as`` may then be left out or must name the
token's owner. ``--as`` alone is accepted only in demo mode (VIGIL_DEMO=true). Without either,
the command acts as the job account (VIGIL_JOB_USER), which normally may not manage access.

    VIGIL_TOKEN=vgl_... python -m jobs.access grant bob operator --reason "on call"

Every change is checked against the acting person's grants (access.manage) and written to the
audit log with source "cli" and the OS user and host. Exit codes: 0 ok, 2 bad input,
4 permission denied (also an invalid, expired or revoked token), 1 other failure.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from core.errors import InvalidInput
from jobs._cli import EXIT_OK, iso_time, parser, run_main, setup_logging
from jobs._identity import AS_HELP, cli_actor

if TYPE_CHECKING:
    from core.actor import Actor
    from core.context import AppContext
    from governance.access_review import AccessReview, ReviewRow, WhoCan


def read_password(args: argparse.Namespace) -> str:
    """One line from stdin with --password-stdin, else an interactive prompt (typed twice)."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidInput("--password-stdin: no password on standard input")
        return password
    if not sys.stdin.isatty():
        raise InvalidInput("no terminal to prompt for a password: pass it with --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise InvalidInput("the two passwords differ")
    return first


def build_parser() -> argparse.ArgumentParser:
    p = parser("access", __doc__ or "")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, help_text: str, acting: bool = True) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_text, description=help_text)
        if acting:
            c.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP)
        return c

    c = cmd("bootstrap-admin", "create the first admin (only while no active admin exists)", acting=False)
    c.add_argument("username")
    c.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    c = cmd("create-user", "create a local account (or a service account with --service)")
    c.add_argument("username")
    c.add_argument("--display-name", default="")
    c.add_argument("--service", action="store_true", help="service account: no password, no sign-in")
    c.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    c = cmd("set-password", "set a user's password (also clears a lockout)")
    c.add_argument("username")
    c.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    c = cmd("grant", "grant a role on a model (or on every model with --scope '*')")
    c.add_argument("username")
    c.add_argument("role", help="viewer, operator, reviewer, auditor or admin")
    c.add_argument("--scope", default="*", help="a configured model name, or * (default)")
    c.add_argument("--reason", required=True, help="why the access is needed (recorded)")
    c.add_argument("--valid-from", type=iso_time, default=None, help="ISO-8601 start (default now)")
    c.add_argument("--expires-at", type=iso_time, default=None, help="ISO-8601 end (default never)")
    c = cmd("revoke", "revoke a grant now")
    c.add_argument("grant_id", type=int)
    c.add_argument("--reason", required=True)
    cmd("list-users", "list accounts")
    c = cmd("list-grants", "list grants (active and pending unless --all)")
    c.add_argument("--user", default=None)
    c.add_argument("--all", action="store_true", help="include expired and revoked grants")
    c = cmd("list-tokens", "list API tokens (never the token itself); create them on the dashboard")
    c.add_argument("--all", action="store_true", help="every person's tokens (needs access.manage)")
    c = cmd("revoke-token", "revoke an API token now (your own, or anyone's with access.manage)")
    c.add_argument("token_id", type=int)
    c = cmd("review", "access review (needs audit.read): grants active at a moment, what expires "
                      "within 30 days, accounts unused for 90 days; or who could do an action then")
    c.add_argument("--at", type=iso_time, default=None, help="ISO-8601 moment to review (default now)")
    c.add_argument("--format", choices=("text", "csv"), default="text", help="text (default) or csv")
    c.add_argument("--out", default=None, metavar="FILE", help="write to FILE instead of standard output")
    c.add_argument("--who-can", dest="who_can", default=None, metavar="ACTION",
                   help="answer who could perform ACTION (e.g. release.approve) at --at instead")
    c.add_argument("--model", default=None, help="the model --who-can asks about (not needed for global "
                                                 "actions such as audit.read)")
    return p


def _review_text(result: AccessReview) -> str:
    lines = [f"Access review at {_t(result.at)} ({len(result.rows)} active grant(s))",
             f"{'id':>5} {'user':<20} {'role':<9} {'scope':<16} {'since':<20} {'until':<20} "
             f"{'account':<10} granted_by: reason"]
    lines += [_row_text(r) for r in result.rows]
    lines += ["", f"Expiring within {result.expiring_days} days of {_t(result.at)}: {len(result.expiring)}"]
    lines += [_row_text(r) for r in result.expiring]
    lines += ["", f"Accounts unused for {result.unused_days} days (as of {_t(result.generated_at)}): "
                  f"{len(result.unused)}",
              f"{'user':<20} {'kind':<8} {'source':<6} {'created':<20} {'last used':<20} active grants"]
    for u in result.unused:
        last = _t(u.last_used_at) if u.last_used_at else "never"
        lines.append(f"{u.username:<20} {u.kind:<8} {u.auth_source:<6} {_t(u.created_at):<20} {last:<20} "
                     f"{u.active_grants}")
    return "\n".join(lines) + "\n"


def _row_text(g: ReviewRow) -> str:
    line = (f"{g.grant_id:>5} {g.username:<20} {g.role:<9} {g.scope:<16} {_t(g.valid_from):<20} "
            f"{_t(g.expires_at):<20} {g.account.split(' ')[0]:<10} {g.granted_by}: {g.reason}")
    if g.revoked_at is not None:
        line += f" [revoked later, {_t(g.revoked_at)} by {g.revoked_by}: {g.revoke_reason}]"
    return line


def _who_can_text(answer: WhoCan) -> str:
    head = (f"Who could {answer.action} on {answer.model} at {_t(answer.at)}: "
            f"{', '.join(answer.usernames) or 'nobody'}")
    return "\n".join([head, *(_row_text(r) for r in answer.rows)]) + "\n"


def _review(ctx: AppContext, actor: Actor, args: argparse.Namespace) -> str:
    from governance import access_review

    if args.who_can is None:
        if args.model is not None:
            raise InvalidInput("--model goes with --who-can ACTION")
        result = access_review.review(ctx, actor, at=args.at)
        return access_review.review_csv(result) if args.format == "csv" else _review_text(result)
    from governance.rbac import GLOBAL_ACTIONS

    if args.model is None and args.who_can not in GLOBAL_ACTIONS:
        raise InvalidInput(f"--who-can {args.who_can} needs --model (a configured model name, or '*' "
                           "for grants on every model)")
    answer = access_review.who_can(ctx, actor, args.who_can, args.model or "*", args.at)
    return access_review.rows_csv(answer.rows) if args.format == "csv" else _who_can_text(answer)


def _t(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "-"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from core.context import AppContext
    from governance import access, identity, rbac, tokens

    ctx = AppContext.create()
    actor = cli_actor(ctx, args.as_user) if args.command != "bootstrap-admin" else None
    if args.command == "bootstrap-admin":
        access.bootstrap_admin(ctx, args.username, read_password(args))
        print(f"admin {args.username} created with role admin on *")
    elif args.command == "create-user":
        password = None if args.service else read_password(args)
        user = identity.create_user(ctx, actor, args.username, password, display_name=args.display_name,
                                    is_service=args.service)
        kind = "service account" if user.is_service else "user"
        print(f"{kind} {user.username} created (no roles yet: use grant)")
    elif args.command == "set-password":
        identity.set_password(ctx, actor, args.username, read_password(args))
        print(f"password of {args.username} set")
    elif args.command == "grant":
        g = rbac.grant(ctx, actor, args.username, args.role, args.scope, reason=args.reason,
                       valid_from=args.valid_from, expires_at=args.expires_at)
        print(f"grant {g.id}: {g.username} is {g.role} on {g.scope} from {_t(g.valid_from)} "
              f"until {_t(g.expires_at)}")
    elif args.command == "revoke":
        g = rbac.revoke(ctx, actor, args.grant_id, reason=args.reason)
        print(f"grant {g.id} ({g.username} {g.role} on {g.scope}) revoked")
    elif args.command == "list-users":
        print(f"{'username':<24} {'kind':<8} {'source':<6} {'locked until':<20} display name")
        for u in identity.list_users(ctx, actor):
            kind = "service" if u.is_service else "demo" if u.is_demo else "user"
            print(f"{u.username:<24} {kind:<8} {u.auth_source:<6} {_t(u.locked_until):<20} {u.display_name}")
    elif args.command == "list-grants":
        now = rbac.utcnow()
        print(f"{'id':>5} {'user':<20} {'role':<9} {'scope':<16} {'status':<8} {'from':<20} "
              f"{'until':<20} granted_by: reason")
        for g in rbac.list_grants(ctx, actor, args.user, include_inactive=args.all):
            print(f"{g.id:>5} {g.username:<20} {g.role:<9} {g.scope:<16} {g.status(now):<8} "
                  f"{_t(g.valid_from):<20} {_t(g.expires_at):<20} {g.granted_by}: {g.reason}")
    elif args.command == "list-tokens":
        now = rbac.utcnow()
        print(f"{'id':>5} {'owner':<20} {'starts with':<12} {'status':<8} {'created':<20} {'expires':<20} "
              f"{'last used':<20} name")
        for t in tokens.list_tokens(ctx, actor, everyone=args.all):
            print(f"{t.id:>5} {t.username:<20} {t.prefix:<12} {t.status(now):<8} {_t(t.created_at):<20} "
                  f"{_t(t.expires_at):<20} {_t(t.last_used_at):<20} {t.name}")
    elif args.command == "revoke-token":
        t = tokens.revoke_token(ctx, actor, args.token_id)
        print(f"API token {t.id} ({t.name}, {t.prefix}...) of {t.username} revoked")
    elif args.command == "review":
        output = _review(ctx, actor, args)
        if args.out:
            try:
                with open(args.out, "w", encoding="utf-8", newline="") as handle:
                    handle.write(output)
            except OSError as exc:
                raise InvalidInput(f"cannot write {args.out}: {exc.strerror or exc}") from None
            print(f"access review written to {args.out}")
        else:
            sys.stdout.write(output)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_main(main))
