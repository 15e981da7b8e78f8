"""The MCP server: everything in :mod:`mcp_server.registry`, offered through the official SDK.

Each ToolSpec becomes a tool (input schema from the function's signature minus ``call``, output
schema from its pydantic return type), each ResourceSpec a resource (template), each PromptSpec
a prompt. Every request acts as a console user (:func:`build_server`'s ``user`` over stdio, the
owner of the bearer token over HTTP) through ``Call(ctx, Actor(user, "mcp", client_addr=<client
name[@address]>), client)``, so the services check permissions and write the audit log exactly
as for a page. Console errors come back as one-line tool errors; nothing else is re-implemented
here.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from core.actor import Actor
from core.db import describe_db_error
from core.errors import (
    AuthenticationError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    VigilError,
)
from core.redact import redact_text
from mcp_server.auth import ConsoleTokenVerifier, RateLimiter
from mcp_server.registry import Call, Registry, ResourceSpec, ToolSpec

log = logging.getLogger("vigil.mcp")

SERVER_NAME = "vigil"
INSTRUCTIONS = (
    "Vigil, the console for production ML models: read health, drift, SLOs, explanations, "
    "releases and the audit log; request governed actions (rollback, retrain, releases), which "
    "go through the same permissions, approvals and audit log as a person in the console.")


CONFIRMATION = "confirmation"  # the hidden parameter the SDK fills with the person's answer


class ConfirmAction(BaseModel):
    """What the human answers when a tool asks to confirm an action."""

    confirm: bool = False


def error_line(exc: BaseException) -> str:
    """A console error as the one line an assistant (and its user) reads."""
    text = redact_text(" ".join(str(exc).split()))
    if isinstance(exc, (PermissionDenied, AuthenticationError)):
        return f"permission denied: {text}"
    if isinstance(exc, ServiceUnavailable):
        return f"unavailable: {text}"
    if isinstance(exc, Conflict):
        return f"conflict: {text}"
    if isinstance(exc, (InvalidInput, NotFound)):
        return text
    return f"error: {text}"


def validation_line(exc: ValidationError) -> str:
    """Pydantic's argument errors as one line: ``invalid arguments: model: Field required; ...``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "arguments"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid arguments: " + "; ".join(parts)


class VigilMCP(MCPServer):
    """MCPServer whose tool errors are the console's one-line messages, never a traceback."""

    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: Context | None = None) -> Any:  # type: ignore[override]
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:
            log.error("tool %s failed unexpectedly: %s", name, redact_text(repr(exc.__cause__)))
            raise ToolError(f"internal error in tool {name}; the server log has the details") from None
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                raise ToolError(validation_line(cause)) from None
            if isinstance(cause, (ToolError, ResourceError)):
                raise ToolError(str(cause)) from None
            raise ToolError(" ".join(str(exc).split())) from None


class Identity:
    """Who each request acts as, its client, and the rate limit per token or user."""

    def __init__(self, ctx: Any, user: str | None, limiter: RateLimiter) -> None:
        self.ctx = ctx
        self.user = user  # stdio: fixed; HTTP (None): the bearer token's owner
        self.limiter = limiter

    def who(self) -> tuple[str, str]:
        """(username, rate-limit key) of the current request."""
        if self.user is not None:
            return self.user, f"user:{self.user}"
        token = get_access_token()
        if token is None or not token.subject:
            raise PermissionDenied("no valid API token on this request")
        return token.subject, f"token:{(token.claims or {}).get('token_id', token.subject)}"

    @staticmethod
    def client_of(context: Context | None) -> tuple[str, str]:
        """(client name as it introduced itself, client_addr for the audit log)."""
        name = "unknown client"
        address = None
        if context is not None:
            try:
                params = context.session.client_params
                if params is not None and params.client_info is not None and params.client_info.name:
                    name = params.client_info.name
            except (AttributeError, ValueError, LookupError):
                pass
            try:
                request = context.request_context.request
                peer = getattr(request, "client", None)
                address = getattr(peer, "host", None)
            except (AttributeError, ValueError, LookupError):
                pass
        name = " ".join(str(name).split())[:80] or "unknown client"
        return name, (f"{name}@{address}" if address else name)[:128]

    def call(self, context: Context | None) -> Call:
        """The Call for this request, after its rate limit (a refusal raises PermissionDenied)."""
        username, key = self.who()
        client, client_addr = self.client_of(context)
        actor = Actor(username, "mcp", client_addr=client_addr)
        allowed, first, wait = self.limiter.take(key)
        if not allowed:
            message = (f"rate limit: at most {self.limiter.per_min} calls a minute "
                       f"(VIGIL_MCP_RATE_PER_MIN); try again in {max(1, round(wait))} s")
            if first:  # once per burst, not per refused call
                self.ctx.audit.append(actor, "mcp.rate_limit", f"user:{username}", "denied",
                                      reason=message, details={"client": client})
            raise PermissionDenied(message)
        return Call(self.ctx, actor, client)


def _signature(func: Callable[..., Any], drop: set[str]) -> tuple[list[inspect.Parameter], Any]:
    """The function's parameters (annotations resolved) without ``call`` and ``drop``."""
    sig = inspect.signature(func, eval_str=True)
    params = list(sig.parameters.values())[1:]  # the first is the Call
    return [p for p in params if p.name not in drop], sig.return_annotation


def _with_context(wrapper: Callable[..., Any], params: list[inspect.Parameter], returns: Any,
                  name: str) -> Callable[..., Any]:
    """Give ``wrapper`` the signature ``(*params, ctx: Context) -> returns`` the SDK reads."""
    ctx_param = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)
    if any(p.name == "ctx" for p in params):
        raise TypeError(f"{name}: a parameter may not be called 'ctx'")
    ordered = sorted(params, key=lambda p: p.kind) + [ctx_param]
    signature = inspect.Signature(ordered, return_annotation=returns)
    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in ordered
                               if p.annotation is not inspect.Parameter.empty}
    if returns is not inspect.Signature.empty:
        wrapper.__annotations__["return"] = returns
    wrapper.__name__ = name
    return wrapper


def _client_can_elicit(context: Context) -> bool:
    """The client declared form elicitation, and this request has a way to ask it: a request
    in the call (up to 2025-11-25) or an input-required round (2026-07-28 and later)."""
    try:
        caps = context.client_capabilities
        form = caps.elicitation if caps is not None else None
        if form is None or (form.form is None and form.url is not None):
            return False
        version = context.protocol_version
        return bool((version is not None and is_version_at_least(version, "2026-07-28"))
                    or context.session.can_send_request)
    except (AttributeError, ValueError, LookupError):
        return False


def _confirmation(spec: ToolSpec, params: list[inspect.Parameter]) -> Callable[..., Any]:
    """The SDK resolver that asks the person to confirm ``spec`` (with its arguments) through
    elicitation, in whichever way the negotiated protocol asks; where the client cannot be
    asked, the answer is "not confirmed" and the tool only files the request."""

    def ask(ctx: Context, **arguments: Any) -> Any:
        if not _client_can_elicit(ctx):
            return ConfirmAction(confirm=False)
        shown = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
        return Elicit(f"{spec.name}({shown}): {spec.description}\nConfirm this action?", ConfirmAction)

    named = [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY) for p in params]
    ctx_param = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)
    ask.__signature__ = inspect.Signature([ctx_param, *named])  # type: ignore[attr-defined]
    ask.__annotations__ = {"ctx": Context}
    return ask


def _confirmed(outcome: Any) -> bool:
    return isinstance(outcome, AcceptedElicitation) and bool(getattr(outcome.data, "confirm", False))


def _tool(identity: Identity, spec: ToolSpec) -> Callable[..., Any]:
    params, returns = _signature(spec.func, {"confirmed"} if spec.confirm else set())
    extra: list[inspect.Parameter] = []
    if spec.confirm:
        answer = Annotated[ElicitationResult[ConfirmAction], Resolve(_confirmation(spec, params))]
        extra.append(inspect.Parameter(CONFIRMATION, inspect.Parameter.KEYWORD_ONLY, annotation=answer))

    async def run(ctx: Context, **arguments: Any) -> Any:
        try:
            call = identity.call(ctx)
            if spec.confirm:
                arguments["confirmed"] = _confirmed(arguments.pop(CONFIRMATION, None))
            return await anyio.to_thread.run_sync(lambda: spec.func(call, **arguments))
        except VigilError as exc:
            raise ToolError(error_line(exc)) from None
        except ValidationError as exc:
            raise ToolError(validation_line(exc)) from None
        except (OperationalError, InterfaceError) as exc:  # a database outage no service translated
            raise ToolError(f"unavailable: {describe_db_error(exc)}") from None

    return _with_context(run, params + extra, returns, spec.name)


def _resource(identity: Identity, spec: ResourceSpec) -> Callable[..., Any]:
    params, _ = _signature(spec.func, set())

    async def read(ctx: Context | None = None, **parameters: Any) -> str:
        try:
            call = identity.call(ctx)
            return await anyio.to_thread.run_sync(lambda: spec.func(call, **parameters))
        except VigilError as exc:
            raise ResourceError(error_line(exc)) from None
        except (OperationalError, InterfaceError) as exc:
            raise ResourceError(f"unavailable: {describe_db_error(exc)}") from None

    if not params:  # the SDK injects no Context into a static resource: the client stays unnamed
        async def read_static() -> str:
            return await read()

        read_static.__name__ = spec.name
        return read_static
    return _with_context(read, params, str, spec.name)


def build_server(ctx: Any, *, user: str | None = None, rate_per_min: int = 60,
                 registry: Registry | None = None, issuer_url: str | None = None) -> VigilMCP:
    """The SDK server over ``registry`` (default: :func:`mcp_server.registry.load`).

    ``user`` set: every request acts as that user (stdio). ``user`` None: every HTTP request
    must carry a valid personal API token (``issuer_url``: this server's own address, which
    the SDK's auth settings require).
    """
    import mcp_server.server_tools  # noqa: F401  (registers the server's own tools)
    from mcp_server.registry import load

    registry = registry or load()
    identity = Identity(ctx, user, RateLimiter(rate_per_min))
    auth = None
    verifier = None
    if user is None:
        auth = AuthSettings(issuer_url=issuer_url or "http://127.0.0.1", resource_server_url=None)
        verifier = ConsoleTokenVerifier(ctx)
    server = VigilMCP(SERVER_NAME, instructions=INSTRUCTIONS, token_verifier=verifier, auth=auth,
                      log_level="WARNING")
    for tool in registry.tools:
        server.add_tool(_tool(identity, tool), name=tool.name, description=_describe(tool))
    for res in registry.resources:
        server.resource(res.uri_template, name=res.name, description=res.description,
                        mime_type=res.mime_type)(_resource(identity, res))
    for prompt in registry.prompts:
        server.prompt(name=prompt.name, description=prompt.description)(prompt.func)
    return server


def _describe(tool: ToolSpec) -> str:
    """The description, saying what the tool may change where it does not say so itself."""
    if "change" in tool.description.lower():
        return tool.description
    if tool.changes and tool.confirm:
        return (f"{tool.description} (Changes the console: asks you to confirm where the client "
                "supports it; otherwise only files the request for a person to confirm.)")
    if tool.changes:
        return f"{tool.description} (Changes the console.)"
    return f"{tool.description} (Read only.)"


__all__ = ["VigilMCP", "build_server", "error_line"]
