"""Who an MCP request acts as, and how often it may call.

* HTTP: ``Authorization: Bearer <personal API token>``, resolved by
  :func:`governance.tokens.resolve_token` on every request (a token revoked or expired while a
  session is open is refused on its next request). The SDK's bearer-auth middleware answers a
  request without a valid token with HTTP 401 and ``WWW-Authenticate: Bearer ...``; nothing
  else of the server is reachable.
* stdio: the user given to ``jobs.mcp --as`` (resolved by ``jobs._identity.cli_actor``).

The rate limit is a token bucket per API token (HTTP) or per user (stdio).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from mcp.server.auth.provider import AccessToken

from core.errors import AuthenticationError, ConfigError

RATE_ENV = "VIGIL_MCP_RATE_PER_MIN"
DEFAULT_RATE_PER_MIN = 60


class ConsoleTokenVerifier:
    """The SDK's ``TokenVerifier`` over the console's personal API tokens."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    async def verify_token(self, token: str) -> AccessToken | None:
        from governance.tokens import resolve_token, token_id

        try:
            # the service audits a refusal (source mcp, a short hash id of the token, never it)
            owner = await anyio.to_thread.run_sync(
                lambda: resolve_token(self.ctx, token, client_addr="http", source="mcp"))
        except AuthenticationError:
            return None
        return AccessToken(token=token, client_id=owner, subject=owner, scopes=[],
                           claims={"token_id": token_id(token)})


def rate_per_min(env: Mapping[str, str] | None = None) -> int:
    """``VIGIL_MCP_RATE_PER_MIN`` (calls a minute per token or user; default 60)."""
    raw = (env if env is not None else os.environ).get(RATE_ENV, "").strip()
    if not raw:
        return DEFAULT_RATE_PER_MIN
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{RATE_ENV}: not a whole number: {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{RATE_ENV}: must be at least 1, got {value}")
    return value


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    in_burst: bool = False  # refusals since the last allowed call (audited once per burst)


@dataclass
class RateLimiter:
    """A token bucket per key: ``per_min`` calls a minute, bursts of up to ``per_min``."""

    per_min: int = DEFAULT_RATE_PER_MIN
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str) -> tuple[bool, bool, float]:
        """One call for ``key``: (allowed, first refusal of this burst, seconds until the next)."""
        now = self.clock()
        rate = self.per_min / 60.0
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.per_min), now)
            bucket.tokens = min(float(self.per_min), bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                bucket.in_burst = False
                return True, False, 0.0
            first = not bucket.in_burst
            bucket.in_burst = True
            return False, first, (1.0 - bucket.tokens) / rate
