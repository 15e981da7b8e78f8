"""Release requests and their approval chain: the service that pages, jobs and the CLI call.

Owns the rules of a release decision (the tables are in governance.release_tables, the gates in
governance.release_gates, the read-only views in governance.release_views):

- :func:`request_release` (``release.request`` on the model) opens a request for a registered
  version, snapshots its gate results and the model's approval chain, and supersedes an open
  request for an older version of the same model (an open request for a newer one refuses it).
- :func:`approve` / :func:`reject` (``release.approve`` on the model) decide the current stage.
  A decider must hold the stage's role on the model (or on ``*``); with ``four_eyes`` the
  version's author and the request's requester may not decide; one person takes one decision per
  request (so never two stages); a rejection needs a comment; an approval needs every blocking
  gate passed; an expired, superseded or otherwise closed request cannot be decided; stages are
  decided in order. The decision and its audit entry commit in one transaction, under a row lock
  on the request, and the database's unique constraints refuse a second outcome of a race.
- The final approval promotes the version (governance.promotion.promote, called once after the
  decision has committed): the returned view reads ``promoted`` or ``promotion_failed``.
- :func:`expire_due` closes open requests past their expiry (a job runs it).
- :func:`list_requests` / :func:`show_request` read requests for a viewer who may view the model;
  :func:`decision_refusal` says whether (and why not) a viewer may decide one now, so a page can
  hide buttons with the very rule the service enforces.

Every refusal of a state change is audited (``denied`` for permissions and four-eyes, ``failed``
for a request that cannot be decided), every change writes one ``success`` entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.actor import Actor
from core.config import ApprovalStage, ModelSpec
from core.db import retry_busy, session_scope, write_scope
from core.errors import ConfigError, Conflict, InvalidInput, NotFound, PermissionDenied
from core.redact import redact_text
from core.timeutil import aware, utc_or_now
from governance.promotion import promote
from governance.rbac import (
    ROLE_PERMISSIONS,
    Action,
    permitted_models,
    require,
    require_view,
    roles_of,
    viewable_models,
)
from governance.release_gates import (
    Evidence,
    MlflowVersions,
    VersionSource,
    blocking_failures,
    evaluate_gates,
    evidence_key,
    require_version,
)
from governance.release_tables import ReleaseDecision, ReleaseRequest
from governance.release_views import OPEN, ReleaseRequestView, build_view, load_request
from governance.runner import governed_run

MAX_COMMENT = 4000
AUDIT_REQUEST, AUDIT_APPROVE, AUDIT_REJECT, AUDIT_EXPIRE = ("release.request", "release.approve",
                                                            "release.reject", "release.expire")


def show_request(ctx: Any, viewer: str | None, request_id: int, *,
                 now: datetime | None = None) -> ReleaseRequestView:
    """One request with its gates, stages and decisions; the viewer needs ``model.view`` on it."""
    now = utc_or_now(now)
    with session_scope(ctx.engine) as session:
        _, view = load_request(session, request_id, now)
    require_view(ctx, viewer, view.model)
    return view


def list_requests(ctx: Any, viewer: str, *, model: str | None = None, state: str | None = None,
                  decidable: bool = False, now: datetime | None = None) -> list[ReleaseRequestView]:
    """Requests of the models ``viewer`` may view, newest first; ``decidable`` keeps only those the
    viewer may approve or reject now; ``state`` filters on the state as of now."""
    now = utc_or_now(now)
    models = viewable_models(ctx, viewer, model)
    if not models:
        return []
    with session_scope(ctx.engine) as session:
        rows = list(session.scalars(select(ReleaseRequest).where(ReleaseRequest.model.in_(models))
                                    .order_by(ReleaseRequest.id.desc())))
        ids = [r.id for r in rows]
        stmt = select(ReleaseDecision).where(ReleaseDecision.request_id.in_(ids))
        decisions = list(session.scalars(stmt)) if ids else []
    views = [build_view(r, [d for d in decisions if d.request_id == r.id], now) for r in rows]
    if state is not None:
        views = [v for v in views if v.state == state]
    if decidable:
        who = decider(ctx, viewer)
        views = [v for v in views if decision_refusal(who, v, "approve") is None
                 or decision_refusal(who, v, "reject") is None]
    return views


# -- the rule of a decision ----------------------------------------------------------------------
@dataclass(frozen=True)
class Refusal:
    kind: str  # denied (permission, four-eyes) | conflict (the request's state) | invalid (input)
    message: str


@dataclass(frozen=True)
class Decider:
    """A person's standing for decisions, read once (grants as of now): their active (role, scope)
    pairs, the models they may ``release.approve``, and whether four eyes applies per model."""

    username: str
    roles: frozenset[tuple[str, str]]
    approvable: frozenset[str]
    four_eyes: dict[str, bool]

    def holds(self, role: str, model: str) -> bool:
        return (role, "*") in self.roles or (role, model) in self.roles


def decider(ctx: Any, username: str) -> Decider:
    """``username``'s standing now (see :class:`Decider`)."""
    return Decider(username, frozenset(roles_of(ctx, username)),
                   frozenset(permitted_models(ctx, username, Action.RELEASE_APPROVE)),
                   {m.name: m.approval.four_eyes for m in ctx.models.models})


def decision_refusal(who: Decider, view: ReleaseRequestView, decision: str,
                     stage: str | None = None) -> Refusal | None:
    """Why ``who`` may not take ``decision`` (approve/reject) on ``view`` now; None if they may.

    The one statement of the decision rule: the service enforces it, a page may call it to hide
    buttons (``decider(ctx, username)`` once per page)."""
    username = who.username
    if view.model not in who.approvable:
        return Refusal("denied", f"{username} may not release.approve on {view.model}")
    if view.state != OPEN:
        return Refusal("conflict", f"release request {view.id} is {view.state}; it can no longer be decided")
    current = view.current_stage
    assert current is not None  # an open request has a stage left (else it would be approved)
    if stage is not None and stage != current.name:
        return Refusal("conflict", f"release request {view.id} is at stage {current.name!r}, not {stage!r} "
                                   "(stages are decided in order)")
    if any(d.approver == username for d in view.decisions):
        done = next(d for d in view.decisions if d.approver == username)
        return Refusal("denied", f"{username} already decided stage {done.stage!r} of release request "
                                 f"{view.id}; one person takes one decision per request")
    if who.four_eyes.get(view.model, True):  # a model removed from the file keeps the strict rule
        if username == view.requested_by:
            return Refusal("denied", f"{username} requested release {view.id} and may not decide it "
                                     "(four eyes)")
        if view.version_author and username == view.version_author:
            return Refusal("denied", f"{username} is the author of {view.model} version {view.version} and "
                                     "may not decide its release (four eyes)")
    if not who.holds(current.role, view.model):
        return Refusal("denied", f"stage {current.name!r} of release request {view.id} is decided by a "
                                 f"{current.role} of {view.model}; {username} is not one")
    if decision == "approve" and view.blocking_gates:
        names = ", ".join(f"{g.name} ({g.status})" for g in view.blocking_gates)
        return Refusal("conflict", f"release request {view.id} cannot be approved: blocking gates {names}")
    return None


# -- changing state ------------------------------------------------------------------------------
def _spec(ctx: Any, model: str) -> ModelSpec:
    return ctx.models.get(model)


def _check_chain(spec: ModelSpec) -> list[ApprovalStage]:
    chain = spec.approval.chain
    approvers = [r for r, p in ROLE_PERMISSIONS.items() if Action.RELEASE_APPROVE in p]
    for stage in chain:
        if stage.role not in approvers:
            raise ConfigError(f"models file: {spec.name}.approval.stages: stage {stage.name!r} names role "
                              f"{stage.role!r}, which may not release.approve (roles that may: "
                              f"{', '.join(approvers)})")
    return chain


def version_order(version: str) -> tuple[int, str]:
    """Sort key of MLflow version numbers: "10" after "9" (numbers compare as numbers)."""
    return (int(version), "") if version.isdigit() else (-1, version)


def _collected_evidence(ctx: Any, spec: ModelSpec, version: str, now: datetime) -> dict[str, Evidence]:
    """The drift, latency and completeness evidence the model's gates read (none: nothing read)."""
    from governance.release_evidence import KEYS, collect_evidence

    wanted = frozenset(evidence_key(g) for g in spec.approval.gates.values()) & frozenset(KEYS)
    if not wanted:
        return {}
    try:
        return collect_evidence(ctx, spec.name, version, now=now, keys=wanted)
    except Exception as exc:  # noqa: BLE001  each source degrades on its own; this is the last guard
        reason = redact_text(f"no evidence: collecting it failed ({type(exc).__name__}: {exc})")[:300]
        return {key: Evidence(None, reason) for key in wanted}


def request_release(ctx: Any, actor: Actor, model: str, version: str | None = None, *, reason: str = "",
                    versions: VersionSource | None = None, evidence: dict[str, Evidence] | None = None,
                    now: datetime | None = None) -> ReleaseRequestView:
    """Open a release request for ``version`` (default: the newest registered) of ``model``.

    Needs ``release.request`` on the model. The gates are judged on the metrics logged with the
    version plus, for the drift, PSI, latency and completeness gates the model configures, the
    evidence governance.release_evidence.collect_evidence measures (a source that does not answer
    leaves its gate at "no evidence"; it never fails the request). ``evidence``, when given,
    replaces that collection (tests, or a caller that measured elsewhere).
    """
    now = utc_or_now(now)
    spec = _spec(ctx, model)
    with governed_run(ctx, actor, Action.RELEASE_REQUEST, model, job="release", record=False,
                      failure_details={"version": version}) as run:
        chain = _check_chain(spec)
        source = versions or MlflowVersions.from_ctx(ctx)
        if version is None:
            version = source.newest_version(spec.registered_model)
            if version is None:
                raise NotFound(f"registered model {spec.registered_model!r} has no versions")
        version = str(version).strip()
        facts = require_version(source, spec.registered_model, version)
        if evidence is None:
            evidence = _collected_evidence(ctx, spec, version, now)
        results = evaluate_gates(spec.approval.gates, {**facts.evidence(), **evidence})
        expires = now + timedelta(days=spec.approval.request_expiry_days)

        def write() -> tuple[int, int | None]:
            with write_scope(ctx.engine) as session:
                old = session.scalar(select(ReleaseRequest).where(ReleaseRequest.open_model == model)
                                     .with_for_update())
                closed: int | None = None
                if old is not None:
                    if old.version == version:
                        raise Conflict(f"release request {old.id} for {model} version {version} "
                                       "is already open")
                    old_expired = aware(old.expires_at) <= now  # type: ignore[operator]
                    if not old_expired and version_order(old.version) > version_order(version):
                        raise Conflict(f"release request {old.id} for the newer version {old.version} of "
                                       f"{model} is open; version {version} cannot be requested")
                    old.state = "expired" if old_expired else "superseded"
                    old.open_model, old.closed_at = None, now
                    old.closed_reason = ("expired" if old_expired
                                         else f"superseded by a request for version {version}")
                    closed = old.id
                    session.flush()
                row = ReleaseRequest(model=model, version=version, requested_by=actor.username,
                                     version_author=facts.author, opened_at=now, expires_at=expires,
                                     state=OPEN, open_model=model,
                                     gates=json.dumps([r.as_dict() for r in results]),
                                     stages=json.dumps([s.model_dump() for s in chain]),
                                     reason=reason.strip())
                session.add(row)
                session.flush()
                return row.id, closed

        for _ in range(3):  # lost a race for the model's open slot: judge again against the winner
            try:
                request_id, closed = retry_busy(write)
                break
            except IntegrityError:
                continue
        else:
            raise Conflict(f"release requests for {model} kept being opened at the same moment; retry")
        run.audit = {"request_id": request_id, "version": version, "superseded": closed,
                     "gates": {r.name: r.status for r in results},
                     "blocking": [r.name for r in blocking_failures(results)]}
    return show_request(ctx, None, request_id, now=now)


def _refuse(ctx: Any, actor: Actor, action: str, model: str, refusal: Refusal,
            details: dict[str, Any]) -> None:
    outcome = "denied" if refusal.kind == "denied" else "failed"
    ctx.audit.append(actor, action, model, outcome, reason=refusal.message, details=details)
    if refusal.kind == "denied":
        raise PermissionDenied(refusal.message)
    if refusal.kind == "invalid":
        raise InvalidInput(refusal.message)
    raise Conflict(refusal.message)


def _comment(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MAX_COMMENT:
        raise InvalidInput(f"a comment is at most {MAX_COMMENT} characters (got {len(text)})")
    return text


def _decide(ctx: Any, actor: Actor, request_id: int, decision: str, comment: str, stage: str | None,
            now: datetime | None) -> ReleaseRequestView:
    action = AUDIT_APPROVE if decision == "approve" else AUDIT_REJECT
    comment = _comment(comment)
    with session_scope(ctx.engine) as session:
        _, first = load_request(session, request_id, utc_or_now(now))
    require(ctx, actor, Action.RELEASE_APPROVE, first.model)  # audits a refusal as denied
    details: dict[str, Any] = {"request_id": request_id, "version": first.version}
    if decision == "reject" and not comment:
        _refuse(ctx, actor, action, first.model, Refusal("invalid", "a rejection needs a comment saying why"),
                details)
    expected = stage or (first.current_stage.name if first.current_stage else None)

    def attempt() -> ReleaseRequestView | Refusal:
        moment = utc_or_now(now)
        with write_scope(ctx.engine) as session:
            row, view = load_request(session, request_id, moment, lock=True)
            refusal = decision_refusal(decider(ctx, actor.username), view, decision, expected)
            if refusal is not None:
                return refusal
            current = view.current_stage
            assert current is not None
            session.add(ReleaseDecision(request_id=request_id, ordinal=len(view.decisions) + 1,
                                        stage=current.name, approver=actor.username, decision=decision,
                                        comment=comment, decided_at=moment))
            final = decision == "reject" or (len(current.approved_by) + 1 >= current.approvals
                                             and current is view.stages[-1])
            if final:
                row.state = "rejected" if decision == "reject" else "approved"
                row.open_model, row.closed_at = None, moment
                row.closed_reason = comment if decision == "reject" else "every stage approved"
            session.flush()
            ctx.audit.append(actor, action, view.model, "success", reason=comment,
                             details={**details, "stage": current.name, "state": row.state},
                             conn=session.connection())
            _, after = load_request(session, request_id, moment)
            return after

    for _ in range(3):  # a decision that lost a race is judged again against the winner's state
        try:
            result = retry_busy(attempt)
        except IntegrityError:
            continue
        if isinstance(result, Refusal):
            _refuse(ctx, actor, action, first.model, result, details)
        if result.stored_state == "approved":  # type: ignore[union-attr]  the final approval committed
            return promote(ctx, actor, request_id, now=now)  # alias, hook; "promotion_failed" on failure
        return result  # type: ignore[return-value]
    raise Conflict(f"release request {request_id} kept changing while it was being decided; retry")


def approve(ctx: Any, actor: Actor, request_id: int, *, comment: str = "", stage: str | None = None,
            now: datetime | None = None) -> ReleaseRequestView:
    """Approve the current stage of a request (``stage``, when given, must be the current one)."""
    return _decide(ctx, actor, request_id, "approve", comment, stage, now)


def reject(ctx: Any, actor: Actor, request_id: int, *, comment: str, stage: str | None = None,
           now: datetime | None = None) -> ReleaseRequestView:
    """Reject a request at its current stage; ``comment`` (why) is required."""
    return _decide(ctx, actor, request_id, "reject", comment, stage, now)


def expire_due(ctx: Any, actor: Actor, *, now: datetime | None = None) -> list[int]:
    """Close every open request past its expiry, one audit entry each; returns their ids.

    Needs ``release.request`` on each model (the job account's operator grant)."""
    now = utc_or_now(now)
    with session_scope(ctx.engine) as session:
        due = [(r.id, r.model) for r in session.scalars(
            select(ReleaseRequest).where(ReleaseRequest.state == OPEN, ReleaseRequest.expires_at <= now))]
    closed = []
    for request_id, model in due:
        require(ctx, actor, Action.RELEASE_REQUEST, model)
        with write_scope(ctx.engine) as session:
            row = session.scalar(select(ReleaseRequest).where(ReleaseRequest.id == request_id)
                                 .with_for_update())
            if row is None or row.state != OPEN:
                continue
            row.state, row.open_model, row.closed_at, row.closed_reason = "expired", None, now, "expired"
            session.flush()
            ctx.audit.append(actor, AUDIT_EXPIRE, model, "success", details={"request_id": request_id,
                             "version": row.version}, conn=session.connection())
        closed.append(request_id)
    return closed
