"""The demo's release step outside demo mode: the demo accounts may not act, so the rejected
request is left for a build in demo mode instead of being written by an account that could not
have decided it (tests/integration/test_demo.py builds the whole demo in demo mode)."""

from __future__ import annotations

import dataclasses


def test_outside_demo_mode_the_rejection_waits_for_demo_mode(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    from demo.pipeline import _job_actor
    from demo.releases import _rejected
    from governance.access import ensure_demo_accounts
    from governance.releases import list_requests

    ctx = sqlite_ctx
    ctx.settings = dataclasses.replace(ctx.settings, demo_mode=False)
    ensure_demo_accounts(ctx)
    said: list[str] = []
    assert _rejected(ctx, _job_actor(ctx), said.append) == {"skipped": "demo mode off"}
    assert said and "acts only in demo mode" in said[0]
    assert list_requests(ctx, viewer="scheduler") == []  # nothing half-done left behind
