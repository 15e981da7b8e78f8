"""Governed actions over MCP: each calls the service the console's button calls, as the calling
user (``Actor(username, "mcp", client_addr=...)``), so the service checks the permission, audits
the action or its refusal (source ``mcp``, naming the client) and enforces its own rules (four
eyes, gates, one active retrain). Nothing here decides whether an action is allowed.

- request_rollback -> governance.promotion.rollback (Releases page, "Rollback...").
- request_retrain -> governance.retrain.request_retrain: the queue already is a request that a
  worker (or a person, through the Releases page) acts on.
- open_release_request -> governance.releases.request_release (a request; approvals decide it).
- decide_release -> governance.releases.approve / reject (Approvals page).

request_rollback and decide_release are ``confirm=True``: the server asks the person through
elicitation and passes ``confirmed`` (True only when they accepted; the client never sets it).
No service files a *pending* rollback or decision for a person to take later, so with
``confirmed=False`` (declined, or a client that cannot be asked) these tools change nothing,
audit nothing and answer where to do it in the console instead.

Errors (refused, conflict, invalid input) are raised as core.errors exceptions with one-line
messages; the server turns them into tool errors.
"""

from typing import Annotated, Literal

from pydantic import Field

from core.errors import InvalidInput
from mcp_server.read_tools import ModelName, check_model, release_view
from mcp_server.registry import REGISTRY, Call
from mcp_server.schemas import ActionResult

Reason = Annotated[str, Field(min_length=1, max_length=2000, description="why (recorded in the audit log)")]

NOT_CONFIRMED = ("Nothing was rolled back: a rollback moves the champion that serves traffic, so a person must "
                 "confirm it, and it was not confirmed here. Roll back in the console's Releases page "
                 "(Rollback...), or ask again from a client that can ask you to confirm.")
NOT_DECIDED = ("Nothing was decided: a decision on a release request needs your confirmation, and it was not "
               "confirmed here. Decide it in the console's Approvals page, or ask again from a client that can "
               "ask you to confirm.")


@REGISTRY.tool(
    "request_rollback",
    "Changes the champion: points the model's 'champion' alias in MLflow back at to_version (default: the "
    "previous champion) and runs the model's deploy hook, as the Releases page's Rollback does. Needs "
    "model.rollback on the model and a reason; audited. Only once you confirm it when asked; unconfirmed, "
    "nothing changes and the answer says where to roll back in the console. A caller without the grant "
    "is refused (and the refusal audited) either way.",
    changes=True, confirm=True)
def request_rollback(call: Call, model: ModelName, reason: Reason,
                     to_version: Annotated[str | None, Field(max_length=64, description="version to go back to")] = None,
                     confirmed: bool = False) -> ActionResult:
    from governance.promotion import rollback
    from governance.rbac import can

    check_model(call, model)
    if confirmed is not True and can(call.ctx, call.actor.username, "model.rollback", model):
        return ActionResult(action="request_rollback", model=model, done=False, message=NOT_CONFIRMED,
                            details={"to_version": to_version})
    # confirmed, or a caller without the grant: the service decides; it refuses (PermissionDenied,
    # audited with source mcp and the client) whoever may not roll back, confirmed or not
    move = rollback(call.ctx, call.actor, model, reason=reason, to_version=to_version)
    return ActionResult(
        action="request_rollback", model=model, done=True,
        message=f"{model}: champion moved from version {move.old_version or '(none)'} to {move.new_version}",
        details={"old_version": move.old_version, "new_version": move.new_version, "hook": move.hook})


@REGISTRY.tool(
    "request_retrain",
    "Queues a retrain of the model (its configured retrain command, run by the retrain worker), as the "
    "Releases page's Retrain does; changes nothing else. Needs model.retrain on the model; audited. Refused "
    "while another retrain of the model is queued or running.",
    changes=True)
def request_retrain(call: Call, model: ModelName, reason: Reason) -> ActionResult:
    from governance.retrain import request_retrain as queue

    check_model(call, model)
    job = queue(call.ctx, call.actor, model, reason=reason)
    return ActionResult(action="request_retrain", model=model, done=True,
                        message=f"retrain {job.id} of {model} queued; the retrain worker runs it "
                                "(state on the Releases page)",
                        details={"retrain_job": job.id, "state": job.state})


@REGISTRY.tool(
    "open_release_request",
    "Opens a release request for a registered version of the model: the gates are judged and the request "
    "waits for the approvers (Approvals page); nothing is promoted by this call. Needs release.request on "
    "the model; audited.",
    changes=True)
def open_release_request(call: Call, model: ModelName,
                         version: Annotated[str, Field(min_length=1, max_length=64, description="MLflow version")],
                         reason: Reason) -> ActionResult:
    from governance.releases import request_release

    check_model(call, model)
    view = request_release(call.ctx, call.actor, model, version, reason=reason)
    blocking = [g.name for g in view.blocking_gates]
    return ActionResult(action="open_release_request", model=model, done=True,
                        message=f"release request {view.id} opened for {model} version {view.version}"
                                + (f"; blocking gates: {', '.join(blocking)}" if blocking else ""),
                        details=release_view(view, False).model_dump(mode="json"))


@REGISTRY.tool(
    "decide_release",
    "Approves or rejects the current stage of a release request, as the Approvals page does; an approval "
    "of the last stage promotes the version to champion. Needs release.approve and the stage's role; four "
    "eyes applies (not your own request or version); audited. A rejection needs a comment. Only once you "
    "confirm it when asked; unconfirmed, nothing changes.",
    changes=True, confirm=True)
def decide_release(call: Call, request_id: Annotated[int, Field(ge=1)],
                   decision: Literal["approve", "reject"],
                   comment: Annotated[str, Field(max_length=4000)] = "",
                   confirmed: bool = False) -> ActionResult:
    from governance import releases

    if isinstance(request_id, bool) or not isinstance(request_id, int) or request_id < 1:
        raise InvalidInput("request_id must be a positive integer")
    if decision not in ("approve", "reject"):
        raise InvalidInput("decision must be approve or reject")
    if confirmed is not True:
        return ActionResult(action="decide_release", done=False, message=NOT_DECIDED,
                            details={"request_id": request_id, "decision": decision})
    if decision == "approve":
        view = releases.approve(call.ctx, call.actor, request_id, comment=comment)
    elif decision == "reject":
        view = releases.reject(call.ctx, call.actor, request_id, comment=comment)
    else:
        raise InvalidInput("decision must be approve or reject")
    return ActionResult(action="decide_release", model=view.model, done=True,
                        message=f"release request {view.id} ({view.model} version {view.version}): "
                                f"{decision}d; now {view.state}",
                        details=release_view(view, False).model_dump(mode="json"))
