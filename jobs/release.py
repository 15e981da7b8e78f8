"""Release requests and approvals from the command line (for scripts and CI).

    python -m jobs.release list --as reviewer [--model breast-cancer] [--state open] [--decidable]
    python -m jobs.release show --as reviewer 12
    python -m jobs.release request --as operator --model breast-cancer [--version 4] [--reason "..."]
    python -m jobs.release approve --as reviewer 12 [--stage review] [--comment "looks good"]
    python -m jobs.release reject --as reviewer 12 --comment "ROC AUC below the champion's"
    python -m jobs.release rollback --as operator --model breast-cancer --reason "p99 spike" [--to 3]
    python -m jobs.release sync [--model breast-cancer]
    python -m jobs.release poll [--model breast-cancer]
    python -m jobs.release expire
    python -m jobs.release [cycle [--model breast-cancer]]   # what cron and the scheduler run

``request`` needs release.request on the model and evaluates the model's quality gates against
the metrics logged with the version in MLflow; ``approve``/``reject`` need release.approve and the
role of the request's current stage on the model (see governance.releases for the four-eyes and
one-decision-per-person rules). The final approval promotes the version (governance.promotion).
``rollback`` needs model.rollback and a reason, and prints the old and new version; ``sync``
(release.request, the job account's grant; schedule it like any job) records champion moves made
in MLflow directly as external changes. ``poll`` (release.request, the job account's grant) opens
a release request for each model's newest registered version when it is newer than the champion
and has never had a request (governance.release_poll: a version is requested once, so a rejected
one is not asked again). ``expire`` closes the open requests past their expiry (``expired``,
audited). Bare, or as ``cycle``, the command does what a schedule needs, in this order: expire,
then for every configured model (or ``--model``) poll and sync, one line per model; a model whose
registered model is not in MLflow yet is skipped with a line saying so. The models file's
``schedules: {release: ...}`` entry, deploy/crontab.example and deploy/kubernetes/cronjobs.yaml
run it bare, as the job account. Outside demo mode a person acts with their personal API
token in VIGIL_TOKEN (``--as`` alone only works in demo mode; see jobs/_identity.py).

Exit codes: 0 ok (also: nothing to request), 1 the request cannot be decided in its state
(closed, expired, blocking gates, a stage other than the current one) or the rollback cannot be
done (no previous champion, the target is already champion, the deployment hook failed and the
alias was put back), 2 bad input or unknown request/model/version, 4 permission denied
(audited), 5 the database or MLflow is unavailable. ``cycle`` exits with the worst code of its steps (jobs/_models.py's ranking).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from governance.release_tables import REQUEST_STATES
from jobs._cli import EXIT_OK, parser, run_main, setup_logging
from jobs._identity import AS_HELP, cli_actor


def build_parser():  # type: ignore[no-untyped-def]
    p = parser("release", __doc__ or "")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")  # none: the scheduled cycle

    def cmd(name: str, help_text: str):  # type: ignore[no-untyped-def]
        c = sub.add_parser(name, help=help_text, description=help_text)
        c.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP)
        return c

    c = cmd("list", "list release requests of the models you may view, newest first")
    c.add_argument("--model", default=None)
    c.add_argument("--state", default=None, choices=REQUEST_STATES)
    c.add_argument("--decidable", action="store_true", help="only those you may approve or reject now")
    c = cmd("show", "one request: gates, stages and decisions")
    c.add_argument("request_id", type=int)
    c = cmd("request", "open a release request for a registered version (default: the newest)")
    c.add_argument("--model", required=True)
    c.add_argument("--version", default=None)
    c.add_argument("--reason", default="")
    for name, help_text in (("approve", "approve the current stage of a request"),
                            ("reject", "reject a request (needs --comment)")):
        c = cmd(name, help_text)
        c.add_argument("request_id", type=int)
        c.add_argument("--stage", default=None,
                       help="the stage you mean to decide (refused if it is not the current one)")
        c.add_argument("--comment", default="", required=name == "reject")
    c = cmd("retrain", "queue a retrain of a model (python -m jobs.worker runs it); prints the job id")
    c.add_argument("--model", required=True)
    c.add_argument("--reason", required=True, help="why the model is retrained (kept with the job)")
    c = cmd("rollback", "point the champion back at the previous champion (or --to VERSION)")
    c.add_argument("--model", required=True)
    c.add_argument("--reason", required=True, help="why (required; goes into the audit log)")
    c.add_argument("--to", dest="to_version", default=None, metavar="VERSION",
                   help="the version to make champion (default: the previous champion)")
    c = cmd("sync", "record champion moves made outside the console (in MLflow directly)")
    c.add_argument("--model", default=None, help="one model (default: every configured model)")
    c = cmd("poll", "open a release request for each model's newest version if it is new (never requested)")
    c.add_argument("--model", default=None, help="one model (default: every configured model)")
    cmd("expire", "close the open release requests past their expiry")
    c = cmd("cycle", "what a schedule runs (also the bare command): expire, then poll and sync each model")
    c.add_argument("--model", default=None, help="one model (default: every configured model)")
    return p


def _t(moment) -> str:  # type: ignore[no-untyped-def]
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "-"


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def print_request(view) -> None:  # type: ignore[no-untyped-def]
    stage = view.current_stage.name if view.current_stage else "-"
    print(f"request {view.id}: {view.model} version {view.version} is {view.state} (stage {stage})")
    print(f"  requested by {view.requested_by} at {_t(view.opened_at)}, expires {_t(view.expires_at)}; "
          f"version author {view.version_author or 'unknown'}")
    if view.reason:
        print(f"  reason: {view.reason}")
    if view.closed_reason:
        print(f"  closed {_t(view.closed_at)}: {view.closed_reason}")
    print("  gates:")
    for g in view.gates:
        print(f"    {g.name:<24} {g.status:<12} value {_value(g.value):<10} "
              f"threshold {_value(g.threshold):<10} {g.mode:<9} {g.source}")
    print("  stages:")
    for s in view.stages:
        by = ", ".join(s.approved_by) or "-"
        print(f"    {s.name:<12} {s.role:<9} {len(s.approved_by)}/{s.approvals} approved by {by}")
    for d in view.decisions:
        print(f"  {_t(d.decided_at)} {d.approver} {d.done} {d.stage}: {d.comment}")


def retrain_cmd(ctx, actor, args) -> None:  # type: ignore[no-untyped-def]
    """``retrain --model M --reason "..."``: queue a retrain (governance.retrain.request_retrain:
    model.retrain on the model, exit 4 and audited when refused; exit 1 while another retrain of the
    model is queued or running). ``python -m jobs.worker`` runs the queue."""
    from governance.retrain import request_retrain

    job = request_retrain(ctx, actor, args.model, reason=args.reason)
    print(f"retrain {job.id} of {job.model} queued: {job.command} (timeout {job.timeout_s} s)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from core.context import AppContext
    from governance import releases

    ctx = AppContext.create()
    actor = cli_actor(ctx, getattr(args, "as_user", None))
    if args.command in (None, "cycle"):
        return cycle(ctx, actor, getattr(args, "model", None))
    if args.command == "poll":
        return poll(ctx, actor, args.model)
    if args.command == "list":
        views = releases.list_requests(ctx, actor.username, model=args.model, state=args.state,
                                       decidable=args.decidable)
        print(f"{'id':>5} {'model':<20} {'version':<8} {'state':<17} {'stage':<12} {'requested by':<16} "
              "opened")
        for v in views:
            stage = v.current_stage.name if v.current_stage else "-"
            print(f"{v.id:>5} {v.model:<20} {v.version:<8} {v.state:<17} {stage:<12} {v.requested_by:<16} "
                  f"{_t(v.opened_at)}")
    elif args.command == "show":
        print_request(releases.show_request(ctx, actor.username, args.request_id))
    elif args.command == "request":
        print_request(releases.request_release(ctx, actor, args.model, args.version, reason=args.reason))
    elif args.command == "approve":
        print_request(releases.approve(ctx, actor, args.request_id, comment=args.comment, stage=args.stage))
    elif args.command == "reject":
        print_request(releases.reject(ctx, actor, args.request_id, comment=args.comment, stage=args.stage))
    elif args.command == "retrain":
        retrain_cmd(ctx, actor, args)
    elif args.command == "rollback":
        rollback(ctx, actor, args)
    elif args.command == "sync":
        sync(ctx, actor, args)
    elif args.command == "expire":
        expire(ctx, actor)
    return EXIT_OK


def rollback(ctx, actor, args) -> None:  # type: ignore[no-untyped-def]
    from governance import promotion

    move = promotion.rollback(ctx, actor, args.model, reason=args.reason, to_version=args.to_version)
    print(f"{move.model}: champion rolled back from version {move.old_version or '(none)'} "
          f"to version {move.new_version}")
    print(f"  old version: {move.old_version or '(none)'}")
    print(f"  new version: {move.new_version}")
    print(f"  deployment hook: {move.hook}")


def sync(ctx, actor, args) -> None:  # type: ignore[no-untyped-def]
    from governance import promotion

    found = promotion.sync_aliases(ctx, actor, model=args.model)
    for m in found:
        print(f"{m.model}: {m.alias} moved outside the console from {m.from_version or '(none)'} "
              f"to {m.to_version or '(none)'} (recorded as an external change)")
    print(f"{len(found)} outside change(s) recorded")


def expire(ctx, actor) -> None:  # type: ignore[no-untyped-def]
    """Close the open requests past their expiry (governance.releases.expire_due: audited, one
    ``release.expire`` entry each; release.request on each request's model)."""
    from governance.releases import expire_due

    closed = expire_due(ctx, actor)
    print(f"{len(closed)} release request(s) past their expiry closed"
          + (f": {', '.join(str(i) for i in closed)}" if closed else ""), flush=True)


def poll(ctx, actor, model: str | None) -> int:  # type: ignore[no-untyped-def]
    """``poll``: governance.release_poll.poll_model for each model, one line each (jobs._models)."""
    from governance.release_poll import poll_model
    from jobs._models import Outcome, run_each, selected_models

    return run_each(selected_models(ctx, model),
                    lambda name: Outcome(EXIT_OK, poll_model(ctx, actor, name).line()))


class _CycleFailed(Exception):
    """A step of the cycle failed (its line is printed already): the job-run row says failed."""


def cycle(ctx, actor, model: str | None) -> int:  # type: ignore[no-untyped-def]
    """The scheduled cycle: expire the requests past their expiry, then for each model poll for a
    new version and record outside champion moves; returns the worst exit code of the steps.

    One job-run row ``release`` for the whole cycle (no model: the cycle runs every few minutes and
    would otherwise stand in for the monitoring jobs in each model's health score)."""
    from core.runs import record_run
    from governance import promotion
    from governance.release_poll import poll_model
    from jobs._models import Outcome, run_each, selected_models, worst

    models = selected_models(ctx, model)  # an unknown --model is exit 2 before anything runs

    def expire_step(_argv: Sequence[str] | None) -> int:
        expire(ctx, actor)
        return EXIT_OK

    def step(name: str) -> Outcome:
        polled = poll_model(ctx, actor, name)
        if not polled.registered:
            return Outcome(EXIT_OK, polled.line())
        moves = promotion.sync_aliases(ctx, actor, model=name)
        synced = "; ".join(f"{m.alias} moved outside the console from {m.from_version or '(none)'} to "
                           f"{m.to_version or '(none)'} (recorded)" for m in moves)
        return Outcome(EXIT_OK, f"{polled.line()}; {synced or 'no champion move outside the console'}")

    code = EXIT_OK
    try:
        with record_run(ctx.engine, "release", actor=actor.username) as run:
            # a refusal or an outage of the expiry is one line; the models still run
            code = worst([run_main(expire_step), run_each(models, step)])
            run.message = f"release cycle over {len(models)} model(s): exit {code}"
            run.details = {"exit_code": code, "models": models}
            if code != EXIT_OK:
                raise _CycleFailed(run.message)
    except _CycleFailed:
        pass
    return code


if __name__ == "__main__":
    sys.exit(run_main(main))
