"""Sign the audit chain's head and write it outside the database (the scheduled form of
``python -m jobs.audit checkpoint``; the built-in scheduler runs ``jobs.<schedule name>``).

    python -m jobs.audit_checkpoint        # exit 0: "checkpoint seq <n> head=<hash> at <time> written to ..."
                                           # exit 1: "BROKEN ...": the chain no longer matches a checkpoint
                                           # exit 2: a location is set but no signing key (or a bad one)

Configuration: VIGIL_AUDIT_CHECKPOINT_URL, VIGIL_AUDIT_CHECKPOINT_KEY_FILE (README, "Anchoring the
audit log"). Without a location it prints a warning and writes nothing (exit 0).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from jobs._cli import parser, run_main, setup_logging


def main(argv: Sequence[str] | None = None) -> int:
    args = parser("audit_checkpoint", __doc__ or "").parse_args(argv)
    setup_logging(args.verbose)
    from core.context import AppContext
    from jobs.audit import checkpoint

    return checkpoint(AppContext.create())


if __name__ == "__main__":
    sys.exit(run_main(main))
