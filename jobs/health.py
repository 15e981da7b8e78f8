"""Compute each model's health score, store it, export it as Prometheus metrics, notify on change.

    python -m jobs.health [--model NAME | --all] [--at ISO-8601] [--textfile PATH] [--no-notify]

Every configured model by default (as cron and the scheduler start it) or with --all; one
line per model. A model that fails does not stop the others; the job exits with the worst
code (see jobs/_models.py); the textfile is still written for the models that succeeded.

Each model's check goes through governance.runner.governed_run (``health.run`` checked first,
run recorded, timed, outcome audited). Stores one health snapshot per model (Overview and SLO
page read them), writes the metrics
textfile for node-exporter (``--textfile``, or ``VIGIL_HEALTH_TEXTFILE``; name it ``*.prom``)
and posts to ``VIGIL_WEBHOOK_URL`` when a model's level changes. A webhook that is down does
not fail the job: the notification is owed and sent at the next run. A model whose inventory
review is overdue (README "Model inventory") gets an "inventory review overdue" note, once a week.

Exit codes: 0 ok, 2 bad arguments, 4 permission denied, 5 a dependency is unavailable.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from jobs._cli import EXIT_OK, log, parser, run_main, setup_logging
from jobs._identity import AS_HELP


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("health", __doc__ or "")
    from jobs._models import add_model_selection

    add_model_selection(p, help_model="only this model (default: every configured model)")
    p.add_argument("--at", help="evaluation time, ISO-8601 (default: now)")
    p.add_argument("--textfile", help="write Prometheus metrics here for node-exporter's textfile "
                                      "collector (default: VIGIL_HEALTH_TEXTFILE)")
    p.add_argument("--no-notify", action="store_true", help="do not call the webhook")
    p.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP)
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    from core.settings import Settings

    args.textfile = args.textfile or Settings.from_env().health_textfile

    from jobs._identity import cli_actor
    from core.context import AppContext
    from jobs._models import Outcome, run_each, selected_models
    from jobs.slo import parse_at
    from monitoring.health.exporter import current_metrics, write_textfile
    from monitoring.health.service import run_health_check, weights_from_env

    weights_from_env()  # a bad VIGIL_HEALTH_WEIGHTS is one configuration error for the job, not one per model
    ctx = AppContext.create()
    actor = cli_actor(ctx, args.as_user)
    at = parse_at(args.at) if args.at else None

    def check(model: str) -> Outcome:
        view, outcome = run_health_check(ctx, actor, model, at=at, notify=not args.no_notify)
        score = "no data" if view.score is None else f"{view.score:.1f}"
        line = f"score {score} ({view.level})"
        if outcome is not None and outcome.changed:
            line += f"; level changed from {outcome.previous or 'unknown'}"
            line += ", notified" if outcome.sent else f", not notified ({outcome.error})"
        for reason in view.reasons()[:3]:
            line += f"\n  - {reason}"
        return Outcome(EXIT_OK, line)

    code = run_each(selected_models(ctx, args.model), check)
    if args.textfile:
        path = write_textfile(args.textfile, current_metrics(ctx))
        log.info("metrics written to %s", path)
    return code


if __name__ == "__main__":
    sys.exit(run_main(main))
