"""The demo's release history, so that the Approvals and Releases pages have something real to show.

- **Rejected**: a request for diabetes version 1 (the quick 10-stump baseline), rejected by the
  ``reviewer`` account with its comment.
- **Rollback**: the ``operator`` rolls diabetes back from version 3 to version 2 with a reason
  (the bmi drift of days 20-23); the scheduler account then requests version 3 again and the
  ``reviewer`` approves it, which promotes it: the champion is version 3 again, version 2 the
  previous champion, and the alias history shows the rollback and the promotion with who and why.
- **Retrain**: the ``operator`` asks for a retrain of breast-cancer through the retrain queue
  (governance.retrain.request_retrain); the build then runs it as the worker does
  (jobs.worker.run_job, as the scheduler account): the models file's retrain command trains the
  fourth version (the demo's first retrain) and the worker opens its release request. The retrain
  job, with its log tail and the version it produced, is what the Releases page lists.
- **Open**: that request for breast-cancer version 4 passes its quality gates and waits for the
  approvals of the models file's chain: two reviewers (``reviewer`` and ``reviewer2``), then the
  ``security`` approver.

Demo accounts act only in demo mode, so outside it the parts they do wait for the next build in
demo mode (and the retrain is asked for by the scheduler account). The step runs on every build
and does only what is missing. The scheduler account also records the champions it finds in
MLflow (governance.promotion.sync_aliases), so the scheduler's release cycle finds nothing left to
do on a fresh demo.

Everything goes through the services (governance.releases, governance.promotion,
governance.retrain: permissions checked, every step audited).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.actor import Actor
from core.errors import Conflict

Progress = Callable[[str], None]
OPEN_MODEL, REJECTED_MODEL, REJECTED_VERSION = "breast-cancer", "diabetes", "1"
REVIEWER = "reviewer"  # the demo account that rejects
OPERATOR = "operator"  # the demo account that rolls back and asks for the retrain
REJECT_COMMENT = ("A quick baseline (10 stumps) that is weaker than the champion, version 3: "
                  "not worth a release. Retrain from the champion's recipe instead.")
RETRAIN_SPEC = "retrain-1"  # demo.models.retrain_spec's name of the first retrain
ROLLBACK_MODEL, ROLLBACK_FROM, ROLLBACK_TO = "diabetes", "3", "2"
ROLLBACK_REASON = ("bmi drift on days 20-23 (a referral campaign brings heavier patients): back to "
                   "version 2 while the drift is reviewed")
RERELEASE_REASON = "re-release of version 3 after the review of the bmi drift"
RERELEASE_COMMENT = ("The drift is in the population (the referral campaign), not a fault of version 3, "
                     "which passes its RMSE gate: release it again.")
RETRAIN_REASON = ("texture drift on days 18-21 (a new scanner at riverside-clinic): retrain from the "
                  "champion's recipe")


def _requests(ctx: Any, viewer: str, model: str) -> list[Any]:
    from governance.releases import list_requests

    return list_requests(ctx, viewer=viewer, model=model)


def _rejected(ctx: Any, job: Actor, progress: Progress) -> dict[str, Any]:
    from governance.releases import reject, request_release

    done = [v for v in _requests(ctx, job.username, REJECTED_MODEL) if v.state == "rejected"]
    if done:
        return {"request": done[0].id, "state": "rejected"}
    if not ctx.settings.demo_mode:
        progress("releases: the rejected request needs the demo's reviewer, who acts only in demo mode "
                 "(VIGIL_DEMO=true); skipped")
        return {"skipped": "demo mode off"}
    opened = next((v for v in _requests(ctx, job.username, REJECTED_MODEL)
                   if v.state == "open" and v.version == REJECTED_VERSION), None)
    if opened is None:
        opened = request_release(ctx, job, REJECTED_MODEL, REJECTED_VERSION,
                                 reason="new version seen in the registry (demo)")
    view = reject(ctx, Actor(REVIEWER, "job"), opened.id, comment=REJECT_COMMENT)
    progress(f"releases: request {view.id} ({REJECTED_MODEL} version {view.version}) rejected by {REVIEWER}")
    return {"request": view.id, "state": view.state}


def _person(name: str) -> Actor:
    from jobs._identity import os_identity

    return Actor(name, "job", os_identity())


def _champions(ctx: Any, job: Actor, progress: Progress) -> int:
    """Record the champions found in MLflow (set by the train step, outside the console)."""
    from governance.promotion import sync_aliases

    found = sync_aliases(ctx, job)
    for move in found:
        progress(f"releases: {move.model} champion version {move.to_version} recorded (set in MLflow)")
    return len(found)


def _history(ctx: Any, job: Actor, progress: Progress) -> dict[str, Any]:
    """diabetes: the operator's rollback 3 -> 2, then version 3 requested again and promoted."""
    from governance import promotion, releases
    from governance.registry import ModelRegistry
    from governance.release_reads import alias_moves

    moves = alias_moves(ctx, None, ROLLBACK_MODEL)
    rolled = next((m for m in moves if m.kind == "rollback"), None)
    again = next((v for v in _requests(ctx, job.username, ROLLBACK_MODEL) if v.version == ROLLBACK_FROM
                  and v.stored_state in ("open", "approved", "promotion_failed", "promoted")), None)
    if rolled is not None and again is not None and again.stored_state == "promoted":
        return {"rollback": f"{rolled.from_version} -> {rolled.to_version}", "request": again.id,
                "state": again.state}
    if not ctx.settings.demo_mode:
        progress("releases: the rollback history needs the demo's operator and reviewer, who act only in "
                 "demo mode (VIGIL_DEMO=true); skipped")
        return {"skipped": "demo mode off"}
    spec = ctx.models.get(ROLLBACK_MODEL)
    if rolled is None:
        champion = ModelRegistry(ctx.settings.mlflow_tracking_uri).aliases(spec.registered_model).get("champion")
        if champion != ROLLBACK_FROM:
            progress(f"releases: {ROLLBACK_MODEL}'s champion is version {champion}, not {ROLLBACK_FROM}: "
                     "the rollback history is left out")
            return {"skipped": f"champion is {champion}"}
        move = promotion.rollback(ctx, _person(OPERATOR), ROLLBACK_MODEL, reason=ROLLBACK_REASON,
                                  to_version=ROLLBACK_TO)
        progress(f"releases: {OPERATOR} rolled {ROLLBACK_MODEL} back from version {move.old_version} to "
                 f"version {move.new_version}")
    reviewer = _person(REVIEWER)
    if again is None:
        again = releases.request_release(ctx, job, ROLLBACK_MODEL, ROLLBACK_FROM, reason=RERELEASE_REASON)
    if again.stored_state == "open":
        again = releases.approve(ctx, reviewer, again.id, comment=RERELEASE_COMMENT)
    elif again.stored_state in ("approved", "promotion_failed"):
        again = promotion.retry_promotion(ctx, reviewer, again.id)
    progress(f"releases: request {again.id} ({ROLLBACK_MODEL} version {again.version}) approved by {REVIEWER}: "
             f"{again.state}")
    return {"rollback": f"{ROLLBACK_FROM} -> {ROLLBACK_TO}", "request": again.id, "state": again.state}


def _retrain(ctx: Any, job: Actor, progress: Progress) -> dict[str, Any]:
    """breast-cancer's first retrain through the queue, run here as the worker runs it."""
    from demo import publish
    from demo.build import quiet_libraries
    from governance.retrain import claim_next, list_retrains, request_retrain
    from jobs.worker import describe, run_job, worker_id

    jobs = list_retrains(ctx, job.username, OPEN_MODEL)
    done = next((j for j in jobs if j.state == "succeeded" and j.produced_version), None)
    if done is not None:
        return {"job": done.id, "state": done.state, "version": done.produced_version}
    quiet_libraries()
    spec = ctx.models.get(OPEN_MODEL)
    have = publish.registered_specs(publish.client_for(ctx.settings), spec.registered_model)
    if RETRAIN_SPEC in have:  # trained outside the queue by a build of an earlier release of Vigil
        progress(f"releases: {spec.registered_model} version {have[RETRAIN_SPEC]} was trained before retrains "
                 "went through the queue; rebuild (--force) for the retrain history")
        return {"skipped": "trained outside the queue", "version": have[RETRAIN_SPEC]}
    if not any(j.state in ("queued", "running") for j in jobs):
        asker = _person(OPERATOR) if ctx.settings.demo_mode else job
        queued = request_retrain(ctx, asker, OPEN_MODEL, reason=RETRAIN_REASON)
        progress(f"releases: retrain {queued.id} of {OPEN_MODEL} queued by {asker.username}")
    me = worker_id()
    final = None
    while (claimed := claim_next(ctx, me)) is not None:  # the queue, drained as `python -m jobs.worker` does
        progress(f"releases: retrain {claimed.id} of {claimed.model} running `{claimed.command}` ...")
        view = run_job(ctx, job, claimed, me)
        progress(f"releases: {describe(view)}")
        if view.model == OPEN_MODEL:
            final = view
    if final is None:
        raise Conflict(f"the retrain of {OPEN_MODEL} is running in another worker; run the build again "
                       "when it has finished")
    if final.state != "succeeded" or not final.produced_version:
        raise Conflict(f"retrain {final.id} of {OPEN_MODEL} failed: {final.error or 'no version produced'} "
                       "(its log: python -m jobs.release list, or the Releases page)")
    return {"job": final.id, "state": final.state, "version": final.produced_version,
            "release_request": final.release_request_id}


def _open(ctx: Any, job: Actor, progress: Progress, version: str, *, fresh: bool) -> dict[str, Any]:
    """The release request of the retrained version (the worker opened it; opened here if not);
    said when it is new (``fresh``: the retrain ran in this build)."""
    from governance.releases import request_release

    existing = next((v for v in _requests(ctx, job.username, OPEN_MODEL) if v.version == version), None)
    if existing is None:
        existing = request_release(ctx, job, OPEN_MODEL, version, reason="new version seen in the registry (demo)")
        fresh = True
    if fresh:
        gates = ", ".join(f"{g.name} {g.status}" for g in existing.gates)
        progress(f"releases: request {existing.id} ({OPEN_MODEL} version {version}) is {existing.state}: {gates}")
    return {"request": existing.id, "version": version, "state": existing.state,
            "gates": {g.name: g.status for g in existing.gates}}


def build_releases(ctx: Any, progress: Progress) -> dict[str, Any]:
    """Leave the release history of the module docstring; idempotent (does only what is missing)."""
    from demo.pipeline import _job_actor

    job = _job_actor(ctx)
    _champions(ctx, job, progress)
    out = {"rejected": _rejected(ctx, job, progress), "rollback": _history(ctx, job, progress),
           "retrain": _retrain(ctx, job, progress)}
    ran = "release_request" in out["retrain"]  # the retrain ran in this build
    out["open"] = _open(ctx, job, progress, out["retrain"]["version"], fresh=ran)
    return out
