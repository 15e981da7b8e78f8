"""Write a served timeline as JSONL inference logs, one file per UTC day, atomically.

Files are ``<logs dir>/<YYYY-MM-DD>.jsonl``; every record follows
:mod:`monitoring.logs.schema`. The file of day ``BAD_RECORDS_DAY`` of ``BAD_RECORDS_MODEL``
also holds the deliberately bad records listed in :data:`demo.BAD_RECORDS`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from core.artifacts import atomic_write_bytes
from demo import BAD_RECORDS_DAY, BAD_RECORDS_MODEL
from demo.data import DemoDataset, round_like_records
from demo.serve import Served
from demo.timeline import Timeline

DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.jsonl$")


def _timestamps(us: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(us.astype("datetime64[us]").astype("datetime64[ms]"), unit="ms")
    return np.char.add(text.astype(str), "+00:00")


def _label(value: float, task: str) -> int | float:
    return int(value) if task == "classification" else round(float(value), 3)


def records(
    timeline: Timeline, served: Served, data: DemoDataset, versions: dict[str, str]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(date, timestamp, record) for every request; ``versions`` maps spec -> registered version."""
    X = round_like_records(timeline.X, data.record_digits).tolist()
    names = list(data.numeric)
    cat_names = list(timeline.categorical)
    cats = [timeline.categorical[c] for c in cat_names]
    stamps = _timestamps(timeline.finished_us)
    score = served.score
    for i in range(len(timeline)):
        features: dict[str, Any] = dict(zip(names, X[i], strict=True))
        for name, column in zip(cat_names, cats, strict=True):
            features[name] = column[i]
        stamp = str(stamps[i])
        record: dict[str, Any] = {
            "timestamp": stamp,
            "model": timeline.model,
            "version": versions[timeline.version_spec[i]],
            "request_id": timeline.request_id[i],
            "features": features,
            "prediction": served.prediction[i],
            "score": None if math.isnan(score[i]) else float(score[i]),
            "label": _label(timeline.target[i], data.task) if timeline.label_known[i] else None,
            "latency_ms": float(timeline.latency_ms[i]),
            "status": timeline.status[i],
            "error": timeline.error[i],
            "batch_size": int(timeline.batch_size[i]),
            "gpu_id": served.gpu_id[i],
            "gpu_utilization": served.gpu_utilization[i],
            "gpu_memory_mb": served.gpu_memory_mb[i],
        }
        yield stamp[:10], stamp, record


def bad_lines(model: str, date: str, template: dict[str, Any]) -> list[str]:
    """The deliberately bad records (see demo.BAD_RECORDS), built from a good one."""

    def variant(**changes: Any) -> dict[str, Any]:
        out = dict(template)
        out.update(changes)
        return out

    wrong_type = variant(request_id="bad-wrong-type", latency_ms="fast")
    missing = variant(request_id=None)
    missing.pop("request_id")
    unknown = variant(request_id="bad-unknown-version", version="99")
    malformed = json.dumps(variant(request_id="bad-malformed-json"))[:120]
    return [malformed, json.dumps(wrong_type), json.dumps(missing), json.dumps(unknown)]


def write_logs(
    directory: Path, timeline: Timeline, served: Served, data: DemoDataset, versions: dict[str, str]
) -> list[Path]:
    """Write one JSONL file per day (atomically) and remove day files of older builds."""
    directory.mkdir(parents=True, exist_ok=True)
    by_day: dict[str, list[tuple[str, str]]] = {}
    for date, stamp, record in records(timeline, served, data, versions):
        by_day.setdefault(date, []).append((stamp, json.dumps(record, separators=(",", ":"))))
    dates = sorted(by_day)
    bad_date = (
        dates[BAD_RECORDS_DAY - 1]
        if timeline.model == BAD_RECORDS_MODEL and len(dates) >= BAD_RECORDS_DAY
        else None
    )
    written: list[Path] = []
    for date in dates:
        rows = sorted(by_day[date], key=lambda r: r[0])
        lines = [line for _, line in rows]
        if date == bad_date:
            template = json.loads(lines[len(lines) // 2])
            for k, line in enumerate(bad_lines(timeline.model, date, template)):
                lines.insert((k + 1) * len(lines) // 5, line)
        path = directory / f"{date}.jsonl"
        atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))
        written.append(path)
    keep = {p.name for p in written}
    for stale in directory.iterdir():
        if DAY_FILE.match(stale.name) and stale.name not in keep:
            stale.unlink()
    return written
