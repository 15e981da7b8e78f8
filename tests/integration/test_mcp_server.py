"""The MCP server end to end with the SDK's own client (no protocol mocks): `python -m jobs.mcp`
spawned over stdio in demo mode, and started as a streamable HTTP server that admits only
personal API tokens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import Implementation
from sqlalchemy import select, update

from core.actor import Actor
from core.context import AppContext
from core.settings import Settings
from governance import tokens
from governance.access import ensure_demo_accounts
from governance.rbac import utcnow
from governance.tables import ApiToken, AuditEntry
from tests import asyncrun
from tests.mlflow_server import free_port
from tests.unit.logs.loghelpers import add_user

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
CLIENT = Implementation(name="desk-assistant", version="1.0")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[AppContext, dict[str, str]]]:
    """A demo-mode data directory (migrated, with the demo accounts) and its environment."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("VIGIL_") and k not in ("DATABASE_URL", "MLFLOW_TRACKING_URI")}
    env.update({"VIGIL_DEMO": "true", "VIGIL_DATA_DIR": str(tmp_path / "data"),
                "VIGIL_CONFIG": str(REPO / "config" / "models.yaml"),
                "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'data' / 'mlflow' / 'mlflow.db'}",
                "VIGIL_MCP_RATE_PER_MIN": "4"})
    ctx = AppContext.create(Settings.from_env(env))
    ensure_demo_accounts(ctx)
    yield ctx, env
    ctx.engine.dispose()


def _audit(ctx: AppContext, action: str) -> list[Any]:
    with ctx.engine.connect() as conn:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        return list(conn.execute(query))


def test_stdio_acts_as_the_demo_user_and_rate_limits(demo) -> None:  # type: ignore[no-untyped-def]
    ctx, env = demo
    params = StdioServerParameters(command=sys.executable, cwd=str(REPO), env=env,
                                   args=["-m", "jobs.mcp", "--transport", "stdio", "--as", "viewer"])

    async def go() -> tuple[list[str], list[Any]]:
        async with Client(params, client_info=CLIENT, read_timeout_seconds=60) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            results = [await client.call_tool("whoami", {}) for _ in range(6)]
            return names, results

    names, results = asyncrun.run(go)
    assert "whoami" in names
    first = results[0]
    assert not first.is_error, first.content
    assert first.structured_content["user"] == "viewer"
    assert {"role": "viewer", "scope": "*"} in first.structured_content["roles"]
    assert first.structured_content["models_may_roll_back"] == []
    assert "desk-assistant" in first.structured_content["via"]
    refused = [r for r in results if r.is_error]
    assert len(refused) == 2  # a bucket of 4 calls a minute
    assert refused[0].content[0].text.startswith("permission denied: rate limit: at most 4 calls a minute")
    rows = _audit(ctx, "mcp.rate_limit")
    assert len(rows) == 1  # once per burst, not per refused call
    assert (rows[0].actor, rows[0].source, rows[0].client_addr) == ("viewer", "mcp", "desk-assistant")


def test_stdio_outside_demo_mode_needs_a_token(demo) -> None:  # type: ignore[no-untyped-def]
    _, env = demo
    env = {**env, "VIGIL_DEMO": "false"}
    done = subprocess.run([sys.executable, "-m", "jobs.mcp", "--transport", "stdio", "--as", "admin"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 4
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("permission denied: --as admin needs a personal API token")
    assert "Traceback" not in done.stderr


def test_stdio_outside_demo_mode_acts_as_the_tokens_owner(demo) -> None:  # type: ignore[no-untyped-def]
    ctx, env = demo
    add_user(ctx, "olivia", "operator", "diabetes")
    token = tokens.create_token(ctx, Actor("olivia", "ui"), "laptop assistant", expires_in_days=7).token
    env = {**env, "VIGIL_DEMO": "false", "VIGIL_TOKEN": token}
    params = StdioServerParameters(command=sys.executable, cwd=str(REPO), env=env,
                                   args=["-m", "jobs.mcp", "--transport", "stdio"])

    async def go() -> Any:
        async with Client(params, client_info=CLIENT, read_timeout_seconds=60) as client:
            return await client.call_tool("whoami", {})

    me = asyncrun.run(go).structured_content
    assert me["user"] == "olivia"
    assert me["roles"] == [{"role": "operator", "scope": "diabetes"}]
    assert me["models_may_roll_back"] == ["diabetes"]


@pytest.fixture
def http_server(demo) -> Iterator[tuple[AppContext, str]]:  # type: ignore[no-untyped-def]
    ctx, env = demo
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "jobs.mcp", "--transport", "http", "--port", str(port)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    problem = proc.stderr.read() if proc.stderr else ""
                    raise AssertionError(f"MCP server did not start: {problem}")
                time.sleep(0.2)
        yield ctx, f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _connect_and(url: str, token: str | None, action: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http), client_info=CLIENT) as client:
            return await action(client)


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _initialize_status(url: str, token: str | None) -> httpx2.Response:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "curl", "version": "0"}}}
    return httpx2.post(url, json=body, headers=headers, timeout=30)


def test_http_viewer_token_reads_and_is_rate_limited(http_server) -> None:  # type: ignore[no-untyped-def]
    ctx, url = http_server
    token = tokens.create_token(ctx, Actor("viewer", "ui"), "desk assistant", expires_in_days=7).token

    async def calls(client: Client) -> tuple[list[str], list[Any]]:
        names = [t.name for t in (await client.list_tools()).tools]
        return names, [await client.call_tool("whoami", {}) for _ in range(5)]

    names, results = asyncrun.run(_connect_and, url, token, calls)
    assert "whoami" in names
    assert not results[0].is_error, results[0].content
    assert results[0].structured_content["user"] == "viewer"
    assert [r.is_error for r in results] == [False, False, False, False, True]
    assert results[4].content[0].text.startswith("permission denied: rate limit")
    rows = _audit(ctx, "mcp.rate_limit")
    assert len(rows) == 1 and rows[0].source == "mcp" and rows[0].actor == "viewer"
    assert rows[0].client_addr.startswith("desk-assistant")
    assert token not in repr([tuple(r) for r in _audit(ctx, "token.create")])


def test_http_without_a_valid_token_gets_the_authentication_error_only(  # type: ignore[no-untyped-def]
        http_server) -> None:
    ctx, url = http_server
    owner = Actor("operator", "ui")
    revoked = tokens.create_token(ctx, owner, "old laptop", expires_in_days=7)
    tokens.revoke_token(ctx, owner, revoked.view.id)
    expired = tokens.create_token(ctx, owner, "short-lived", expires_in_days=1)
    with ctx.engine.begin() as conn:
        conn.execute(update(ApiToken).where(ApiToken.id == expired.view.id)
                     .values(expires_at=utcnow() - timedelta(minutes=1)))

    for presented in (None, "vgl_not-a-token", revoked.token, expired.token):
        response = _initialize_status(url, presented)
        assert response.status_code == 401, presented
        assert response.headers["www-authenticate"].startswith("Bearer ")
        assert "invalid_token" in response.headers["www-authenticate"]
        assert "whoami" not in response.text

    async def whoami(client: Client) -> Any:
        return await client.call_tool("whoami", {})

    with pytest.raises(Exception) as refused:  # the SDK's client cannot even connect
        asyncrun.run(_connect_and, url, revoked.token, whoami)
    assert isinstance(_leaf(refused.value), MCPError)

    refusals = _audit(ctx, "auth.token")
    reasons = " ".join(r.reason for r in refusals)
    assert "was revoked" in reasons and "expired" in reasons and "unknown API token" in reasons
    assert {r.source for r in refusals} == {"mcp"}
    stored = repr([tuple(r) for r in refusals])
    assert revoked.token not in stored and expired.token not in stored


def test_http_viewer_reads_health_and_drift_but_is_refused_audit_and_rollback(http_server) -> None:  # type: ignore[no-untyped-def]
    """Issue 15's check over streamable HTTP with the SDK's client: a viewer's token reads the
    health of day 24 and the drift, and is refused an audit search and a rollback, each refusal
    audited by the service with source mcp and the client's name."""
    from tests.unit.mcp_tools.data import T0, drift_run, health_story

    ctx, url = http_server
    health_story(ctx, "breast-cancer")
    drift_run(ctx, "breast-cancer", T0 + timedelta(days=6))
    token = tokens.create_token(ctx, Actor("viewer", "ui"), "desk assistant", expires_in_days=7).token

    async def calls(client: Client) -> list[Any]:
        return [await client.call_tool("model_health", {"model": "breast-cancer", "at": "2026-11-24T15:00:00Z"}),
                await client.call_tool("drift_summary", {"model": "breast-cancer"}),
                await client.call_tool("audit_search", {}),
                await client.call_tool("request_rollback", {"model": "breast-cancer", "reason": "p99 spike"})]

    health, drift, audit, rollback = asyncrun.run(_connect_and, url, token, calls)
    assert not health.is_error and health.structured_content["status"] == "critical"
    assert not drift.is_error and "mean_radius" in drift.structured_content["latest"]["drifted_feature_names"]
    assert audit.is_error and audit.content[0].text.startswith("permission denied: viewer may not audit.read")
    assert rollback.is_error and rollback.content[0].text.startswith("permission denied: viewer may not model.rollback")
    for action in ("audit.read", "model.rollback"):
        [row] = [r for r in _audit(ctx, action) if r.outcome == "denied"]
        assert (row.actor, row.source) == ("viewer", "mcp") and row.client_addr.startswith("desk-assistant")
