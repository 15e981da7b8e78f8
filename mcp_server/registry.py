"""What the MCP server offers, in one list: tools, resources and prompts, each a plain function of
a :class:`Call` (who is calling, through which client) and its arguments.

The functions call the console's services only (so roles, scopes, PII masking and the audit log
apply unchanged) and return pydantic models, which give each tool its output schema. The server
(mcp_server.server) registers everything listed here with the MCP SDK and builds the Call for
each request; the functions never see the protocol, so they are tested without it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.actor import Actor


@dataclass(frozen=True)
class Call:
    """One MCP request: the console context, the console user it acts as (``Actor(username,
    "mcp", client_addr=<client name[@address]>)``, so every audit entry says via mcp and which
    client), and the client's name as it introduced itself."""

    ctx: Any  # core.context.AppContext
    actor: Actor
    client: str = "unknown client"


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str  # says what the tool reads, and what it may change
    func: Callable[..., Any]  # func(call, **arguments) -> a pydantic BaseModel
    changes: bool = False  # True: it files or performs a governed action
    # True: ask the human (elicitation) before acting, where the client can. The function then
    # takes ``confirmed: bool = False`` (hidden from the tool's input schema): the server passes
    # True only when the person accepted; with False the tool acts on nothing and says where in
    # the console a person does it (no service files a pending rollback or decision).
    confirm: bool = False


@dataclass(frozen=True)
class ResourceSpec:
    uri_template: str  # e.g. "vigil://models/{model}/drift/latest"
    name: str
    description: str
    mime_type: str
    func: Callable[..., str]  # func(call, **uri parameters) -> the resource's text


@dataclass(frozen=True)
class PromptSpec:
    name: str
    description: str
    func: Callable[..., str]  # func(**arguments) -> the prompt text


@dataclass
class Registry:
    tools: list[ToolSpec] = field(default_factory=list)
    resources: list[ResourceSpec] = field(default_factory=list)
    prompts: list[PromptSpec] = field(default_factory=list)

    def tool(self, name: str, description: str, *, changes: bool = False,
             confirm: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def add(func: Callable[..., Any]) -> Callable[..., Any]:
            self.tools.append(ToolSpec(name, description, func, changes, confirm))
            return func
        return add

    def resource(self, uri_template: str, name: str, description: str,
                 mime_type: str = "application/json") -> Callable[[Callable[..., str]], Callable[..., str]]:
        def add(func: Callable[..., str]) -> Callable[..., str]:
            self.resources.append(ResourceSpec(uri_template, name, description, mime_type, func))
            return func
        return add

    def prompt(self, name: str, description: str) -> Callable[[Callable[..., str]], Callable[..., str]]:
        def add(func: Callable[..., str]) -> Callable[..., str]:
            self.prompts.append(PromptSpec(name, description, func))
            return func
        return add


#: Everything the server offers; the tool modules (mcp_server.read_tools, mcp_server.actions)
#: add to it when imported (see :func:`load`).
REGISTRY = Registry()


def load() -> Registry:
    """Import every module that registers tools, resources and prompts; the full registry."""
    import importlib

    for module in ("mcp_server.read_tools", "mcp_server.actions"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return REGISTRY
