"""The MCP server (Model Context Protocol) for AI assistants: read the console's evidence and
request governed actions as a real console user.

    python -m jobs.mcp --transport stdio --as USER          # a local assistant spawns this
    python -m jobs.mcp --transport http [--host 127.0.0.1] --port 8765   # a shared server

stdio acts as ``--as`` exactly as every command does (demo mode, or VIGIL_TOKEN holding that
person's API token outside it). HTTP (streamable HTTP at ``/mcp``) acts, request by request, as
the owner of the personal API token in ``Authorization: Bearer <token>``; a request without a
valid token gets HTTP 401 and nothing else. Calls are rate-limited per token (HTTP) or per user
(stdio): VIGIL_MCP_RATE_PER_MIN, default 60.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from core.errors import InvalidInput, PermissionDenied
from jobs._cli import EXIT_OK, parser, run_main, setup_logging
from jobs._identity import AS_HELP, cli_actor

log = logging.getLogger("vigil.jobs.mcp")


def build_parser():  # type: ignore[no-untyped-def]
    p = parser("mcp", __doc__ or "")
    p.add_argument("--transport", choices=("stdio", "http"), default="stdio",
                   help="stdio: one local assistant, acting as --as; http: streamable HTTP, each "
                        "request acting as the owner of its bearer API token (default stdio)")
    p.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP + " (stdio only)")
    p.add_argument("--host", default="127.0.0.1", help="http: address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="http: port (default 8765)")
    p.add_argument("--allow-host", action="append", default=[], metavar="HOST[:PORT]",
                   help="http: a Host header to accept besides localhost, e.g. vigil.example.org "
                        "behind a proxy (repeatable; requests naming other hosts are refused, "
                        "against DNS rebinding)")
    p.add_argument("--list-tools", action="store_true",
                   help="print each tool, resource and prompt with what it may change, and exit")
    return p


def list_offer() -> str:
    """The tools, resources and prompts the server offers, one line each (Markdown table rows)."""
    import mcp_server.server_tools  # noqa: F401  (the server's own tools)
    from mcp_server.registry import load

    registry = load()
    lines = ["| kind | name | may change | description |", "|---|---|---|---|"]
    for tool in sorted(registry.tools, key=lambda t: t.name):
        change = ("yes, after confirmation" if tool.confirm
                  else "yes" if tool.changes else "nothing")
        lines.append(f"| tool | `{tool.name}` | {change} | {tool.description} |")
    for res in sorted(registry.resources, key=lambda r: r.uri_template):
        lines.append(f"| resource | `{res.uri_template}` | nothing | {res.description} |")
    for prompt in sorted(registry.prompts, key=lambda p: p.name):
        lines.append(f"| prompt | `{prompt.name}` | nothing | {prompt.description} |")
    return "\n".join(lines)


def transport_security(host: str, allowed: Sequence[str]):  # type: ignore[no-untyped-def]
    """The SDK's DNS-rebinding guard: localhost always, plus each ``--allow-host`` (any port
    when it names none); on a public address with no ``--allow-host``, the SDK's default."""
    from mcp.server.transport_security import TransportSecuritySettings

    local = host in ("127.0.0.1", "localhost", "::1")
    if not allowed and not local:
        return None
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    for name in allowed:
        name = name.strip()
        if not name or any(c in name for c in "/ @?#"):
            raise InvalidInput(f"--allow-host: not a host name: {name!r}")
        hosts += [name] if ":" in name else [name, f"{name}:*"]
        origins += [f"https://{name}", f"http://{name}"]
    return TransportSecuritySettings(allowed_hosts=hosts, allowed_origins=origins)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.list_tools:
        print(list_offer())
        return EXIT_OK
    from core.context import AppContext
    from mcp_server.auth import rate_per_min
    from mcp_server.server import build_server

    rate = rate_per_min()
    if not 0 < args.port < 65536:
        raise InvalidInput(f"--port: not a TCP port: {args.port}")
    if args.transport == "http" and args.as_user:
        raise InvalidInput("--as is for stdio; over HTTP each request acts as the owner of its "
                           "bearer API token")
    ctx = AppContext.create()
    if args.transport == "stdio":
        actor = cli_actor(ctx, args.as_user)
        if actor.source != "cli":  # no --as and no token: the job account is not an assistant's
            raise PermissionDenied("--transport stdio needs --as USER (demo mode) or VIGIL_TOKEN "
                                   "holding your personal API token")
        server = build_server(ctx, user=actor.username, rate_per_min=rate)
        log.info("MCP server on stdio, acting as %s", actor.username)
        server.run("stdio")
        return EXIT_OK
    url = f"http://{args.host}:{args.port}"
    server = build_server(ctx, user=None, rate_per_min=rate, issuer_url=url)
    print(f"MCP server at {url}/mcp (streamable HTTP; Authorization: Bearer <API token>)",
          file=sys.stderr, flush=True)
    server.run("streamable-http", host=args.host, port=args.port,
               transport_security=transport_security(args.host, args.allow_host))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_main(main))
