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

Reads for the Releases page (the viewer needs ``model.view`` on the model):
:func:`probation_status` (one :class:`ProbationStatus`: policy, state, version, window, streak,
last check, one sentence) and :func:`recent_checks` (the stored :class:`CheckView` rows, newest
first). :class:`Watcher` runs the checks in a loop (jobs.scheduler on the leader, jobs.watch).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.actor import Actor
from core.config import AutoRollbackPolicy, ModelSpec
from core.db import retry_busy, session_scope, write_scope
from core.errors import PermissionDenied
from core.redact import redact_text
from core.timeutil import aware, utc_or_now
from governance.auto_rollback_tables import AutoRollbackCheck
from governance.rbac import Action, require, require_view
from governance.registry import CHAMPION
from governance.release_tables import AliasMove

log = logging.getLogger("vigil.auto_rollback")

SYSTEM = "system"  # the actor an automatic rollback is made as (as governance.retrain's policy)
JOB = "auto_rollback"  # the job-run name of an automatic rollback
RETRY_FAILED_S = 60.0  # a failed rollback is tried again at most this often
VERSION_LABELS = ("model_version", "version")  # Prometheus labels that may carry the version


# -- what the page reads -----------------------------------------------------------------------
@dataclass(frozen=True)
class CheckView:
    """One stored probation check (see governance.auto_rollback_tables)."""

    id: int
    model: str
    version: str
    promotion_id: int
    checked_at: datetime
    outcome: str  # pass | breach | no_evidence | degraded
    source: str  # prometheus | logs | none
    requests: float | None
    error_ratio: float | None
    p99_ms: float | None
    streak: int  # consecutive breaches up to this check
    detail: str  # the values against the thresholds, or why there was no evidence
    action: str | None  # rolled_back | rollback_failed | None
    action_detail: str | None


@dataclass(frozen=True)
class ProbationStatus:
    """What the watcher does for a model now, for the Releases page.

    ``state``: ``off`` (policy disabled), ``no promotion`` (the champion was not promoted by the
    console, or never moved), ``watching`` (on probation: checks run), ``rolled back`` (the
    watcher rolled the last promotion back), ``ended`` (the probation is over or the champion
    moved since)."""

    model: str
    enabled: bool
    state: str
    version: str | None  # the promoted version on (or last on) probation
    promoted_at: datetime | None
    ends_at: datetime | None
    streak: int
    consecutive: int
    check_seconds: float
    max_error_ratio: float | None
    max_p99_ms: float | None
    window_seconds: int
    last_check: CheckView | None
    summary: str


def _check_view(row: AutoRollbackCheck) -> CheckView:
    return CheckView(row.id, row.model, row.version, row.promotion_id, aware(row.checked_at),  # type: ignore[arg-type]
                     row.outcome, row.source, row.requests, row.error_ratio, row.p99_ms, row.streak,
                     row.detail or "", row.action, row.action_detail)


def recent_checks(ctx: Any, viewer: str | None, model: str, *, limit: int = 50) -> list[CheckView]:
    """The last ``limit`` probation checks of ``model``, newest first; ``viewer`` needs ``model.view``."""
    ctx.models.get(model)  # NotFound names the configured models
    require_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        rows = session.scalars(select(AutoRollbackCheck).where(AutoRollbackCheck.model == model)
                               .order_by(AutoRollbackCheck.id.desc()).limit(limit))
        return [_check_view(r) for r in rows]


# -- probation -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Probation:
    """The promotion a model's champion is on probation for."""

    model: str
    version: str
    from_version: str | None  # the champion it replaced: where a rollback goes
    promotion_id: int  # alias_moves.id
    promoted_at: datetime
    ends_at: datetime

    def active(self, now: datetime) -> bool:
        return self.promoted_at <= now < self.ends_at


def _last_champion_move(session: Any, model: str) -> AliasMove | None:
    return session.scalar(select(AliasMove).where(AliasMove.model == model, AliasMove.alias == CHAMPION)
                          .order_by(AliasMove.moved_at.desc(), AliasMove.id.desc()).limit(1))


def _probation_from(row: AliasMove | None, policy: AutoRollbackPolicy) -> Probation | None:
    if row is None or row.kind != "promotion" or row.to_version is None:
        return None
    promoted = aware(row.moved_at)
    assert promoted is not None
    return Probation(row.model, row.to_version, row.from_version, row.id, promoted,
                     promoted + timedelta(hours=policy.probation_hours))


def probation_of(ctx: Any, model: str, *, now: datetime | None = None) -> Probation | None:
    """The model's probation at ``now``: None when the policy is off, the champion's last recorded
    move is not a promotion, or the promotion is older than ``probation_hours``."""
    spec = ctx.models.get(model)
    if not spec.auto_rollback.enabled:
        return None
    with session_scope(ctx.engine) as session:
        probation = _probation_from(_last_champion_move(session, model), spec.auto_rollback)
    return probation if probation is not None and probation.active(utc_or_now(now)) else None


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
    if policy.max_error_ratio is not None:
        if evidence.error_ratio is None:
            missing.append("error ratio")
        elif evidence.error_ratio > policy.max_error_ratio:
            breaches.append(f"error ratio {_pct(evidence.error_ratio)} > {_pct(policy.max_error_ratio)}")
        else:
            within.append(f"error ratio {_pct(evidence.error_ratio)} <= {_pct(policy.max_error_ratio)}")
    if policy.max_p99_ms is not None:
        if evidence.p99_ms is None:
            missing.append("p99 latency")
        elif evidence.p99_ms > policy.max_p99_ms:
            breaches.append(f"p99 {evidence.p99_ms:.0f} ms > {policy.max_p99_ms:g} ms")
        else:
            within.append(f"p99 {evidence.p99_ms:.0f} ms <= {policy.max_p99_ms:g} ms")
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


def _last_check(session: Any, promotion_id: int) -> AutoRollbackCheck | None:
    return session.scalar(select(AutoRollbackCheck).where(AutoRollbackCheck.promotion_id == promotion_id)
                          .order_by(AutoRollbackCheck.id.desc()).limit(1))


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


# -- the page's summary ------------------------------------------------------------------------
def probation_status(ctx: Any, viewer: str | None, model: str, *, now: datetime | None = None) -> ProbationStatus:
    """What the watcher does for ``model`` now (see :class:`ProbationStatus`); ``viewer`` needs
    ``model.view``. Reads only stored state: the alias moves and the stored checks."""
    spec = ctx.models.get(model)
    require_view(ctx, viewer, model)
    policy, now = spec.auto_rollback, utc_or_now(now)

    def status(state: str, summary: str, probation: Probation | None = None, last: CheckView | None = None,
               ) -> ProbationStatus:
        return ProbationStatus(model, policy.enabled, state, probation.version if probation else None,
                               probation.promoted_at if probation else None,
                               probation.ends_at if probation else None, last.streak if last else 0,
                               policy.consecutive, policy.check_seconds, policy.max_error_ratio, policy.max_p99_ms,
                               policy.window_seconds, last, summary)

    if not policy.enabled:
        return status("off", "Auto-rollback is off for this model.")
    with session_scope(ctx.engine) as session:
        current = _last_champion_move(session, model)
        promotion = session.scalar(select(AliasMove).where(
            AliasMove.model == model, AliasMove.alias == CHAMPION, AliasMove.kind == "promotion")
            .order_by(AliasMove.moved_at.desc(), AliasMove.id.desc()).limit(1))
        probation = _probation_from(promotion, policy)
        last_row = _last_check(session, probation.promotion_id) if probation else None
        last = _check_view(last_row) if last_row is not None else None
        rolled = probation is not None and session.scalar(select(AutoRollbackCheck).where(
            AutoRollbackCheck.promotion_id == probation.promotion_id, AutoRollbackCheck.action == "rolled_back")
            .limit(1)) is not None
    if probation is None:
        return status("no promotion", "No promotion by the console yet: nothing on probation.")
    if rolled:
        return status("rolled back", f"Version {probation.version} was rolled back automatically "
                      f"({last.action_detail if last and last.action_detail else 'see the checks'}).", probation, last)
    if current is None or current.id != probation.promotion_id or not probation.active(now):
        why = "the probation is over" if not probation.active(now) else "the champion moved since"
        return status("ended", f"Version {probation.version}: {why}; no automatic rollback.", probation, last)
    left = math.ceil((probation.ends_at - now).total_seconds() / 60)
    said = (f"last check {last.outcome} ({last.streak}/{policy.consecutive} breaches in a row)" if last
            else "no check yet")
    return status("watching", f"Version {probation.version} is on probation for {left} more minutes; {said}.",
                  probation, last)


# -- the loop --------------------------------------------------------------------------------------
@dataclass
class Watcher:
    """Runs :func:`check_model` for every model with the policy on, each when its check is due.

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


__all__ = ["CheckResult", "CheckView", "Evidence", "Probation", "ProbationStatus", "Watcher", "check_model",
           "due_in", "gather_evidence", "interval_after", "judge", "next_streak", "probation_of",
           "probation_status", "recent_checks", "run_checks"]
