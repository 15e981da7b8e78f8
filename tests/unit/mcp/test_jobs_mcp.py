"""jobs.mcp's own settings: the rate limit, the hosts it answers to, and its list of tools."""

from __future__ import annotations

import pytest

from core.errors import ConfigError, InvalidInput
from jobs import mcp as job
from mcp_server.auth import rate_per_min


def test_rate_per_min_reads_the_setting_and_refuses_nonsense() -> None:
    assert rate_per_min({}) == 60
    assert rate_per_min({"VIGIL_MCP_RATE_PER_MIN": " 120 "}) == 120
    with pytest.raises(ConfigError, match="VIGIL_MCP_RATE_PER_MIN: not a whole number"):
        rate_per_min({"VIGIL_MCP_RATE_PER_MIN": "fast"})
    with pytest.raises(ConfigError, match="at least 1"):
        rate_per_min({"VIGIL_MCP_RATE_PER_MIN": "0"})


def test_allowed_hosts_keep_the_dns_rebinding_guard() -> None:
    guard = job.transport_security("127.0.0.1", ["vigil.example.org"])
    assert guard is not None and guard.enable_dns_rebinding_protection
    assert "vigil.example.org" in guard.allowed_hosts and "localhost:*" in guard.allowed_hosts
    assert "https://vigil.example.org" in guard.allowed_origins
    assert job.transport_security("127.0.0.1", []) is not None
    with pytest.raises(InvalidInput, match="--allow-host"):
        job.transport_security("127.0.0.1", ["evil.example/path"])


def test_list_tools_says_what_each_tool_may_change() -> None:
    table = job.list_offer()
    assert "| tool | `whoami` | nothing |" in table


def test_http_refuses_as_before_touching_anything(capsys: pytest.CaptureFixture[str]) -> None:
    from jobs._cli import run_main

    assert run_main(job.main, ["--transport", "http", "--as", "admin"]) == 2
    assert "--as is for stdio" in capsys.readouterr().err
