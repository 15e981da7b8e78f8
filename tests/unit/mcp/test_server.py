"""The MCP server's own parts, driven by the SDK's own client connected in-process: tools from
the registry with their schemas, one-line console errors, confirmation through elicitation, the
rate limit (audited once per burst) and the Call every function receives."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.types import ElicitResult, Implementation
from pydantic import BaseModel
from sqlalchemy import select

from core.context import AppContext
from core.errors import PermissionDenied
from governance.tables import AuditEntry
from mcp_server.auth import RateLimiter
from mcp_server.registry import Call, Registry
from mcp_server.server import build_server
from tests import asyncrun
from tests.unit.logs.loghelpers import add_user


class Echo(BaseModel):
    user: str
    source: str
    client: str
    client_addr: str | None
    model: str
    confirmed: bool | None = None


def _registry() -> Registry:
    reg = Registry()

    @reg.tool("echo", "Says who called it.")
    def echo(call: Call, model: str, limit: int = 10) -> Echo:
        return Echo(user=call.actor.username, source=call.actor.source, client=call.client,
                    client_addr=call.actor.client_addr, model=model)

    @reg.tool("forbidden", "Always refused.")
    def forbidden(call: Call) -> Echo:
        raise PermissionDenied(f"{call.actor.username} may not roll back breast-cancer")

    @reg.tool("roll", "Rolls back (asks first).", changes=True, confirm=True)
    def roll(call: Call, model: str, confirmed: bool = False) -> Echo:
        return Echo(user=call.actor.username, source=call.actor.source, client=call.client,
                    client_addr=call.actor.client_addr, model=model, confirmed=confirmed)

    @reg.resource("vigil://models/{model}/echo", "echo", "the model's name back")
    def echo_resource(call: Call, model: str) -> str:
        return f"{model} for {call.actor.username}"

    @reg.resource("vigil://whoami", "me", "who the calls act as", mime_type="text/plain")
    def me(call: Call) -> str:
        return call.actor.username

    @reg.prompt("investigate", "Investigate model M")
    def investigate(model: str) -> str:
        return f"look at {model}"

    return reg


def _run(coro_fn: Any) -> Any:
    return asyncrun.run(coro_fn)


def _client(server: Any, **kw: Any) -> Client:
    return Client(server, client_info=Implementation(name="test-assistant", version="1"), **kw)


def test_tools_schemas_and_call_act_as_the_user_via_mcp(sqlite_ctx: AppContext) -> None:
    server = build_server(sqlite_ctx, user="val", registry=_registry())

    async def go() -> None:
        async with _client(server) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) >= {"echo", "forbidden", "roll"}
            assert tools["echo"].input_schema["required"] == ["model"]
            assert "call" not in tools["echo"].input_schema["properties"]
            assert "ctx" not in tools["echo"].input_schema["properties"]
            assert "confirmed" not in tools["roll"].input_schema["properties"]
            assert tools["echo"].output_schema["properties"]["user"]["type"] == "string"
            assert "Read only" in tools["echo"].description
            assert "confirm" in tools["roll"].description
            result = await client.call_tool("echo", {"model": "diabetes"})
            assert not result.is_error
            assert result.structured_content["user"] == "val"
            assert result.structured_content["source"] == "mcp"
            assert result.structured_content["client"] == "test-assistant"
            assert result.structured_content["client_addr"].startswith("test-assistant")
            res = await client.read_resource("vigil://models/diabetes/echo")
            assert res.contents[0].text == "diabetes for val"
            assert (await client.read_resource("vigil://whoami")).contents[0].text == "val"
            prompt = await client.get_prompt("investigate", {"model": "diabetes"})
            assert "look at diabetes" in prompt.messages[0].content.text

    _run(go)


def test_errors_are_one_clear_line(sqlite_ctx: AppContext) -> None:
    server = build_server(sqlite_ctx, user="val", registry=_registry())

    async def go() -> None:
        async with _client(server) as client:
            denied = await client.call_tool("forbidden", {})
            assert denied.is_error
            assert denied.content[0].text == "permission denied: val may not roll back breast-cancer"
            bad = await client.call_tool("echo", {"limit": "many"})
            assert bad.is_error
            text = bad.content[0].text
            assert text.startswith("invalid arguments: ") and "\n" not in text
            assert "model" in text and "limit" in text

    _run(go)


def test_confirm_tools_ask_through_elicitation_or_only_file(sqlite_ctx: AppContext) -> None:
    server = build_server(sqlite_ctx, user="val", registry=_registry())
    asked: list[str] = []

    async def yes(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})

    async def no(context: Any, params: Any) -> ElicitResult:
        return ElicitResult(action="decline")

    async def go() -> None:
        async with _client(server) as client:  # no elicitation capability: only files
            result = await client.call_tool("roll", {"model": "diabetes"})
            assert result.structured_content["confirmed"] is False
        for mode in ("legacy", "auto"):  # a request mid-call (<= 2025-11-25), an input round (2026)
            async with _client(server, elicitation_callback=yes, mode=mode) as client:
                tool = [t for t in (await client.list_tools()).tools if t.name == "roll"][0]
                assert set(tool.input_schema["properties"]) == {"model"}
                result = await client.call_tool("roll", {"model": "diabetes"})
                assert not result.is_error, result.content
                assert result.structured_content["confirmed"] is True, mode
                assert asked and "roll" in asked[-1] and "diabetes" in asked[-1]
            async with _client(server, elicitation_callback=no, mode=mode) as client:
                result = await client.call_tool("roll", {"model": "diabetes"})
                assert result.structured_content["confirmed"] is False
        assert len(asked) == 2

    _run(go)


def test_rate_limit_refuses_clearly_and_audits_once_per_burst(sqlite_ctx: AppContext) -> None:
    add_user(sqlite_ctx, "val", "viewer")
    server = build_server(sqlite_ctx, user="val", rate_per_min=3, registry=_registry())

    async def go() -> list[Any]:
        async with _client(server) as client:
            return [await client.call_tool("echo", {"model": "diabetes"}) for _ in range(6)]

    results = _run(go)
    assert [r.is_error for r in results] == [False, False, False, True, True, True]
    assert results[3].content[0].text.startswith("permission denied: rate limit: at most 3 calls a minute")
    with sqlite_ctx.engine.connect() as conn:
        rows = conn.execute(select(AuditEntry).where(AuditEntry.action == "mcp.rate_limit")).all()
    assert len(rows) == 1
    assert rows[0].source == "mcp" and rows[0].outcome == "denied"


def test_rate_limiter_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(per_min=2, clock=lambda: now[0])
    assert limiter.take("a")[0] and limiter.take("a")[0]
    allowed, first, wait = limiter.take("a")
    assert not allowed and first and wait == pytest.approx(30.0)
    assert limiter.take("a") == (False, False, pytest.approx(30.0))
    assert limiter.take("b")[0]  # another token or user has its own bucket
    now[0] = 30.0
    assert limiter.take("a")[0]


def test_error_line_names_the_kind_of_console_error() -> None:
    from core.errors import InvalidInput, NotFound, ServiceUnavailable
    from mcp_server.server import error_line

    denied = error_line(PermissionDenied("viewer may not\nroll back"))
    assert denied == "permission denied: viewer may not roll back"
    assert error_line(NotFound("unknown model 'x'")) == "unknown model 'x'"
    assert error_line(InvalidInput("limit: must be 1-500")) == "limit: must be 1-500"
    assert error_line(ServiceUnavailable("MLflow did not answer")) == "unavailable: MLflow did not answer"


def test_entries_via_mcp_keep_the_chain_verifiable(sqlite_ctx: AppContext) -> None:
    from core.actor import Actor

    sqlite_ctx.audit.append(Actor("val", "ui"), "auth.sign_in", "user:val", "success")
    sqlite_ctx.audit.append(Actor("val", "mcp", client_addr="desk-assistant@10.0.0.7"),
                            "model.rollback", "diabetes", "denied", reason="viewer")
    report = sqlite_ctx.audit.verify()
    assert report.ok and report.count == 2, report.problem
