"""Write a small Parquet log store (the layout of monitoring/logs/schema.py) for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from monitoring.logs.schema import model_store_dir


def write_logs(logstore: Path, model: str, start: datetime, end: datetime, *, per_hour: int = 120,
               incident: tuple[datetime, datetime] | None = None, incident_error: float = 0.15,
               incident_latency_ms: float = 600.0, seed: int = 1) -> int:
    rng = np.random.default_rng(seed)
    n_hours = int((end - start).total_seconds() // 3600)
    by_day: dict[str, list[dict]] = {}
    count = 0
    for h in range(n_hours):
        base = start + timedelta(hours=h)
        offsets = np.sort(rng.uniform(0, 3600, per_hour))
        for i, off in enumerate(offsets):
            ts = base + timedelta(seconds=float(off))
            bad = incident is not None and incident[0] <= ts < incident[1]
            err = rng.random() < (incident_error if bad else 0.0005)
            latency = float(rng.lognormal(np.log(incident_latency_ms if bad else 40.0), 0.3))
            by_day.setdefault(ts.strftime("%Y-%m-%d"), []).append({
                "timestamp": ts, "model": model, "version": "3", "request_id": f"r{h}-{i}",
                "latency_ms": latency, "status": "error" if err else "ok",
                "gpu_utilization": 55.0 + (40.0 if bad else 0.0), "gpu_memory_mb": 6000.0})
            count += 1
    for day, rows in by_day.items():
        folder = model_store_dir(logstore, model) / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.table({
            "timestamp": pa.array([r["timestamp"] for r in rows], pa.timestamp("us", tz="UTC")),
            "model": [r["model"] for r in rows], "version": [r["version"] for r in rows],
            "request_id": [r["request_id"] for r in rows],
            "latency_ms": pa.array([r["latency_ms"] for r in rows], pa.float64()),
            "status": [r["status"] for r in rows],
            "gpu_utilization": pa.array([r["gpu_utilization"] for r in rows], pa.float64()),
            "gpu_memory_mb": pa.array([r["gpu_memory_mb"] for r in rows], pa.float64()),
        })
        pq.write_table(table, folder / "part-0.parquet")
    return count


def hour(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
