"""Run an async test body to completion from a synchronous test.

Playwright's sync API (the browser tests, session-scoped) leaves an asyncio loop marked running
in the main thread for the rest of the session, and ``anyio.run`` there then fails with "Cannot
run the event loop while another loop is running". A fresh thread has no running loop."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio


def run(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """``anyio.run(fn, *args)`` in a thread of its own; its result, or its exception re-raised."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = anyio.run(fn, *args)
        except BaseException as exc:  # noqa: BLE001  re-raised in the caller's thread
            out["error"] = exc

    thread = threading.Thread(target=target, name="async-test-body")
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")
