"""The demo's release requests, so that the Approvals page has something real to show.

- **Open**: a fourth breast-cancer version (the demo's first retrain, trained and registered in
  the demo MLflow, audited as ``model.retrain``) passes its quality gates and waits for the
  approvals of the models file's chain: two reviewers (``reviewer`` and ``reviewer2``), then the
  ``security`` approver. The scheduler account opens it, as the registry-polling job would.
- **Rejected**: a request for diabetes version 1 (the quick 10-stump baseline), rejected by the
  ``reviewer`` account with its comment. Demo accounts act only in demo mode, so outside it
  this part waits for the next build in demo mode (the step runs on every build and does only
  what is missing).

Everything goes through governance.releases (permissions checked, every step audited).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.actor import Actor

Progress = Callable[[str], None]
OPEN_MODEL, REJECTED_MODEL, REJECTED_VERSION = "breast-cancer", "diabetes", "1"
REVIEWER = "reviewer"  # the demo account that rejects
REJECT_COMMENT = ("A quick baseline (10 stumps) that is weaker than the champion, version 3: "
                  "not worth a release. Retrain from the champion's recipe instead.")
RETRAIN_SPEC = "retrain-1"  # demo.models.retrain_spec's name of the first retrain


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


def _fourth_version(ctx: Any, job: Actor, progress: Progress) -> str:
    from demo import publish
    from demo.actions import retrain_model
    from demo.build import quiet_libraries

    quiet_libraries()
    spec = ctx.models.get(OPEN_MODEL)
    have = publish.registered_specs(publish.client_for(ctx.settings), spec.registered_model)
    if RETRAIN_SPEC in have:
        return have[RETRAIN_SPEC]
    return str(retrain_model(ctx, job, OPEN_MODEL, progress)["version"])  # model.retrain, audited


def _open(ctx: Any, job: Actor, progress: Progress) -> dict[str, Any]:
    from governance.releases import request_release

    version = _fourth_version(ctx, job, progress)
    existing = next((v for v in _requests(ctx, job.username, OPEN_MODEL) if v.version == version), None)
    if existing is not None:
        return {"request": existing.id, "version": version, "state": existing.state}
    view = request_release(ctx, job, OPEN_MODEL, version, reason="new version seen in the registry (demo)")
    gates = ", ".join(f"{g.name} {g.status}" for g in view.gates)
    progress(f"releases: request {view.id} ({OPEN_MODEL} version {version}) is {view.state}: {gates}")
    return {"request": view.id, "version": version, "state": view.state,
            "gates": {g.name: g.status for g in view.gates}}


def build_releases(ctx: Any, progress: Progress) -> dict[str, Any]:
    """Leave one rejected and one open release request (see the module docstring); idempotent."""
    from demo.pipeline import _job_actor

    job = _job_actor(ctx)
    return {"rejected": _rejected(ctx, job, progress), "open": _open(ctx, job, progress)}
