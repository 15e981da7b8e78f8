"""The one way a governed job runs: check permission, record the run, time it, audit the outcome.

Every state-changing job of every domain (ingest, drift, SLO, health, SHAP, and the release
actions built on them) goes through :func:`governed_run`, so the order is the same everywhere::

    with governed_run(ctx, actor, "slo.run", model, job="slo") as run:
        ...                                   # the work
        run.message = "4 SLOs from prometheus"  # the job-run row's one line
        run.details = {...}                   # the job-run row's details
        run.audit = {...}                     # the audit entry's details

1. ``require`` checks the permission first: a refusal is audited as ``denied`` and raises
   PermissionDenied before anything is recorded or read.
2. A job-run row is stored as ``running`` (core.runs.record_run; skipped with ``record=False``
   for a step inside an outer recorded run, e.g. one window of a backfill).
3. The body runs; its wall time in seconds goes into the run's details and the audit entry.
4. The outcome is audited: ``success`` with ``run.audit`` (plus the run id and seconds), or
   ``failed`` with the error's type and first line as the reason, and the error is re-raised.

Errors become the documented exit codes in one place too: :func:`jobs._cli.run_main` for a
whole job and :func:`jobs._models.run_each` for the per-model loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from core.actor import Actor


@dataclass
class GovernedRun:
    """What the body of :func:`governed_run` fills in."""

    action: str
    model: str
    run_id: int | None = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def _reason(exc: BaseException) -> str:
    """The error's type and first line, redacted before it is cut (a cut secret would escape)."""
    from core.redact import redact_text

    first = (redact_text(str(exc)).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:500]


@contextmanager
def governed_run(ctx: Any, actor: Actor, action: str, model: str, *, job: str,
                 record: bool = True, failure_details: dict[str, Any] | None = None) -> Iterator[GovernedRun]:
    """Run the body as ``actor``'s ``action`` on ``model``, recorded as job ``job``.

    ``failure_details`` go into the ``failed`` audit entry (e.g. the window that was asked for)
    together with whatever the body had put into ``run.audit`` before it failed.
    """
    from core.runs import record_run
    from governance.rbac import require

    require(ctx, actor, action, model)
    run = GovernedRun(action=action, model=model)
    started = time.perf_counter()
    try:
        if record:
            with record_run(ctx.engine, job, model=model, actor=actor.username) as handle:
                run.run_id = handle.id
                try:
                    yield run
                finally:
                    run.seconds = round(time.perf_counter() - started, 3)
                    handle.message = run.message
                    handle.details = {**run.details, "seconds": run.seconds}
        else:
            try:
                yield run
            finally:
                run.seconds = round(time.perf_counter() - started, 3)
    except BaseException as exc:
        details = {**(failure_details or {}), **run.audit, "seconds": run.seconds}
        if run.run_id is not None:
            details["job_run_id"] = run.run_id
        ctx.audit.append(actor, action, model, "failed", reason=_reason(exc), details=details)
        raise
    details = {**run.audit, "seconds": run.seconds}
    if run.run_id is not None:
        details["job_run_id"] = run.run_id
    ctx.audit.append(actor, action, model, "success", details=details)
