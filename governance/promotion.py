"""Moves of a model's ``champion`` alias: promotion, rollback, and moves made outside the console.

Owns the rules of an alias move and the ``alias_moves`` history (governance.release_tables):

- :func:`promote` carries out an approved release request: ``champion`` moves to the request's
  version, the champion it replaces gets ``previous-champion``, the model's deployment hook
  (``deploy_hook`` in the models file: a webhook URL or a command, with a timeout) is called with
  the model, old and new version, and the request becomes ``promoted``. governance.releases calls
  it once, after the final approval has committed (the decision's transaction stays short). If
  MLflow or the hook fails, every alias that moved is put back, the request becomes
  ``promotion_failed`` with the error as its closing reason, and :func:`retry_promotion`
  (``release.approve`` on the model) tries again.
- :func:`rollback` (``model.rollback`` on the model, a reason required) points ``champion`` at
  ``to_version`` or, by default, at the ``previous-champion`` (an error when there is none); the
  champion it replaces becomes ``previous-champion``, so a second rollback undoes the first. It
  runs through governance.runner.governed_run (job-run record, audit entry with old and new
  version and the reason); a failing hook puts the aliases back and the rollback fails.
  :func:`move_champion_back` is its move without the permission check and the audit entry, for
  governance.auto_rollback (actor ``system`` on the watcher account's checked grant), with a guard
  that the champion is still the version the decision was about.
- :func:`sync_aliases` compares each model's ``champion`` in MLflow with the last recorded move
  and records a move made outside the console (someone used MLflow directly) as an ``external``
  alias move with an ``alias.external_change`` audit entry. ``python -m jobs.release sync`` runs
  it (schedule it like any job); promotion and rollback run it first for their model, so a move
  is never attributed to the wrong person.
- :func:`alias_history` reads the moves of a model for a viewer who may view it.

Every move of one model holds the named lock ``alias:<model>`` (core.locks), so a promotion, a
rollback and a sync never interleave. Audit actions: ``release.promote``, ``model.rollback``,
``release.deploy_hook`` (a hook failure), ``release.alias_restore`` (aliases put back),
``alias.external_change``.

The hook: a webhook gets a POST with the JSON body ``{"event", "model", "registered_model",
"old_version", "new_version", "actor", "request_id"}`` and must answer 2xx; a command runs
without a shell with ``VIGIL_HOOK_EVENT``, ``VIGIL_HOOK_MODEL``, ``VIGIL_HOOK_REGISTERED_MODEL``,
``VIGIL_HOOK_OLD_VERSION`` (empty when there was no champion), ``VIGIL_HOOK_NEW_VERSION``,
``VIGIL_HOOK_ACTOR`` and ``VIGIL_HOOK_REQUEST_ID`` in its environment and must exit 0. Either
must finish within ``timeout_seconds``.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.actor import Actor
from core.config import DeployHookSpec, ModelSpec
from core.db import retry_busy, session_scope, write_scope
from core.errors import Conflict, InvalidInput, VigilError
from core.locks import named_lock
from core.redact import redact_text, redact_url
from core.timeutil import utc_or_now
from governance.rbac import Action, require
from governance.registry import CHAMPION, ModelRegistry
from governance.release_reads import AliasMoveView, alias_moves, move_view
from governance.release_tables import AliasMove, ReleaseRequest
from governance.release_views import ReleaseRequestView, load_request
from governance.runner import governed_run

log = logging.getLogger(__name__)

PREVIOUS = "previous-champion"
LOCK_WAIT_S = 120.0
MAX_REASON = 4000
EXTERNAL_ACTOR = "outside the console"
AUDIT_PROMOTE, AUDIT_HOOK, AUDIT_RESTORE, AUDIT_EXTERNAL = (
    "release.promote", "release.deploy_hook", "release.alias_restore", "alias.external_change")
PROMOTABLE = ("approved", "promotion_failed")


class DeployHookFailed(VigilError):
    """The deployment hook failed, timed out or answered non-2xx (the aliases were put back)."""


@dataclass(frozen=True)
class ChampionMove:
    """The outcome of a promotion or rollback."""

    model: str
    old_version: str | None
    new_version: str
    hook: str  # what the hook did, in words
    seconds: float  # from the service call to both aliases moved (before the hook)


def registry_of(ctx: Any) -> ModelRegistry:
    return ModelRegistry(ctx.settings.mlflow_tracking_uri)


@contextmanager
def _alias_lock(ctx: Any, model: str) -> Iterator[None]:
    with named_lock(ctx.engine, f"alias:{model}", wait_s=LOCK_WAIT_S):
        yield


# -- the deployment hook ---------------------------------------------------------------------------
def call_hook(hook: DeployHookSpec | None, payload: dict[str, Any]) -> str:
    """Call the hook with ``payload``; returns what it did in words, raises DeployHookFailed."""
    if hook is None:
        return "no deployment hook configured"
    if hook.url:
        where = redact_url(hook.url)
        request = urllib.request.Request(hook.url, data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "vigil-deploy-hook"})
        try:
            with urllib.request.urlopen(request, timeout=hook.timeout_seconds) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            raise DeployHookFailed(f"deployment hook {where} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = redact_text(str(getattr(exc, "reason", exc)))
            raise DeployHookFailed(f"deployment hook {where} did not answer within "
                                   f"{hook.timeout_seconds:g} s: {reason}") from None
        if not 200 <= status < 300:
            raise DeployHookFailed(f"deployment hook {where} answered HTTP {status}")
        return f"webhook {where} answered HTTP {status}"
    argv = shlex.split(hook.command or "")
    env = dict(os.environ, **{f"VIGIL_HOOK_{k.upper()}": "" if v is None else str(v)
                             for k, v in payload.items()})
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=hook.timeout_seconds, check=False)
    except subprocess.TimeoutExpired:
        raise DeployHookFailed(f"deployment hook command {argv[0]} did not finish within "
                               f"{hook.timeout_seconds:g} s") from None
    except OSError as exc:
        raise DeployHookFailed(f"deployment hook command {argv[0]} could not start: "
                               f"{exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = (done.stderr.strip() or done.stdout.strip()).splitlines()
        tail = redact_text(lines[-1])[:300] if lines else "no output"
        raise DeployHookFailed(f"deployment hook command {argv[0]} exited {done.returncode}: {tail}")
    return f"command {argv[0]} exited 0"


# -- one move of the champion ----------------------------------------------------------------------
def _point(registry: ModelRegistry, registered_model: str, alias: str, version: str | None) -> None:
    if version is None:
        registry.delete_alias(registered_model, alias)
    else:
        registry.set_alias(registered_model, alias, version)


def _move_row(spec: ModelSpec, alias: str, old: str | None, new: str | None, kind: str, actor: str,
              reason: str, request_id: int | None, now: datetime) -> AliasMove:
    return AliasMove(model=spec.name, alias=alias, from_version=old, to_version=new, kind=kind, actor=actor,
                     reason=reason[:MAX_REASON], request_id=request_id, moved_at=now)


def _put_back(ctx: Any, actor: Actor, spec: ModelSpec, registry: ModelRegistry, before: dict[str, str],
              moved: list[AliasMove], why: str, request_id: int | None, now: datetime) -> str:
    """Point every alias in ``moved`` back where it was; record and audit it. Returns a sentence."""
    restored, rows = {}, []
    try:
        for move in reversed(moved):
            _point(registry, spec.registered_model, move.alias, before.get(move.alias))
            restored[move.alias] = before.get(move.alias)
            rows.append(_move_row(spec, move.alias, move.to_version, before.get(move.alias), "restore",
                                  actor.username, why, request_id, now))
    except VigilError as exc:
        ctx.audit.append(actor, AUDIT_RESTORE, spec.name, "failed", reason=str(exc)[:500],
                         details={"request_id": request_id, "restored": restored, "moved": [
                             {"alias": m.alias, "to_version": m.to_version} for m in moved]})
        _write(ctx, moved + rows)
        return f"the aliases could NOT all be put back ({exc})"
    _write(ctx, moved + rows)
    ctx.audit.append(actor, AUDIT_RESTORE, spec.name, "success", reason=why[:500],
                     details={"request_id": request_id, "restored": restored})
    return "the aliases were put back"


def _write(ctx: Any, rows: list[AliasMove]) -> None:
    if not rows:
        return

    def write() -> None:
        with write_scope(ctx.engine) as session:
            session.add_all([_move_row_copy(r) for r in rows])

    retry_busy(write)


def _move_row_copy(row: AliasMove) -> AliasMove:  # a fresh row (a retried write must not re-add one)
    return AliasMove(model=row.model, alias=row.alias, from_version=row.from_version, to_version=row.to_version,
                     kind=row.kind, actor=row.actor, reason=row.reason, request_id=row.request_id,
                     moved_at=row.moved_at)


def _move_champion(ctx: Any, actor: Actor, spec: ModelSpec, registry: ModelRegistry, target: str | None, *,
                   kind: str, reason: str, request_id: int | None, now: datetime, note: dict[str, Any],
                   started: float) -> tuple[ChampionMove, list[AliasMove]]:
    """Point ``champion`` at ``target`` (None: the previous champion) and ``previous-champion`` at
    the old champion, then call the hook; on any failure put the aliases back and re-raise.
    Returns the move and its rows (not yet written: the caller writes them with its own state).
    The caller holds the model's alias lock; ``started`` is its ``perf_counter`` at the call."""
    rm = spec.registered_model
    before = registry.aliases(rm)
    old, previous = before.get(CHAMPION), before.get(PREVIOUS)
    if target is None:
        if previous is None:
            raise Conflict(f"{spec.name} has no previous champion to roll back to; name a version (--to)")
        target = previous
    target = str(target).strip()
    note.update(old_version=old, new_version=target)
    if target == old and kind != "promotion":  # a promotion already in place only calls the hook again
        raise Conflict(f"version {target} of {spec.name} is already the champion")
    registry.get_version(rm, target)  # NotFound names the version before anything moves
    moved: list[AliasMove] = []
    try:
        if target != old:
            registry.set_alias(rm, CHAMPION, target)
            moved.append(_move_row(spec, CHAMPION, old, target, kind, actor.username, reason, request_id, now))
        if old is not None and old != target and previous != old:
            registry.set_alias(rm, PREVIOUS, old)
            moved.append(_move_row(spec, PREVIOUS, previous, old, kind, actor.username, reason, request_id, now))
        seconds = round(time.perf_counter() - started, 3)
        payload = {"event": kind, "model": spec.name, "registered_model": rm, "old_version": old,
                   "new_version": target, "actor": actor.username, "request_id": request_id}
        try:
            hook = call_hook(spec.deploy_hook, payload)
        except DeployHookFailed as exc:
            ctx.audit.append(actor, AUDIT_HOOK, spec.name, "failed", reason=str(exc)[:500],
                             details={"event": kind, "request_id": request_id, "old_version": old,
                                      "new_version": target})
            raise
    except BaseException as exc:  # noqa: BLE001  whatever stopped it, nothing stays half moved
        if not moved:
            raise
        outcome = _put_back(ctx, actor, spec, registry, before, moved, f"{kind} failed: {exc}", request_id, now)
        if isinstance(exc, VigilError):
            raise type(exc)(f"{exc}; {outcome}") from None
        raise
    return ChampionMove(spec.name, old, target, hook, seconds), moved


# -- promotion -------------------------------------------------------------------------------------
class _NotPromotable(Conflict):
    pass


def _close(ctx: Any, actor: Actor, spec: ModelSpec, request_id: int, now: datetime, state: str, outcome: str,
           reason: str, details: dict[str, Any], rows: list[AliasMove]) -> None:
    """The request's outcome, its alias moves and the ``release.promote`` entry, in one transaction."""
    def write() -> None:
        with write_scope(ctx.engine) as session:
            row = session.scalar(select(ReleaseRequest).where(ReleaseRequest.id == request_id).with_for_update())
            assert row is not None
            row.state, row.closed_at, row.closed_reason = state, now, reason
            session.add_all([_move_row_copy(r) for r in rows])
            session.flush()
            ctx.audit.append(actor, AUDIT_PROMOTE, spec.name, outcome, reason=reason[:1000], details=details,
                             conn=session.connection())

    retry_busy(write)


def promote(ctx: Any, actor: Actor, request_id: int, *, now: datetime | None = None) -> ReleaseRequestView:
    """Promote the version of an approved (or ``promotion_failed``) request; see the module doc.

    No permission check of its own: governance.releases calls it for the final approver, and
    :func:`retry_promotion` checks ``release.approve`` first. A failure does not raise: the request
    shows ``promotion_failed`` with the error."""
    started, now = time.perf_counter(), utc_or_now(now)
    with session_scope(ctx.engine) as session:
        _, view = load_request(session, request_id, now)
    spec = ctx.models.get(view.model)
    details: dict[str, Any] = {"request_id": request_id, "version": view.version}
    try:
        with _alias_lock(ctx, view.model):
            with session_scope(ctx.engine) as session:  # judged again under the lock (a concurrent retry)
                _, view = load_request(session, request_id, now)
            if view.stored_state not in PROMOTABLE:
                raise _NotPromotable(f"release request {request_id} is {view.stored_state}; only an approved "
                                     "request (or one whose promotion failed) can be promoted")
            registry = registry_of(ctx)
            _sync_one(ctx, actor, spec, registry, now)
            move, rows = _move_champion(ctx, actor, spec, registry, view.version, kind="promotion",
                                        reason=f"release request {request_id}", request_id=request_id,
                                        now=now, note=details, started=started)
            _close(ctx, actor, spec, request_id, now, "promoted", "success",
                   f"promoted: champion {move.old_version or '(none)'} -> {move.new_version}; {move.hook}",
                   {**details, "hook": move.hook, "seconds": move.seconds}, rows)
    except _NotPromotable:
        raise
    except Exception as exc:  # noqa: BLE001  MLflow, the hook, a busy lock: the request shows it
        first = redact_text(str(exc)).strip().splitlines()
        message = first[0][:1000] if first else type(exc).__name__
        log.warning("promotion of release request %s failed: %s", request_id, message)
        _close(ctx, actor, spec, request_id, now, "promotion_failed", "failed", f"promotion failed: {message}",
               details, [])
    with session_scope(ctx.engine) as session:
        return load_request(session, request_id, now)[1]


def retry_promotion(ctx: Any, actor: Actor, request_id: int, *,
                    now: datetime | None = None) -> ReleaseRequestView:
    """Try again to promote a request whose promotion failed, or an approved one whose promotion
    never finished (the process died); needs ``release.approve`` on its model."""
    now = utc_or_now(now)
    with session_scope(ctx.engine) as session:
        _, view = load_request(session, request_id, now)
    require(ctx, actor, Action.RELEASE_APPROVE, view.model)
    if view.stored_state not in PROMOTABLE:
        message = (f"release request {request_id} is {view.stored_state}; only a failed promotion (or an "
                   "approved request whose promotion never finished) is retried")
        ctx.audit.append(actor, AUDIT_PROMOTE, view.model, "failed", reason=message,
                         details={"request_id": request_id, "retry": True})
        raise Conflict(message)
    return promote(ctx, actor, request_id, now=now)


# -- rollback --------------------------------------------------------------------------------------
def rollback(ctx: Any, actor: Actor, model: str, *, reason: str, to_version: str | None = None,
             now: datetime | None = None) -> ChampionMove:
    """Point ``champion`` of ``model`` back at ``to_version`` (default: the previous champion).

    Needs ``model.rollback`` on the model and a reason; see the module doc."""
    started, now = time.perf_counter(), utc_or_now(now)
    with governed_run(ctx, actor, Action.MODEL_ROLLBACK, model, job="rollback",
                      failure_details={"to_version": to_version, "reason": (reason or "")[:500]}) as run:
        reason = (reason or "").strip()
        move = move_champion_back(ctx, actor, model, reason=reason, to_version=to_version, now=now,
                                  note=run.audit, started=started)
        run.message = f"{model}: champion {move.old_version or '(none)'} -> {move.new_version}"
        run.details = {"old_version": move.old_version, "new_version": move.new_version}
        run.audit = {"old_version": move.old_version, "new_version": move.new_version, "reason": reason,
                     "hook": move.hook, "alias_seconds": move.seconds}
    return move


def move_champion_back(ctx: Any, actor: Actor, model: str, *, reason: str, to_version: str | None = None,
                       expect_champion: str | None = None, now: datetime | None = None,
                       note: dict[str, Any] | None = None, started: float | None = None) -> ChampionMove:
    """The move of :func:`rollback` without its permission check and audit entry: for a caller
    that checked the grant and audits the move itself (governance.auto_rollback, acting as
    ``system`` on the job account's grant). With ``expect_champion`` the move happens only while
    that version is still the champion (checked under the model's alias lock; Conflict otherwise),
    so a rollback decided on stale data never moves a champion someone else has changed."""
    started = time.perf_counter() if started is None else started
    now = utc_or_now(now)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a rollback needs a reason (say why the champion goes back)")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"a reason is at most {MAX_REASON} characters (got {len(reason)})")
    spec = ctx.models.get(model)
    with _alias_lock(ctx, model):
        registry = registry_of(ctx)
        _sync_one(ctx, actor, spec, registry, now)
        if expect_champion is not None:
            current = registry.aliases(spec.registered_model).get(CHAMPION)
            if current != expect_champion:
                raise Conflict(f"the champion of {model} is now {current or '(none)'}, not {expect_champion}: "
                               "it moved since the decision, nothing was rolled back")
        move, rows = _move_champion(ctx, actor, spec, registry, to_version, kind="rollback", reason=reason,
                                    request_id=None, now=now, note={} if note is None else note, started=started)
        _write(ctx, rows)
    return move

# -- moves made outside the console ------------------------------------------------------------------
def _last_known(session: Any, model: str, alias: str) -> str | None:
    row = session.scalar(select(AliasMove).where(AliasMove.model == model, AliasMove.alias == alias)
                         .order_by(AliasMove.id.desc()).limit(1))
    return None if row is None else row.to_version


def _sync_one(ctx: Any, actor: Actor, spec: ModelSpec, registry: ModelRegistry,
              now: datetime) -> AliasMoveView | None:
    """Record an outside move of ``champion`` (the caller holds the model's alias lock)."""
    current = registry.aliases(spec.registered_model).get(CHAMPION)
    with session_scope(ctx.engine) as session:
        known = _last_known(session, spec.name, CHAMPION)
    if current == known:
        return None
    why = ("moved outside the console (in MLflow directly)" if known is not None or current is None
           else "first seen: set outside the console, no earlier move recorded")
    row = _move_row(spec, CHAMPION, known, current, "external", EXTERNAL_ACTOR, why, None, now)

    def write() -> None:
        with write_scope(ctx.engine) as session:
            session.add(_move_row_copy(row))
            session.flush()
            ctx.audit.append(actor, AUDIT_EXTERNAL, spec.name, "success", reason=why,
                             details={"alias": CHAMPION, "from_version": known, "to_version": current,
                                      "registered_model": spec.registered_model},
                             conn=session.connection())

    retry_busy(write)
    return move_view(row)


def sync_aliases(ctx: Any, actor: Actor, *, model: str | None = None,
                 now: datetime | None = None) -> list[AliasMoveView]:
    """Record every ``champion`` move made outside the console since the last recorded move, for
    ``model`` or every configured model; needs ``release.request`` on each (the job account's
    operator grant). Returns the moves recorded now."""
    now = utc_or_now(now)
    specs = [ctx.models.get(model)] if model else list(ctx.models.models)
    found = []
    registry = registry_of(ctx)
    for spec in specs:
        require(ctx, actor, Action.RELEASE_REQUEST, spec.name)
        with _alias_lock(ctx, spec.name):
            seen = _sync_one(ctx, actor, spec, registry, now)
        if seen is not None:
            found.append(seen)
    return found


def alias_history(ctx: Any, viewer: str | None, model: str) -> list[AliasMoveView]:
    """The recorded alias moves of ``model``, newest first (the viewer needs ``model.view``):
    the one read, governance.release_reads.alias_moves."""
    return alias_moves(ctx, viewer, model)
