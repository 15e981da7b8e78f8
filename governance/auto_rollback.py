"""Auto-rollback: watch a newly promoted champion during its probation, roll it back when it breaches.

Owns the rule of the ``auto_rollback`` policy of a model (core.config.AutoRollbackPolicy, off by
default) and its stored checks (governance.auto_rollback_tables):

- **Probation.** A model is on probation while the last recorded move of its ``champion`` alias
  (governance.release_tables.AliasMove) is a ``promotion`` less than ``probation_hours`` old. A
  rollback, a restore or a move made outside the console ends it.
- **A check** (:func:`check_model`) reads the champion version's request count, error ratio and p99
  latency over the last ``window_seconds``: from Prometheus when ``PROMETHEUS_URL`` is set and the
  model's metrics are found there (the SLO service's presets and detection, narrowed to the
  version where the series carry a ``model_version`` or ``version`` label), else from the ingested
  inference logs (monitoring.slo.logs_source.summary: the p99 of successful requests, the share
  of requests that failed). The verdict (:func:`judge`) is ``breach`` (a threshold exceeded),
  ``pass`` (every configured threshold had a value within it), ``no_evidence`` (fewer than
  ``min_requests`` requests, or no value for a threshold) or ``degraded`` (the source did not
  answer). Only ``breach`` and ``pass`` count: no evidence and an outage neither extend nor reset
  the run of consecutive breaches (:func:`next_streak`).
- **Every check is stored** with its streak, so the count survives a restart or a failover of
  the scheduler, and the next check falls due ``check_seconds`` after a check (``confirm_seconds``
  after a breach) whichever process makes it.
- **The rollback.** When ``consecutive`` checks in a row breached, the champion goes back to the
  version the promotion replaced (governance.promotion.move_champion_back: alias lock, outside-move
  check, ``previous-champion`` kept, deployment hook, ``alias_moves`` row of kind ``rollback``),
  only while the probation version is still the champion. The actor is ``system``; the grant
  checked is the watcher's own account's ``model.rollback`` on the model (the job account,
  ``VIGIL_JOB_USER``): a refusal is audited ``denied`` against that account, as every refusal is.
  The move is audited as ``model.rollback`` by ``system`` (details: old and new version, the
  breach, the check, ``trigger: auto_rollback`` and the account whose grant allowed it), recorded
  as a job run ``auto_rollback`` and posted to ``VIGIL_WEBHOOK_URL`` (monitoring.health.notify's
  sender, with its retries). A failed rollback is audited ``failed``, notified, and tried again at
  the next breaching check (at most once a minute).

Two watchers (two schedulers' leaders in a split second, or the scheduler and
``python -m jobs.watch``) never check one model at once: a check holds the named lock
``auto_rollback:<model>`` (core.locks) and a busy lock skips the model for that turn.

Reads for the Releases page live in governance.auto_rollback_reads (:func:`probation_status`,
:func:`recent_checks`, re-exported here); governance.auto_rollback_watcher.Watcher runs the checks
in a loop (jobs.scheduler on the leader, jobs.watch).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.actor import Actor
from core.config import AutoRollbackPolicy, ModelSpec
from core.db import retry_busy, session_scope, write_scope
from core.errors import PermissionDenied
from core.redact import redact_text
from core.timeutil import aware, utc_or_now
from governance.auto_rollback_reads import (  # noqa: F401  (re-exported: the page's read API)
    CheckView,
    Probation,
    ProbationStatus,
    _check_view,
    _last_check,
    probation_of,
    probation_status,
    recent_checks,
)
from governance.auto_rollback_tables import AutoRollbackCheck
from governance.rbac import Action, require

log = logging.getLogger("vigil.auto_rollback")

SYSTEM = "system"  # the actor an automatic rollback is made as (as governance.retrain's policy)
JOB = "auto_rollback"  # the job-run name of an automatic rollback
RETRY_FAILED_S = 60.0  # a failed rollback is tried again at most this often
VERSION_LABELS = ("model_version", "version")  # Prometheus labels that may carry the version


# -- the evidence and the verdict (pure) --------------------------------------------------------
@dataclass(frozen=True)
class Evidence:
    """The champion version's figures over the check window, and where they came from."""

    source: str  # prometheus | logs | none
    requests: float | None = None
    error_ratio: float | None = None
    p99_ms: float | None = None
    note: str = ""  # which series or store was read
    error: str | None = None  # the source did not answer: the check is degraded


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.2f} %"


def _ms(ms: float) -> str:
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.2g} ms"


def judge(policy: AutoRollbackPolicy, evidence: Evidence) -> tuple[str, str]:
    """(outcome, detail) of one check: ``degraded`` when the source failed, ``no_evidence`` with
    too few requests, ``breach`` when a configured threshold is exceeded, ``pass`` when every
    configured threshold had a value within it, ``no_evidence`` when one had no value."""
    if evidence.error is not None:
        return "degraded", evidence.error
    window = f"the last {policy.window_seconds} s"
    count = evidence.requests
    if count is None or count < policy.min_requests:
        seen = "no" if not count else f"{count:.0f}"
        return "no_evidence", f"{seen} requests in {window} (needs {policy.min_requests})"
    breaches, within, missing = [], [], []
    limits = (("error ratio", "error ratio", evidence.error_ratio, policy.max_error_ratio, _pct),
              ("p99 latency", "p99", evidence.p99_ms, policy.max_p99_ms, _ms))
    for name, label, value, limit, show in limits:
        if limit is None:
            continue
        if value is None:
            missing.append(name)
        else:
            (breaches if value > limit else within).append(
                f"{label} {show(value)} {'>' if value > limit else '<='} {show(limit)}")
    tail = f" over {window} ({count:.0f} requests)"
    if breaches:
        return "breach", "; ".join(breaches) + tail
    if missing:
        return "no_evidence", f"no {' or '.join(missing)} value" + tail
    return "pass", "; ".join(within) + tail


def next_streak(previous: int, outcome: str) -> int:
    """Consecutive breaches after a check: a breach adds one, a pass resets to 0, no evidence and
    a degraded check leave the count as it was (they are neither a breach nor a pass)."""
    if outcome == "breach":
        return previous + 1
    if outcome == "pass":
        return 0
    return previous


def interval_after(policy: AutoRollbackPolicy, outcome: str | None) -> float:
    """Seconds from a check to the next: ``confirm_seconds`` after a breach, else ``check_seconds``."""
    return policy.confirm_interval if outcome == "breach" else policy.check_seconds


# -- reading the evidence ------------------------------------------------------------------------
def _prometheus_evidence(ctx: Any, spec: ModelSpec, version: str, at: datetime, url: str) -> Evidence | None:
    """The figures from Prometheus; None when the model has no metrics there (use the logs)."""
    from monitoring.slo import presets
    from monitoring.slo.burn import error_ratio
    from monitoring.slo.prometheus import PrometheusConfig, PrometheusSource
    from monitoring.slo.service import configured_presets, detect_preset
    from monitoring.slo.spec import render

    policy = spec.auto_rollback
    source = PrometheusSource(PrometheusConfig.from_env(url))
    name = configured_presets().get(spec.name) or detect_preset(source, spec.name, at)
    if name is None:
        return None
    preset = presets.get(name)
    labels = preset.labels_for(spec.name)
    scope = "all versions (no version label)"
    for label in VERSION_LABELS:
        if source.has_series(preset.detect_metric + presets.selector({**labels, label: version}), at):
            labels[label] = version
            scope = f"{label}={version}"
            break
    window = f"{policy.window_seconds}s"
    queries = presets.availability_queries(preset, labels)
    total = errors = None
    if queries is not None:
        total = source.scalar(render(queries[1], window), at)
        errors = source.scalar(render(queries[0], window), at) if total else None
    quantile = preset.quantile(0.99, labels, window)
    p99 = source.scalar(quantile, at) if quantile else None
    return Evidence("prometheus", None if total is None else total * policy.window_seconds,
                    error_ratio(errors, total), p99, f"preset {name}, {scope}")


def _logs_evidence(ctx: Any, spec: ModelSpec, version: str, at: datetime) -> Evidence:
    from core.storage import logstore_location
    from monitoring.slo import logs_source

    store = logstore_location(ctx.settings)
    figures = logs_source.summary(store, spec.name, at, window=f"{spec.auto_rollback.window_seconds}s",
                                  apdex_t_ms=spec.thresholds.apdex_t_ms, version=version)
    return Evidence("logs", float(figures["requests"]), figures["error_rate"], figures["p99_ms"],
                    f"ingested logs, version {version}")


def gather_evidence(ctx: Any, spec: ModelSpec, version: str, at: datetime) -> Evidence:
    """The version's figures over the policy's window ending at ``at``: from Prometheus when it is
    configured and has the model's metrics, else from the logs. A source that fails gives an
    Evidence with ``error`` (never an exception): a degraded check."""
    url = ctx.settings.prometheus_url
    source = "prometheus" if url else "logs"
    try:
        if url:
            found = _prometheus_evidence(ctx, spec, version, at, url)
            if found is not None:
                return found
            source = "logs"
        return _logs_evidence(ctx, spec, version, at)
    except Exception as exc:  # noqa: BLE001  an outage is a degraded check, never a crash of the watcher
        first = (redact_text(str(exc)).strip().splitlines() or [type(exc).__name__])[0][:300]
        return Evidence(source, error=f"{source} unavailable: {first}")


# -- one check -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckResult:
    """What :func:`check_model` did for one model."""

    model: str
    checked: CheckView | None  # None: nothing to check (off, not on probation, not due, busy)
    why: str  # one line for logs and the CLI
    rolled_back: bool = False
    failed: bool = False  # the rollback was refused or failed
    denied: bool = False  # refused: the watcher's account may not roll the model back



def _last_failed_attempt(session: Any, promotion_id: int) -> datetime | None:
    return aware(session.scalar(select(AutoRollbackCheck.checked_at).where(
        AutoRollbackCheck.promotion_id == promotion_id, AutoRollbackCheck.action == "rollback_failed")
        .order_by(AutoRollbackCheck.id.desc()).limit(1)))


def due_in(ctx: Any, model: str, *, now: datetime | None = None) -> float | None:
    """Seconds until the model's next check falls due (0: now); None when it is not on probation."""
    now = utc_or_now(now)
    probation = probation_of(ctx, model, now=now)
    if probation is None:
        return None
    policy = ctx.models.get(model).auto_rollback
    with session_scope(ctx.engine) as session:
        last = _last_check(session, probation.promotion_id)
        if last is None:
            return 0.0
        due = aware(last.checked_at) + timedelta(seconds=interval_after(policy, last.outcome))  # type: ignore[operator]
    return min(max((due - now).total_seconds(), 0.0), (probation.ends_at - now).total_seconds())


def check_model(ctx: Any, actor: Actor, model: str, *, now: datetime | None = None,
                force: bool = False) -> CheckResult:
    """Check ``model``'s champion once if it is on probation and its check is due (``force``:
    whenever it is on probation); store the check; roll back after ``consecutive`` breaches.

    ``actor`` is the account running the watcher; its ``model.rollback`` grant is checked (and a
    refusal audited) when a rollback is due. Never raises for an unavailable Prometheus or log
    store (a degraded check); database errors propagate to the caller (the watcher logs them)."""
    from core.locks import LockBusy, named_lock

    spec = ctx.models.get(model)
    policy = spec.auto_rollback
    if not policy.enabled:
        return CheckResult(model, None, "auto-rollback off")
    try:
        lock = named_lock(ctx.engine, f"auto_rollback:{model}", wait_s=0)
    except LockBusy as exc:
        return CheckResult(model, None, f"another watcher is checking it ({exc.by().strip() or 'busy'})")
    with lock:
        moment = utc_or_now(now)
        probation = probation_of(ctx, model, now=moment)
        if probation is None:
            return CheckResult(model, None, "not on probation")
        if not force and (due_in(ctx, model, now=moment) or 0.0) > 0:
            return CheckResult(model, None, "not due")
        evidence = gather_evidence(ctx, spec, probation.version, moment)
        outcome, detail = judge(policy, evidence)
        if evidence.note and outcome != "degraded":
            detail = f"{detail} [{evidence.note}]"
        return _record_and_act(ctx, actor, spec, probation, evidence, outcome, detail, moment)


def _record_and_act(ctx: Any, actor: Actor, spec: ModelSpec, probation: Probation, evidence: Evidence,
                    outcome: str, detail: str, now: datetime) -> CheckResult:
    policy = spec.auto_rollback

    def write() -> tuple[int, int, datetime | None]:
        with write_scope(ctx.engine) as session:
            last = _last_check(session, probation.promotion_id)
            streak = next_streak(last.streak if last is not None else 0, outcome)
            failed_at = _last_failed_attempt(session, probation.promotion_id)
            row = AutoRollbackCheck(model=spec.name, version=probation.version,
                                    promotion_id=probation.promotion_id, checked_at=now, outcome=outcome,
                                    source=evidence.source, requests=evidence.requests,
                                    error_ratio=evidence.error_ratio, p99_ms=evidence.p99_ms, streak=streak,
                                    detail=detail[:2000])
            session.add(row)
            session.flush()
            return row.id, streak, failed_at

    check_id, streak, failed_at = retry_busy(write)
    line = f"v{probation.version} {outcome}: {detail} (breaches in a row: {streak}/{policy.consecutive})"
    log.info("auto-rollback check of %s: %s", spec.name, line)
    if outcome != "breach" or streak < policy.consecutive:
        return CheckResult(spec.name, _show_check(ctx, check_id), line)
    if failed_at is not None and (now - failed_at).total_seconds() < RETRY_FAILED_S:
        return CheckResult(spec.name, _show_check(ctx, check_id),
                           f"{line}; the last rollback attempt failed less than {RETRY_FAILED_S:g} s ago",
                           failed=True)
    return _roll_back(ctx, actor, spec, probation, check_id, streak, detail, now)


def _show_check(ctx: Any, check_id: int) -> CheckView:
    with session_scope(ctx.engine) as session:
        row = session.get(AutoRollbackCheck, check_id)
        assert row is not None
        return _check_view(row)


def _set_action(ctx: Any, check_id: int, action: str, detail: str) -> None:
    def write() -> None:
        with write_scope(ctx.engine) as session:
            row = session.get(AutoRollbackCheck, check_id)
            assert row is not None
            row.action, row.action_detail = action, detail[:2000]

    retry_busy(write)


def _roll_back(ctx: Any, actor: Actor, spec: ModelSpec, probation: Probation, check_id: int, streak: int,
               detail: str, now: datetime) -> CheckResult:
    """Roll the probation version back as ``system`` on ``actor``'s grant; audit, record, notify."""
    from core.runs import record_run
    from governance.promotion import move_champion_back

    model, policy = spec.name, spec.auto_rollback
    reason = (f"auto-rollback: version {probation.version} breached its probation thresholds in "
              f"{streak} consecutive checks ({detail})")
    system = Actor(SYSTEM, "job", f"auto-rollback watcher run by {actor.username}")
    audit: dict[str, Any] = {"trigger": "auto_rollback", "check_id": check_id, "promotion_id": probation.promotion_id,
                             "consecutive": policy.consecutive, "breach": detail[:500], "on_grant_of": actor.username}
    started = time.perf_counter()
    try:
        require(ctx, actor, Action.MODEL_ROLLBACK, model)  # the watcher's account: a refusal is audited
        with record_run(ctx.engine, JOB, model=model, actor=SYSTEM) as run:
            move = move_champion_back(ctx, system, model, reason=reason, to_version=probation.from_version,
                                      expect_champion=probation.version, now=now, note=audit, started=started)
            run.message = f"{model}: champion {move.old_version or '(none)'} -> {move.new_version} (auto-rollback)"
            run.details = {"old_version": move.old_version, "new_version": move.new_version, "check_id": check_id}
    except Exception as exc:  # noqa: BLE001  MLflow, the hook, the grant: recorded, retried later
        first = (redact_text(str(exc)).strip().splitlines() or [type(exc).__name__])[0][:500]
        message = f"{type(exc).__name__}: {first}"
        if not isinstance(exc, PermissionDenied):  # require() audited the refusal itself
            ctx.audit.append(system, Action.MODEL_ROLLBACK, model, "failed", reason=message,
                             details={**audit, "seconds": round(time.perf_counter() - started, 3)})
        _set_action(ctx, check_id, "rollback_failed", message)
        _notify(ctx, model, f"[Vigil] {model}: auto-rollback of version {probation.version} FAILED: {message}",
                reason, ok=False)
        log.error("auto-rollback of %s failed: %s", model, message)
        return CheckResult(model, _show_check(ctx, check_id), f"rollback failed: {message}", failed=True,
                           denied=isinstance(exc, PermissionDenied))
    seconds = round(time.perf_counter() - started, 3)
    ctx.audit.append(system, Action.MODEL_ROLLBACK, model, "success", reason=reason[:1000],
                     details={**audit, "old_version": move.old_version, "new_version": move.new_version,
                              "hook": move.hook, "alias_seconds": move.seconds, "seconds": seconds})
    outcome = f"champion {move.old_version} -> {move.new_version}"
    _set_action(ctx, check_id, "rolled_back", outcome)
    _notify(ctx, model, f"[Vigil] {model}: auto-rollback, {outcome}", reason, ok=True)
    log.warning("auto-rollback of %s: %s (%s)", model, outcome, detail)
    return CheckResult(model, _show_check(ctx, check_id), f"rolled back: {outcome}", rolled_back=True)


def _notify(ctx: Any, model: str, text: str, reason: str, *, ok: bool) -> None:
    """Post to VIGIL_WEBHOOK_URL (Slack-compatible, monitoring.health.notify's sender and retries)."""
    url = ctx.settings.webhook_url
    if not url:
        return
    from monitoring.health.notify import send

    body = {"text": redact_text(text), "attachments": [{
        "color": "#daa038" if ok else "#a30200", "fallback": redact_text(text),
        "fields": [{"title": "Reason", "value": redact_text(reason)[:1000], "short": False},
                   {"title": "Actor", "value": SYSTEM, "short": True}]}]}
    problem = send(url, body, retries=2, backoff=0.5)
    if problem:
        log.warning("auto-rollback notification for %s not sent: %s", model, problem)
