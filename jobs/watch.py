"""The auto-rollback watcher outside the scheduler: check champions on probation, roll back on breach.

    python -m jobs.watch [--once] [--model NAME | --all]   # one check of each model on probation
    python -m jobs.watch --loop [--model NAME | --all]     # check each when due until SIGTERM/SIGINT

``python -m jobs.scheduler`` already runs this watcher on its leader; use this command where the
scheduler does not run (cron for ``--once``, a Deployment or systemd unit for ``--loop``). Running
both is safe: a model is checked by one watcher at a time (a named lock) and the checks are stored,
so the run of consecutive breaches is the same whoever checks. What a check does, and when a
rollback follows, is governance.auto_rollback's rule (README "Auto-rollback"); models whose
``auto_rollback`` policy is off are left alone.

Acts as the job account (VIGIL_JOB_USER) or, with VIGIL_TOKEN, the token's owner: it needs
``model.rollback`` on the model when a rollback is due (the refusal is audited); the rollback is
made as actor ``system``.

``--once`` prints one line per model and exits: 0 when every check ran (a pass, a breach, no
evidence, or a rollback done), 1 when a rollback failed, 2 bad arguments, 4 the account may not
roll back, 5 the data source (Prometheus, the log store) or the database did not answer.
``--loop`` exits 0 when stopped by a signal.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from jobs._cli import (
    EXIT_DENIED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    log,
    parser,
    run_main,
    setup_logging,
)
from jobs._identity import AS_HELP


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("watch", __doc__ or "")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="check each model on probation once and exit (default)")
    mode.add_argument("--loop", action="store_true", help="check each model when due until stopped")
    from jobs._models import add_model_selection

    add_model_selection(p)
    p.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP)
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    from core.context import AppContext
    from governance.auto_rollback import check_model
    from governance.auto_rollback_watcher import Watcher
    from jobs._identity import cli_actor
    from jobs._models import Outcome, run_each, selected_models

    ctx = AppContext.create()
    actor = cli_actor(ctx, args.as_user)
    models = selected_models(ctx, args.model)
    if args.loop:
        stop = threading.Event()

        def on_signal(signum: int, _frame: Any) -> None:
            log.info("signal %s: stopping after the current check", signum)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        Watcher(ctx, actor, models=models).run(stop)
        return EXIT_OK

    def step(model: str) -> Outcome:
        result = check_model(ctx, actor, model, force=True)
        if result.denied:
            return Outcome(EXIT_DENIED, result.why)
        if result.failed:
            return Outcome(EXIT_FAILED, result.why)
        if result.checked is not None and result.checked.outcome == "degraded":
            return Outcome(EXIT_UNAVAILABLE, result.why)
        return Outcome(EXIT_OK, result.why)

    return run_each(models, step)


if __name__ == "__main__":
    sys.exit(run_main(main))
