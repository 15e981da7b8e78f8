"""Scheduled entry point for ``python -m jobs.audit checkpoint`` (the scheduler runs ``jobs.<name>``).

    python -m jobs.audit_checkpoint        # the same as: python -m jobs.audit checkpoint
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from jobs._cli import run_main


def main(argv: Sequence[str] | None = None) -> int:
    from jobs.audit import main as audit_main

    return audit_main(["checkpoint", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(run_main(main))
