"""The auto-rollback watcher's loop: every model with the policy on checked when its check is due
(governance.auto_rollback.check_model), for ``python -m jobs.scheduler`` (a thread on the leader)
and ``python -m jobs.watch``, with its counters for ``/metrics``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.actor import Actor
from core.redact import redact_text
from governance.auto_rollback import CheckResult, check_model, due_in

log = logging.getLogger("vigil.auto_rollback")


# -- the loop --------------------------------------------------------------------------------------
@dataclass
class Watcher:
    """Runs governance.auto_rollback.check_model for every model with the policy on, each when its check is due.

    ``tick`` checks what is due and returns how long to wait; ``run`` loops until ``stop`` is set,
    only while ``leading()`` (jobs.scheduler passes its lease). An error of one model's check (the
    database down) is logged and counted, never raised: the loop carries on."""

    ctx: Any
    actor: Actor
    models: list[str] | None = None
    checks: dict[tuple[str, str], int] = field(default_factory=dict)  # (model, outcome) -> count
    rollbacks: dict[tuple[str, str], int] = field(default_factory=dict)  # (model, result) -> count
    errors: int = 0
    last_check_at: float | None = None  # UNIX time of the last check stored
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enabled_models(self) -> list[str]:
        names = self.models if self.models is not None else self.ctx.models.names
        return [n for n in names if self.ctx.models.get(n).auto_rollback.enabled]

    def _count(self, result: CheckResult) -> None:
        with self.lock:
            if result.checked is not None:
                key = (result.model, result.checked.outcome)
                self.checks[key] = self.checks.get(key, 0) + 1
                self.last_check_at = result.checked.checked_at.timestamp()
            if result.rolled_back or result.failed:
                key = (result.model, "success" if result.rolled_back else "failed")
                self.rollbacks[key] = self.rollbacks.get(key, 0) + 1

    def tick(self, *, force: bool = False) -> tuple[list[CheckResult], float]:
        """Check every due model; returns the results and the seconds until the next is due."""
        results, waits = [], []
        for model in self.enabled_models():
            try:
                result = check_model(self.ctx, self.actor, model, force=force)
                self._count(result)
                results.append(result)
                wait = due_in(self.ctx, model)
                waits.append(self.ctx.models.get(model).auto_rollback.check_seconds if wait is None else wait)
            except Exception as exc:  # noqa: BLE001  the database or a bug: logged, the loop goes on
                with self.lock:
                    self.errors += 1
                log.error("auto-rollback check of %s failed: %s", model, redact_text(f"{type(exc).__name__}: {exc}"))
                waits.append(5.0)
        return results, min(waits, default=30.0)

    def run(self, stop: threading.Event, leading: Callable[[], bool] = lambda: True) -> None:
        """Loop until ``stop`` is set: tick while leading, else wait a second and look again."""
        log.info("auto-rollback watcher started for %s", ", ".join(self.enabled_models()) or "no model")
        try:  # a rollback must not first spend seconds importing MLflow: the watcher runs for long
            import mlflow  # noqa: F401
        except ImportError:  # pragma: no cover - the registry reports it when it is needed
            pass
        while not stop.is_set():
            wait = 1.0
            if leading():
                _, wait = self.tick()
            stop.wait(min(max(wait, 0.2), 30.0))
        log.info("auto-rollback watcher stopped")

    def metric_samples(self) -> list[tuple[str, str, str, dict[str, Any], float | None]]:
        """The watcher's series for /metrics (jobs.scheduler's sample format)."""
        out: list[tuple[str, str, str, dict[str, Any], float | None]] = []
        with self.lock:
            for (model, outcome), count in sorted(self.checks.items()):
                out.append(("vigil_auto_rollback_checks_total", "counter",
                            "Probation checks stored by this watcher", {"model": model, "outcome": outcome},
                            float(count)))
            for (model, result), count in sorted(self.rollbacks.items()):
                out.append(("vigil_auto_rollback_rollbacks_total", "counter",
                            "Automatic rollbacks attempted by this watcher", {"model": model, "result": result},
                            float(count)))
            out.append(("vigil_auto_rollback_last_check_timestamp_seconds", "gauge",
                        "UNIX time of this watcher's last stored check", {}, self.last_check_at))
            out.append(("vigil_auto_rollback_errors_total", "counter",
                        "Checks that failed for want of the database (or a bug)", {}, float(self.errors)))
        return out


def run_checks(ctx: Any, actor: Actor, *, models: list[str] | None = None, now: datetime | None = None,
               force: bool = True) -> list[CheckResult]:
    """One check of every (or each named) model with the policy on that is on probation, due or
    not (``force``); what ``python -m jobs.watch --once`` runs."""
    names = models if models is not None else ctx.models.names
    return [check_model(ctx, actor, name, now=now, force=force) for name in names]
