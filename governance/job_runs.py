"""Job-run reads for people: the runs a viewer may see, checked here, not in the pages.

The runs domain's read service. core.runs owns the rows and their unchecked reads (for trusted
internal callers); every read here takes the ``viewer`` (a username, ``None`` for a trusted
internal caller) and shows a model's runs only to someone who may ``model.view`` it. Runs of
model-less jobs (demo, audit checkpoint, scheduler) are shown to anyone who may view at least
one model; someone who may view none sees nothing (deny by default).
"""

from __future__ import annotations

from typing import Any

from core.runs import JobRunView
from core.runs import latest_run_per_job as _latest_run_per_job
from core.runs import latest_runs as _latest_runs
from governance.rbac import permitted_models, require_view


def _visible(ctx: Any, viewer: str | None, runs: list[JobRunView]) -> list[JobRunView]:
    if viewer is None:
        return runs
    allowed = set(permitted_models(ctx, viewer))
    if not allowed:
        return []
    return [r for r in runs if r.model is None or r.model in allowed]


def latest_run_per_job(ctx: Any, *, viewer: str | None, model: str | None = None) -> list[JobRunView]:
    """The newest run of each (job, model) pair the viewer may see; with ``model``, that model's
    (refused unless the viewer may view it)."""
    if model is not None:
        require_view(ctx, viewer, model)
    return _visible(ctx, viewer, _latest_run_per_job(ctx.engine, model=model))


def latest_runs(ctx: Any, *, viewer: str | None, model: str | None = None, job: str | None = None,
                limit: int = 20) -> list[JobRunView]:
    """Newest runs first, only those the viewer may see (see core.runs.latest_runs)."""
    if model is not None:
        require_view(ctx, viewer, model)
    return _visible(ctx, viewer, _latest_runs(ctx.engine, model=model, job=job, limit=limit))


def last_run(ctx: Any, job: str, model: str, *, viewer: str | None) -> JobRunView | None:
    """The newest run of ``job`` for ``model`` (None before the first); needs ``model.view``."""
    require_view(ctx, viewer, model)
    return next((r for r in _latest_runs(ctx.engine, model=model, job=job, limit=5) if r.model == model), None)
