"""Release requests opened automatically for new versions in the MLflow registry (the poll).

:func:`poll_model` looks at one configured model's registered versions and opens a release
request (governance.releases.request_release, which evaluates the gates and audits the
request) for the **newest** version when

- it is newer than the ``champion`` (any version counts when there is no champion yet), and
- it has never had a release request, in any state.

So a version is requested once: after a rejection, an expiry or a supersession the poll does not
ask again (a person may, with ``release.request``). A newer version supersedes an open request for
an older one (request_release does that). Older versions that appeared together with a newer one
are not requested: the newest is what a release would ship. A model whose registered model is not
in MLflow yet, or that has no versions, is skipped (an outcome, not an error).

The caller needs ``release.request`` on the model (the job account's operator grant); a refusal is
audited by governance.rbac.require before anything is read. Two pollers at the same moment (two
cron hosts, a scheduler replica and a hand-run ``python -m jobs.release poll``) never open two
requests, and never re-request a version one of them saw: the check and the request run under the
named lock ``release-poll:<model>`` (core.locks: a PostgreSQL advisory lock, a file lock beside a
SQLite database), and ``release_requests.open_model`` is unique in any case.

MLflow that does not answer raises ServiceUnavailable (exit 5 in a job).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.actor import Actor
from core.db import session_scope
from core.errors import Conflict, NotFound
from core.locks import named_lock
from core.timeutil import utc_or_now
from governance.rbac import Action, require
from governance.registry import ModelRegistry, champion_of, model_versions
from governance.release_gates import VersionSource
from governance.release_tables import ReleaseRequest
from governance.releases import request_release, version_order

POLL_REASON = "new version seen in the MLflow registry"
LOCK_WAIT_S = 120.0


@dataclass(frozen=True)
class PollOutcome:
    """What one poll of one model found and did."""

    model: str
    registered: bool  # False: the registered model is not in MLflow yet
    champion: str | None
    newest: str | None
    opened: int | None  # the id of the request opened now
    why: str  # what happened, in words

    def line(self) -> str:
        return self.why


def lock_name(model: str) -> str:
    return f"release-poll:{model}"


def _earlier_request(ctx: Any, model: str, version: str) -> tuple[int, str] | None:
    """(id, stored state) of the newest request ever opened for ``version`` of ``model``."""
    with session_scope(ctx.engine) as session:
        row = session.execute(select(ReleaseRequest.id, ReleaseRequest.state)
                              .where(ReleaseRequest.model == model, ReleaseRequest.version == version)
                              .order_by(ReleaseRequest.id.desc()).limit(1)).first()
    return None if row is None else (int(row[0]), str(row[1]))


def poll_model(ctx: Any, actor: Actor, model: str, *, registry: ModelRegistry | None = None,
               versions: VersionSource | None = None, now: datetime | None = None) -> PollOutcome:
    """Open a release request for ``model``'s newest version if it is due (see the module doc)."""
    spec = ctx.models.get(model)  # NotFound names the configured models
    require(ctx, actor, Action.RELEASE_REQUEST, model)
    now = utc_or_now(now)
    registry = registry or ModelRegistry(ctx.settings.mlflow_tracking_uri)
    with named_lock(ctx.engine, lock_name(model), wait_s=LOCK_WAIT_S):
        try:
            listed = model_versions(ctx, model, viewer=None, registry=registry)  # newest first
        except NotFound:
            return PollOutcome(model, False, None, None, None,
                               f"registered model {spec.registered_model!r} is not in MLflow yet: nothing to request")
        if not listed:
            return PollOutcome(model, True, None, None, None, "no versions registered: nothing to request")
        newest = listed[0].version
        found = champion_of(listed)
        champion = found.version if found is not None else None
        if champion is not None and version_order(newest) <= version_order(champion):
            return PollOutcome(model, True, champion, newest, None,
                               f"champion is version {champion}, the newest: nothing to request")
        earlier = _earlier_request(ctx, model, newest)
        if earlier is not None:
            return PollOutcome(model, True, champion, newest, None,
                               f"version {newest} already had release request {earlier[0]} ({earlier[1]}): "
                               "nothing to request")
        try:
            view = request_release(ctx, actor, model, newest, reason=POLL_REASON, versions=versions, now=now)
        except Conflict as exc:  # a person opened one between the check and here: that one stands
            return PollOutcome(model, True, champion, newest, None, f"no request opened: {exc}")
    gates = ", ".join(f"{g.name} {g.status}" for g in view.gates) or "no gates"
    over = f"the champion, version {champion}" if champion else "no champion yet"
    return PollOutcome(model, True, champion, newest, view.id,
                       f"version {newest} is newer than {over}: release request {view.id} opened ({gates})")
