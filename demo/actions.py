"""The demo's two state-changing commands, permission-checked and audited here (``jobs.demo``).

- :func:`retrain_model` (``--retrain MODEL``, each demo model's configured retrain command)
  needs ``model.retrain`` on that model; it audits the refusal, the start, and the outcome
  (``success`` with the new version, or ``failed`` with the error).
- :func:`reset_demo` (``--force``) wipes the demo's registered models, the log store, the
  quarantine and every stored monitoring result. It runs only in demo mode (outside it the
  refusal is audited and the command exits 2) and needs ``access.manage`` on ``*`` (an admin).
  What it wipes never includes accounts, grants, API tokens, job runs or the audit log
  (``demo.pipeline.KEEP_TABLES``), so the ``demo.reset`` entries, written before the wipe
  (``demo.reset.start``) and after it (``demo.reset`` with what was cleared), stay in the same
  hash chain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.actor import Actor
from core.errors import InvalidInput
from governance.rbac import Action, require

Progress = Callable[[str], None]
Trainer = Callable[[Any, str, Progress], dict[str, Any]]


def _train(ctx: Any, model: str, progress: Progress) -> dict[str, Any]:
    from demo.build import retrain

    return retrain(ctx, model, progress)


def retrain_model(ctx: Any, actor: Actor, model: str, progress: Progress, *,
                  trainer: Trainer | None = None) -> dict[str, Any]:
    """Train and register one new version of ``model``; needs model.retrain on it; audited."""
    spec = ctx.models.get(model)  # NotFound (exit 2) names the configured models
    require(ctx, actor, Action.MODEL_RETRAIN, model)
    ctx.audit.append(actor, "model.retrain.start", model, "success",
                     details={"registered_model": spec.registered_model})
    try:
        details = (trainer or _train)(ctx, model, progress)
    except Exception as exc:
        ctx.audit.append(actor, "model.retrain", model, "failed", reason=f"{type(exc).__name__}: {exc}"[:500])
        raise
    ctx.audit.append(actor, "model.retrain", model, "success",
                     details={k: details[k] for k in ("registered_model", "version", "spec") if k in details})
    return details


def check_reset(ctx: Any, actor: Actor) -> None:
    """Refuse (audited) unless in demo mode (InvalidInput, exit 2) and ``actor`` has access.manage."""
    if not ctx.settings.demo_mode:
        message = ("--force wipes the demo's registered models, logs and results and runs only in "
                   "demo mode (VIGIL_DEMO=true)")
        ctx.audit.append(actor, "demo.reset", "*", "denied", reason=message)
        raise InvalidInput(message)
    require(ctx, actor, Action.ACCESS_MANAGE, "*")


def reset_demo(ctx: Any, actor: Actor, progress: Progress) -> None:
    """Wipe the demo's models, logs and results before a rebuild: demo mode and access.manage."""
    check_reset(ctx, actor)
    ctx.audit.append(actor, "demo.reset.start", "*", "success")
    from demo.build import reset_registry
    from demo.pipeline import reset_monitoring

    try:
        deleted = reset_registry(ctx, progress)
        cleared = reset_monitoring(ctx, progress)
    except Exception as exc:
        ctx.audit.append(actor, "demo.reset", "*", "failed", reason=f"{type(exc).__name__}: {exc}"[:500])
        raise
    ctx.audit.append(actor, "demo.reset", "*", "success",
                     details={"registered_models_deleted": deleted, "cleared": cleared})
