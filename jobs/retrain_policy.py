"""Apply every model's retrain policy (the scheduled form of ``python -m jobs.worker --policy``;
the built-in scheduler runs ``jobs.<schedule name>`` bare).

    python -m jobs.retrain_policy [--model NAME | --all]

For each model (default: every configured one) one line: ``no retrain (policy off)``, ``no retrain
(no trigger)``, or ``retrain N queued (why)`` when the policy fires (dataset drift in each of the
last K drift runs, or at least N new labelled rows since the last succeeded retrain; see
governance.retrain.evaluate_policy). The job account needs ``model.retrain``; the retrain is
queued as actor ``system`` and the ``worker`` schedule runs it. Exit codes as jobs.worker's.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from jobs._cli import parser, run_main


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("retrain_policy", __doc__ or "")
    p.add_argument("--model", help="only this configured model")
    p.add_argument("--all", dest="all_models", action="store_true", help="every configured model (the default)")
    args = p.parse_args(argv)
    from jobs.worker import main as worker

    return worker(["--policy", *(["--model", args.model] if args.model else []),
                   *(["--verbose"] if args.verbose else [])])


if __name__ == "__main__":
    sys.exit(run_main(main))
