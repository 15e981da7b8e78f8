"""The registry's tool functions as the MCP SDK reads them (its own func_metadata, the call
parameter left to the server): every argument gets a JSON schema with the bounds the tools
check, and every tool an output schema from its pydantic model."""

from __future__ import annotations

import pytest

func_metadata = pytest.importorskip("mcp.server.mcpserver.utilities.func_metadata").func_metadata


def test_every_tool_has_input_and_output_schemas_the_sdk_accepts() -> None:
    from mcp_server.registry import load

    for spec in load().tools:
        # the server drops 'confirmed' of a confirm tool: the person's answer to its question fills it
        skip = ["call", "confirmed"] if spec.confirm else ["call"]
        meta = func_metadata(spec.func, skip_names=skip, structured_output=True)
        props = meta.arg_model.model_json_schema().get("properties", {})
        assert "call" not in props and "confirmed" not in props, spec.name
        assert meta.output_schema and meta.output_schema.get("type") == "object", spec.name
    tools = {t.name: t for t in load().tools}
    limit = func_metadata(tools["audit_search"].func, skip_names=["call"]).arg_model.model_json_schema()
    schema = limit["properties"]["limit"]
    assert (schema["minimum"], schema["maximum"], schema["default"]) == (1, 200, 50)
    assert all("confirmed" in t.func.__code__.co_varnames for t in tools.values() if t.confirm)
    decide = func_metadata(tools["decide_release"].func,
                           skip_names=["call", "confirmed"]).arg_model.model_json_schema()
    assert decide["properties"]["decision"]["enum"] == ["approve", "reject"]
    assert decide["required"] == ["request_id", "decision"]


def test_the_readme_table_is_what_list_tools_prints() -> None:
    from pathlib import Path

    import jobs.mcp as job

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    assert job.list_offer().strip() in readme  # regenerate with: python -m jobs.mcp --list-tools
