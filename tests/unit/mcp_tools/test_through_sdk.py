"""The tools as an assistant meets them: the console's MCP server (mcp_server.server) over the
whole registry, driven by the SDK's own client in-process. The demo's question about
breast-cancer on day 24 is answered from stored history, a viewer's audit search is one clear
line (and audited via mcp with the client's name), and a rollback moves the MLflow alias only
when the person confirms through elicitation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

mcp = pytest.importorskip("mcp")

from mcp import Client  # noqa: E402
from mcp.types import ElicitResult, Implementation  # noqa: E402

from mcp_server.server import build_server  # noqa: E402
from tests import asyncrun
from tests.unit.governance.test_promotion import RM, make_versions  # noqa: E402
from tests.unit.logs.loghelpers import add_user  # noqa: E402
from tests.unit.mcp_tools.data import T0, health_story, slo_story  # noqa: E402

BC = "breast-cancer"


def _client(server: Any, **kw: Any) -> Client:
    return Client(server, client_info=Implementation(name="test-assistant", version="1"), **kw)


def test_day_24_is_answered_and_a_viewer_is_refused_the_audit_log(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    add_user(sqlite_ctx, "val", "viewer", BC)
    health_story(sqlite_ctx, BC)
    slo_story(sqlite_ctx, BC, T0 + timedelta(days=6))
    server = build_server(sqlite_ctx, user="val")

    async def go() -> None:
        async with _client(server) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"model_health", "slo_status", "audit_search", "request_rollback"} <= names
            health = await client.call_tool("model_health", {"model": BC, "at": "2026-11-24T15:00:00Z"})
            assert health.structured_content["status"] == "critical", health.content
            slo = await client.call_tool("slo_status", {"model": BC, "at": "2026-11-24T15:00:00Z"})
            assert slo.structured_content["slos"][0]["firing"] == ["page", "ticket"]
            history = await client.read_resource(f"vigil://models/{BC}/health/history")
            assert '"critical"' in history.contents[0].text
            prompt = await client.get_prompt("investigate_model", {"model": BC, "at": "2026-11-24T15:00:00Z"})
            assert "slo_status" in prompt.messages[0].content.text
            refused = await client.call_tool("audit_search", {})
            assert refused.is_error and refused.content[0].text.startswith("permission denied: ")
            assert "\n" not in refused.content[0].text
            bad = await client.call_tool("model_health", {"model": "nope"})
            assert bad.is_error and "unknown model 'nope'" in bad.content[0].text

    asyncrun.run(go)
    entry = [e for e in sqlite_ctx.audit.query(action="audit.read")][-1]
    assert (entry.actor, entry.outcome, entry.source) == ("val", "denied", "mcp")
    assert entry.client_addr.startswith("test-assistant")


def test_a_rollback_moves_the_alias_only_when_the_person_confirms(sqlite_ctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from governance import promotion

    add_user(sqlite_ctx, "otto", "operator", BC)
    make_versions(sqlite_ctx.settings.mlflow_tracking_uri, tmp_path, 3, champion="3")
    server = build_server(sqlite_ctx, user="otto")
    asked: list[str] = []

    async def yes(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})

    args = {"model": BC, "reason": "p95 latency 900 ms", "to_version": "2"}

    async def go() -> None:
        async with _client(server) as client:  # cannot be asked: nothing changes
            unasked = await client.call_tool("request_rollback", args)
            assert unasked.structured_content["done"] is False
            assert "Releases page" in unasked.structured_content["message"]
        assert promotion.registry_of(sqlite_ctx).aliases(RM)["champion"] == "3"
        async with _client(server, elicitation_callback=yes) as client:
            done = await client.call_tool("request_rollback", args)
            assert not done.is_error, done.content
            assert done.structured_content["done"] is True
            assert asked and "request_rollback" in asked[-1]

    asyncrun.run(go)
    assert promotion.registry_of(sqlite_ctx).aliases(RM)["champion"] == "2"
    entry = [e for e in sqlite_ctx.audit.query(action="model.rollback")][-1]
    assert (entry.actor, entry.outcome, entry.source) == ("otto", "success", "mcp")
    assert entry.client_addr.startswith("test-assistant")
