"""The retrain queue: who may ask for a retrain, the queue's state changes, and the retrain policy.

Owns the rules of a retrain (the table is governance.retrain_tables; ``python -m jobs.worker``
runs the jobs through the queue operations below):

- :func:`request_retrain` (``model.retrain`` on the model, through governance.runner.governed_run:
  a refusal is audited ``denied``) queues a retrain of the model's configured ``retrain.command``.
  A model has at most one queued-or-running retrain: the database's unique ``active_model``
  refuses a second one even when two people click at the same moment (``Conflict``, audited
  ``failed``).
- :func:`list_retrains` / :func:`show_retrain` read jobs for a viewer with ``model.view``.
- :func:`claim_next` hands the oldest queued job to exactly one worker (``FOR UPDATE SKIP LOCKED``
  on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite, and a conditional ``UPDATE ... WHERE state =
  'queued'`` on both); :func:`heartbeat` stores the worker's liveness and the log tail and tells
  it whether the job is still its own; :func:`finish` records the outcome and frees the model.
- :func:`reap_lapsed` marks ``failed`` every running job whose heartbeat is older than the lapse,
  so a job whose worker died is never left "running" forever.
- :func:`evaluate_policy` applies a model's ``retrain.policy`` (off by default): dataset drift in
  each of the last K drift runs, or at least N labelled rows since the last succeeded retrain,
  queues a retrain as actor ``system`` (``python -m jobs.worker --policy`` runs it).

The log tail is the last :data:`TAIL_LINES` lines of the command's output, redacted through
core.redact before it is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.actor import Actor
from core.db import is_sqlite, retry_busy, session_scope, write_scope
from core.errors import ConfigError, Conflict, InvalidInput, NotFound
from core.redact import redact_text
from core.timeutil import aware, utc_or_now
from governance.rbac import Action, require_view, viewable_models
from governance.retrain_tables import ACTIVE_STATES, RetrainJob
from governance.runner import governed_run

TAIL_LINES = 200
MAX_REASON = 2000
SYSTEM = "system"  # the actor a policy-triggered retrain is queued as


@dataclass(frozen=True)
class RetrainView:
    id: int
    model: str
    state: str
    requested_by: str
    trigger: str
    reason: str
    command: str
    timeout_s: int
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    worker: str | None
    exit_code: int | None
    error: str | None
    log_tail: str
    produced_version: str | None
    release_request_id: int | None
    release_error: str | None


def _view(row: RetrainJob) -> RetrainView:
    return RetrainView(row.id, row.model, row.state, row.requested_by, row.trigger, row.reason, row.command,
                       row.timeout_s, aware(row.queued_at), aware(row.started_at),  # type: ignore[arg-type]
                       aware(row.finished_at), aware(row.heartbeat_at), row.worker, row.exit_code, row.error,
                       row.log_tail, row.produced_version, row.release_request_id, row.release_error)


def tail_text(lines: Iterable[str]) -> str:
    """The last :data:`TAIL_LINES` of ``lines`` as one redacted text."""
    kept = list(lines)[-TAIL_LINES:]
    return redact_text("\n".join(line.rstrip("\r\n") for line in kept))


# -- asking for a retrain ------------------------------------------------------------------------
def _queued(spec: Any, requested_by: str, trigger: str, reason: str, now: datetime) -> RetrainJob:
    """A new queued job of ``spec``'s model holding the model's active slot (the unique column)."""
    if not spec.retrain.command.strip():
        raise ConfigError(f"models file: {spec.name}.retrain.command is empty: nothing to run")
    return RetrainJob(model=spec.name, state="queued", active_model=spec.name, requested_by=requested_by,
                      trigger=trigger, reason=reason, command=spec.retrain.command,
                      timeout_s=spec.retrain.timeout_seconds, queued_at=now, log_tail="")


def request_retrain(ctx: Any, actor: Actor, model: str, *, reason: str, trigger: str = "manual",
                    now: datetime | None = None) -> RetrainView:
    """Queue a retrain of ``model``; needs ``model.retrain`` on it (refusal audited ``denied``).

    Raises Conflict (audited ``failed``) while another retrain of the model is queued or running,
    ConfigError when the model has no ``retrain.command``.
    """
    now = utc_or_now(now)
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"a reason is at most {MAX_REASON} characters (got {len(reason)})")
    if trigger not in ("manual", "policy"):
        raise InvalidInput(f"trigger must be manual or policy, not {trigger!r}")
    spec = ctx.models.get(model)  # NotFound names the configured models
    with governed_run(ctx, actor, Action.MODEL_RETRAIN, model, job="retrain", record=False,
                      failure_details={"step": "enqueue", "trigger": trigger}) as run:
        def write() -> int:
            with write_scope(ctx.engine) as session:
                row = _queued(spec, actor.username, trigger, reason, now)
                session.add(row)
                session.flush()
                return row.id

        try:
            job_id = retry_busy(write)
        except IntegrityError:
            with session_scope(ctx.engine) as session:
                other = session.scalar(select(RetrainJob).where(RetrainJob.active_model == model))
            which = f"retrain {other.id} of {model} is {other.state}" if other else f"a retrain of {model} is active"
            raise Conflict(f"{which}; a second one cannot be queued until it finishes") from None
        run.audit = {"step": "enqueue", "retrain_job": job_id, "trigger": trigger, "reason": reason}
    return show_retrain(ctx, None, job_id)


def show_retrain(ctx: Any, viewer: str | None, job_id: int) -> RetrainView:
    """One retrain job; ``viewer`` needs ``model.view`` on its model (None: a trusted caller)."""
    with session_scope(ctx.engine) as session:
        row = session.get(RetrainJob, job_id)
        if row is None:
            raise NotFound(f"retrain job {job_id} does not exist")
        view = _view(row)
    require_view(ctx, viewer, view.model)
    return view


def list_retrains(ctx: Any, viewer: str, model: str | None = None, *, limit: int = 50) -> list[RetrainView]:
    """Retrain jobs of the models ``viewer`` may view (or of ``model``, which they must), newest first."""
    models = viewable_models(ctx, viewer, model)
    if not models:
        return []
    with session_scope(ctx.engine) as session:
        rows = session.scalars(select(RetrainJob).where(RetrainJob.model.in_(models))
                               .order_by(RetrainJob.id.desc()).limit(limit))
        return [_view(r) for r in rows]


# -- the worker's side of the queue --------------------------------------------------------------
def claim_next(ctx: Any, worker: str, *, now: datetime | None = None) -> RetrainView | None:
    """Hand the oldest queued job to ``worker`` (state ``running``); None when none is queued.

    Two workers never get the same job: the row is locked (skipping rows another worker holds)
    and the state change is conditional on the row still being queued."""
    def attempt() -> int | None:
        moment = utc_or_now(now)
        with write_scope(ctx.engine) as session:
            stmt = select(RetrainJob.id).where(RetrainJob.state == "queued").order_by(RetrainJob.id).limit(1)
            if not is_sqlite(ctx.engine):
                stmt = stmt.with_for_update(skip_locked=True)
            job_id = session.scalar(stmt)
            if job_id is None:
                return None
            done = session.execute(update(RetrainJob).where(RetrainJob.id == job_id, RetrainJob.state == "queued")
                                   .values(state="running", worker=worker[:256], started_at=moment,
                                           heartbeat_at=moment))
            return job_id if done.rowcount == 1 else -1

    for _ in range(5):
        job_id = retry_busy(attempt)
        if job_id is None:
            return None
        if job_id > 0:
            return show_retrain(ctx, None, job_id)
    return None


def _update_own(ctx: Any, job_id: int, worker: str, values: dict[str, Any]) -> bool:
    """Update ``worker``'s running job; False when it is no longer that (reaped, or finished)."""
    def write() -> bool:
        with write_scope(ctx.engine) as session:
            done = session.execute(update(RetrainJob).where(RetrainJob.id == job_id, RetrainJob.worker == worker[:256],
                                                            RetrainJob.state == "running").values(**values))
            return done.rowcount == 1

    return retry_busy(write)


def heartbeat(ctx: Any, job_id: int, worker: str, *, log_tail: str | None = None,
              now: datetime | None = None) -> bool:
    """Store that ``worker`` is alive on the job (and its log tail); False when the job is no
    longer this worker's running job (reaped after a lapse): the worker must stop it."""
    values: dict[str, Any] = {"heartbeat_at": utc_or_now(now)}
    if log_tail is not None:
        values["log_tail"] = log_tail

    return _update_own(ctx, job_id, worker, values)


def finish(ctx: Any, job_id: int, worker: str, *, succeeded: bool, exit_code: int | None, error: str | None,
           log_tail: str, produced_version: str | None = None, release_request_id: int | None = None,
           release_error: str | None = None, now: datetime | None = None) -> bool:
    """Record the outcome of ``worker``'s running job, with the release request opened for its
    version (or why none could be), in one write, and free the model's slot; False when the job
    had already been taken from this worker (reaped). A reader never sees a succeeded job whose
    request is still to come."""
    values = {"state": "succeeded" if succeeded else "failed", "active_model": None,
              "finished_at": utc_or_now(now), "exit_code": exit_code,
              "error": redact_text(error)[:2000] if error else None, "log_tail": log_tail,
              "produced_version": produced_version, "release_request_id": release_request_id,
              "release_error": redact_text(release_error)[:2000] if release_error else None}

    return _update_own(ctx, job_id, worker, values)


def reap_lapsed(ctx: Any, actor: Actor, *, lapse_s: float, now: datetime | None = None) -> list[RetrainView]:
    """Mark ``failed`` every running job whose last heartbeat is older than ``lapse_s`` seconds
    (its worker died or hangs); one ``failed`` audit entry each, by ``actor`` (the reaping worker)."""
    moment = utc_or_now(now)
    cutoff = moment - timedelta(seconds=lapse_s)
    with session_scope(ctx.engine) as session:
        lapsed = [(r.id, r.model, r.worker, aware(r.heartbeat_at)) for r in session.scalars(
            select(RetrainJob).where(RetrainJob.state == "running", RetrainJob.heartbeat_at < cutoff))]
    reaped = []
    for job_id, model, worker, beat in lapsed:
        error = (f"worker {worker} stopped sending heartbeats (last at "
                 f"{beat.strftime('%Y-%m-%dT%H:%M:%SZ') if beat else 'never'}, lapse {lapse_s:g} s): "
                 "it died or hangs")

        def write(job_id: int = job_id, error: str = error) -> bool:
            with write_scope(ctx.engine) as session:
                done = session.execute(update(RetrainJob).where(
                    RetrainJob.id == job_id, RetrainJob.state == "running", RetrainJob.heartbeat_at < cutoff)
                    .values(state="failed", active_model=None, finished_at=moment, error=error))
                return done.rowcount == 1

        if retry_busy(write):
            ctx.audit.append(actor, Action.MODEL_RETRAIN, model, "failed", reason=error,
                             details={"step": "reap", "retrain_job": job_id, "worker": worker})
            reaped.append(show_retrain(ctx, None, job_id))
    return reaped


# -- the retrain policy --------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyOutcome:
    model: str
    triggered: bool
    why: str
    job: RetrainView | None = None


def _drift_streak(ctx: Any, model: str, k: int) -> bool:
    """Whether each of the model's last ``k`` completed drift runs found dataset drift."""
    from monitoring.drift.tables import DriftRun

    with session_scope(ctx.engine) as session:
        runs = list(session.scalars(select(DriftRun.dataset_drift).where(DriftRun.model == model,
                                                                          DriftRun.status == "ok")
                                    .order_by(DriftRun.window_end.desc(), DriftRun.id.desc()).limit(k)))
    return len(runs) == k and all(runs)


def last_training(ctx: Any, model: str) -> datetime | None:
    """When the model's last succeeded retrain finished (None: never through the queue)."""
    with session_scope(ctx.engine) as session:
        moment = session.scalar(select(RetrainJob.finished_at).where(RetrainJob.model == model,
                                                                     RetrainJob.state == "succeeded")
                                .order_by(RetrainJob.finished_at.desc()).limit(1))
    return aware(moment)


def labelled_rows_since(ctx: Any, model: str, since: datetime | None) -> int:
    """Stored inference-log rows of ``model`` that carry a label, with a timestamp after ``since``."""
    from core.storage import logstore_location
    from monitoring.logs.store import duckdb_source, has_stored_logs

    store = logstore_location(ctx.settings)
    if not has_stored_logs(store, model):
        return 0
    import duckdb

    con = duckdb.connect()
    try:
        where = "label IS NOT NULL AND label <> ''"
        if since is not None:
            where += f" AND epoch(timestamp) > {since.timestamp()!r}"
        return int(con.execute(f"SELECT count(*) FROM {duckdb_source(con, store, model)} WHERE {where}")
                   .fetchone()[0])
    except duckdb.BinderException:  # no stored part has a label column yet: no labelled row
        return 0
    finally:
        con.close()


def evaluate_policy(ctx: Any, actor: Actor, model: str, *, now: datetime | None = None) -> PolicyOutcome:
    """Apply ``model``'s retrain policy; queue a retrain as ``system`` when it fires.

    ``actor`` (the job account running the policy) needs ``model.retrain`` on the model: the
    refusal is audited. A model already retraining, or with the policy off, is left alone."""
    spec = ctx.models.get(model)
    policy = spec.retrain.policy
    if not policy.enabled:
        return PolicyOutcome(model, False, "policy off")
    from governance.rbac import require

    require(ctx, actor, Action.MODEL_RETRAIN, model)
    with session_scope(ctx.engine) as session:
        active = session.scalar(select(RetrainJob).where(RetrainJob.active_model == model))
        if active is not None:
            return PolicyOutcome(model, False, f"retrain {active.id} is {active.state}")
    why = ""
    if policy.drift_consecutive and _drift_streak(ctx, model, policy.drift_consecutive):
        why = f"dataset drift in each of the last {policy.drift_consecutive} drift runs"
    elif policy.new_labels:
        since = last_training(ctx, model)
        count = labelled_rows_since(ctx, model, since)
        if count >= policy.new_labels:
            why = (f"{count} new labelled rows since "
                   f"{since.strftime('%Y-%m-%dT%H:%M:%SZ') if since else 'the start'} (policy: {policy.new_labels})")
    if not why:
        return PolicyOutcome(model, False, "no trigger")
    system = Actor(SYSTEM, "job", f"policy run by {actor.username}")
    try:
        job = _enqueue_as_system(ctx, system, model, why, now)
    except Conflict as exc:
        return PolicyOutcome(model, False, str(exc))
    return PolicyOutcome(model, True, why, job)


def _enqueue_as_system(ctx: Any, system: Actor, model: str, why: str, now: datetime | None) -> RetrainView:
    """The policy's enqueue: the caller's grant was checked; ``system`` holds no grant itself, so
    the row and its audit entry are written here rather than through :func:`request_retrain`."""
    spec = ctx.models.get(model)
    moment = utc_or_now(now)

    def write() -> int:
        with write_scope(ctx.engine) as session:
            row = _queued(spec, SYSTEM, "policy", why, moment)
            session.add(row)
            session.flush()
            ctx.audit.append(system, Action.MODEL_RETRAIN, model, "success", reason=why,
                             details={"step": "enqueue", "retrain_job": row.id, "trigger": "policy"},
                             conn=session.connection())
            return row.id

    try:
        job_id = retry_busy(write)
    except IntegrityError:
        raise Conflict(f"a retrain of {model} is already queued or running") from None
    return show_retrain(ctx, None, job_id)
