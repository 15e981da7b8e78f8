"""Model selection and the per-model loop shared by the cron-run jobs (drift, shap, slo, health).

Cron, the scheduler and the Kubernetes CronJobs start a job bare (``python -m jobs.drift``):
that means every configured model, and so does ``--all``; ``--model NAME`` means that one.

:func:`run_each` runs one step per model. A model that fails never stops the others: each
model gets one line (stdout when it ran, stderr when it failed, with the same one-line error
and exit code that :func:`jobs._cli.run_main` gives a whole job), and the job exits with the
worst code, ranked from worst to best::

    2 usage/configuration > 4 permission denied > 1 failure > 5 dependency unavailable
      > 6 no data (--fail-on-drift) > 3 drift or a data-quality failure (--fail-on-drift) > 0 ok

An error no service translated is one line too, never SQL: a database ``OperationalError``
(locked, timed out, connection lost) counts as 5, anything else as 1.

A model with no data yet (nothing ingested, no champion to explain) is a step outcome, not an
error: its line says ``no data`` and why, and it counts as 0 unless the job is a gate
(``jobs.drift --fail-on-drift``), where no data cannot pass and counts as 6, the code file mode
gives an empty current file.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import redirect_stderr
from dataclasses import dataclass
from typing import Any

from jobs._cli import (
    EXIT_DENIED,
    EXIT_DRIFT,
    EXIT_FAILED,
    EXIT_NO_DATA,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    log,
    run_main,
)

# Worst first: configuration problems hide every other result, a transient outage the least.
SEVERITY = (EXIT_USAGE, EXIT_DENIED, EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_NO_DATA, EXIT_DRIFT, EXIT_OK)


@dataclass(frozen=True)
class Outcome:
    """What one model's step did: the exit code it stands for and the line that says so."""

    code: int
    line: str


def no_data(reason: str, *, gate: bool = False) -> Outcome:
    """A model with nothing to work on yet: exit 0, or 6 (no data) when the job is a gate."""
    return Outcome(EXIT_NO_DATA if gate else EXIT_OK, f"no data ({reason})")


def worst(codes: Iterable[int]) -> int:
    """The worst of ``codes`` by :data:`SEVERITY`; unknown codes rank as failures; 0 if none."""
    rank = {code: i for i, code in enumerate(SEVERITY)}
    found = [c if c in rank else EXIT_FAILED for c in codes]
    return min(found, key=lambda c: rank[c], default=EXIT_OK)


def add_model_selection(p: argparse.ArgumentParser | argparse._ArgumentGroup, *,
                        help_model: str = "only this configured model") -> None:
    """``--model NAME`` or ``--all`` (the default: every configured model)."""
    which = p.add_mutually_exclusive_group()
    which.add_argument("--model", help=help_model)
    which.add_argument("--all", dest="all_models", action="store_true",
                       help="every configured model (the default when --model is absent)")


def selected_models(ctx: Any, model: str | None) -> list[str]:
    """The configured names to run; an unknown ``model`` raises NotFound (exit 2) before any runs."""
    if model:
        return [ctx.models.get(model).name]
    return list(ctx.models.names)


def _unexpected(exc: Exception) -> tuple[int, str]:
    """(exit code, one line) for an error no service translated; never SQL or parameters."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):  # a lock, timeout or lost connection never gets here: run_main's 5
        first = (str(exc.orig).strip().splitlines() or [""])[0][:300]
        return EXIT_FAILED, f"error: database error: {type(exc.orig).__name__}: {first}"
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return EXIT_FAILED, f"error: {type(exc).__name__}: {first}"


def run_each(models: Sequence[str], step: Callable[[str], Outcome]) -> int:
    """Run ``step`` for every model, print one line each, return the worst exit code."""
    codes = []
    for name in models:
        outcome: list[Outcome] = []

        def call(_argv: Sequence[str] | None, name: str = name, outcome: list[Outcome] = outcome) -> int:
            outcome.append(step(name))
            return outcome[0].code

        captured = io.StringIO()
        try:
            with redirect_stderr(captured):  # run_main's one line, to prefix it with the model
                code = run_main(call)
        except Exception as exc:  # noqa: BLE001 - one model's bug must not stop the others
            log.debug("%s failed", name, exc_info=True)
            code, message = _unexpected(exc)
            captured.write(message)
        lines = [line for line in captured.getvalue().splitlines() if line.strip()]
        if not outcome:  # the last line is the error; anything before it (warnings) passes through
            message = lines.pop() if lines else "failed"
        for line in lines:
            print(line, file=sys.stderr)
        if outcome:
            print(f"{name}: {outcome[0].line}", flush=True)
        else:
            print(f"{name}: {message.strip()} (exit {code})", file=sys.stderr, flush=True)
        codes.append(code)
        if code == 130:  # interrupted: stop, do not start the next model
            return code
    return worst(codes)
