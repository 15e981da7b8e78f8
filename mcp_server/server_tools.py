"""The server's own tool: who the assistant acts as, so it (and its user) can tell what the
console will let it read and do before it tries."""

from __future__ import annotations

from pydantic import BaseModel, Field

from governance.rbac import Action, permitted_models, roles_of
from mcp_server.registry import REGISTRY, Call


class Grant(BaseModel):
    role: str
    scope: str = Field(description="'*' for every model, else one model's name")


class WhoAmI(BaseModel):
    user: str = Field(description="the console user every call of this session acts as")
    via: str = Field(description="how the audit log records these calls: mcp and the client")
    roles: list[Grant]
    models_viewable: list[str] = Field(description="models whose monitoring this user may read")
    models_may_roll_back: list[str] = Field(description="models this user may ask to roll back")
    models_may_retrain: list[str] = Field(description="models this user may ask to retrain")


@REGISTRY.tool("whoami", "The console user this assistant acts as, with the roles and the models "
               "it may read, roll back and retrain. Changes nothing.")
def whoami(call: Call) -> WhoAmI:
    user = call.actor.username
    return WhoAmI(
        user=user,
        via=f"mcp ({call.actor.client_addr or call.client})",
        roles=[Grant(role=r, scope=s) for r, s in roles_of(call.ctx, user)],
        models_viewable=sorted(permitted_models(call.ctx, user, Action.MODEL_VIEW)),
        models_may_roll_back=sorted(permitted_models(call.ctx, user, Action.MODEL_ROLLBACK)),
        models_may_retrain=sorted(permitted_models(call.ctx, user, Action.MODEL_RETRAIN)),
    )
