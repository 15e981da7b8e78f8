"""Helpers shared by the log-ingestion, drift-service and Drift-page tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from core.actor import Actor
from core.db import session_scope

BASE = datetime(2026, 11, 1, tzinfo=UTC)


def add_user(ctx: Any, username: str, role: str, scope: str = "*") -> Actor:
    """Create an active user with one grant (no permission checks: test set-up only)."""
    from governance.rbac import insert_grant
    from governance.tables import User

    with session_scope(ctx.engine) as session:
        session.add(User(username=username, display_name=username, created_at=datetime.now(UTC)))
        session.flush()
        insert_grant(session, username, role, scope, granted_by="test", reason="test set-up")
    return Actor(username, "cli")


def diabetes_record(
    i: int, ts: datetime, *, shift: float = 0.0, version: str = "1", rng: np.random.Generator | None = None
) -> dict[str, Any]:
    rng = rng or np.random.default_rng(i)
    feats = {
        name: float(rng.normal(shift, 1.0))
        for name in ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
    }
    feats["site"] = ["north", "south", "east"][i % 3]
    pred = float(100 + 20 * feats["bmi"])
    return {
        "timestamp": ts.isoformat(),
        "model": "diabetes",
        "version": version,
        "request_id": f"r{i}",
        "features": feats,
        "prediction": pred,
        "label": pred + float(rng.normal(0, 5)),
        "latency_ms": 12.5,
        "status": "ok",
        "batch_size": 4,
        "gpu_id": 0,
        "gpu_utilization": 40.0,
        "gpu_memory_mb": 900.0,
    }


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def day_records(
    day: datetime, n: int, *, start_index: int = 0, shift: float = 0.0, seed: int = 0
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    step = timedelta(seconds=86_400 / max(n, 1))
    return [diabetes_record(start_index + k, day + k * step, shift=shift, rng=rng) for k in range(n)]
