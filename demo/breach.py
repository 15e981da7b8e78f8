"""A demo aid: inject a latency breach for a model's current champion, so the auto-rollback watcher
(governance.auto_rollback) has something real to act on.

``python -m jobs.demo --inject-latency-breach breast-cancer`` appends slow requests of the
champion version, stamped over the last few seconds, to today's inference-log file of the model
(``<data>/logs/<model>/<YYYY-MM-DD>.jsonl``, the format of demo.writer and
monitoring.logs.schema, copied from the file's newest record), exactly as a serving process
would, and ingests the file at once (monitoring.logs.ingest.ingest_model: only the new lines are
read) so that the watcher, which reads the ingested log store when Prometheus is not configured,
sees the breach at its next check. It runs only in demo mode and needs ``ingest.run`` on the
model; the injection is audited (``demo.inject_breach``).

The watcher acts only on a champion promoted by the console less than ``probation_hours`` ago:
the command says whether the model is on probation, and so whether a rollback will follow.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from core.actor import Actor
from core.errors import InvalidInput, NotFound
from core.timeutil import utc_or_now
from governance.rbac import Action, require

Progress = Callable[[str], None]
AUDIT = "demo.inject_breach"


def _template(directory: Path) -> dict[str, Any]:
    """The newest valid record of the model's day files: its features are realistic."""
    for path in sorted(directory.glob("*.jsonl"), reverse=True):
        lines = path.read_text(encoding="utf-8").splitlines()
        for line in reversed(lines):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("features"), dict):
                return record
    raise NotFound(f"no inference logs in {directory}: build the demo first (python -m jobs.demo)")


def breach_lines(template: dict[str, Any], version: str, now: datetime, *, requests: int, spread_s: float,
                 latency_ms: float, error_share: float, seed: int = 7) -> list[str]:
    """``requests`` JSONL records of ``version`` stamped evenly over ``(now - spread_s, now]``,
    successful ones taking about ``latency_ms`` and a share ``error_share`` failing (timeouts)."""
    rng = random.Random(seed)
    stamp = int(now.timestamp() * 1000)
    out = []
    for i in range(requests):
        at = now - timedelta(seconds=spread_s * (requests - 1 - i) / max(requests, 1))
        failed = rng.random() < error_share
        record = dict(template)
        record.update({
            "timestamp": at.isoformat(timespec="milliseconds"),
            "version": str(version),
            "request_id": f"breach-{stamp}-{i}",
            "latency_ms": round(latency_ms * rng.uniform(0.9, 1.3), 1),
            "status": "error" if failed else "ok",
            "error": "injected timeout (demo latency breach)" if failed else None,
            "label": None,
        })
        out.append(json.dumps(record, separators=(",", ":")))
    return out


def inject_latency_breach(ctx: Any, actor: Actor, model: str, progress: Progress, *, requests: int = 300,
                          spread_s: float = 10.0, latency_ms: float = 1500.0, error_share: float = 0.1,
                          now: datetime | None = None) -> dict[str, Any]:
    """Append slow (and some failed) requests of ``model``'s champion to its logs and ingest them;
    demo mode only, ``ingest.run`` on the model; audited. Returns what was written."""
    from governance.auto_rollback import probation_status
    from governance.registry import CHAMPION, ModelRegistry
    from monitoring.logs.ingest import ingest_model, resolve_location

    spec = ctx.models.get(model)  # NotFound (exit 2) names the configured models
    if not ctx.settings.demo_mode:
        message = "--inject-latency-breach writes fake inference logs and runs only in demo mode (VIGIL_DEMO=true)"
        ctx.audit.append(actor, AUDIT, model, "denied", reason=message)
        raise InvalidInput(message)
    require(ctx, actor, Action.INGEST_RUN, model)
    location = resolve_location(ctx.settings.data_dir, spec.logs)
    if "://" in location:
        raise InvalidInput(f"{model}: the demo injects into a local logs directory, not {location}")
    directory = Path(location)
    version = ModelRegistry(ctx.settings.mlflow_tracking_uri).aliases(spec.registered_model).get(CHAMPION)
    if version is None:
        raise NotFound(f"{model} has no champion to slow down")
    moment = utc_or_now(now)
    lines = breach_lines(_template(directory), version, moment, requests=requests, spread_s=spread_s,
                         latency_ms=latency_ms, error_share=error_share)
    path = directory / f"{moment:%Y-%m-%d}.jsonl"
    with path.open("ab") as handle:  # appended like a serving process would: ingest reads only new lines
        existing = path.stat().st_size
        if existing:
            with path.open("rb") as tail:
                tail.seek(existing - 1)
                if tail.read(1) != b"\n":
                    handle.write(b"\n")
        handle.write(("\n".join(lines) + "\n").encode("utf-8"))
    progress(f"{model}: appended {len(lines)} slow requests of version {version} to {path.name}")
    result = ingest_model(ctx, actor, model)
    progress(f"{model}: ingested ({result.line()})")
    details = {"version": version, "requests": len(lines), "latency_ms": latency_ms, "error_share": error_share,
               "file": path.name, "until": moment.isoformat()}
    ctx.audit.append(actor, AUDIT, model, "success", details=details)
    status = probation_status(ctx, None, model, now=moment)
    details["probation"] = status.state
    details["summary"] = status.summary
    return details
