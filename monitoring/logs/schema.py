"""The inference-log format: what a GPU inference server writes, one record per request.

Files are JSONL (one JSON object per line), CSV (features flattened as ``f_<name>`` columns)
or Parquet (flattened the same way, or a ``features`` struct). A record:

| field | type | required | meaning |
|---|---|---|---|
| timestamp | ISO-8601 string with offset, or epoch seconds | yes | when the request finished (UTC stored) |
| model | string | yes | monitored model name as configured (e.g. ``breast-cancer``) |
| version | string | yes | registered model version that served it (e.g. ``"3"``) |
| request_id | string | yes | unique id of the request |
| features | object name -> number / string / null | yes | model inputs as listed in the config |
| prediction | number or string | no (null on error) | predicted class or value |
| score | number | no | probability of the positive class / confidence |
| label | number or string | no | ground truth, when it arrives |
| latency_ms | number >= 0 | yes | server-side latency of this request |
| status | ``ok`` or ``error`` | yes | outcome |
| error | string | no | error message when status is error |
| batch_size | integer >= 1 | no | size of the GPU batch the request ran in |
| gpu_id | integer | no | CUDA device index; empty on CPU |
| gpu_utilization | number 0-100 | no | GPU utilisation (%) when the batch ran; empty on CPU |
| gpu_memory_mb | number >= 0 | no | GPU memory in use (MiB) when the batch ran; empty on CPU |

The Parquet log store (written by ingestion, read with DuckDB/Arrow) is laid out as
``<data>/logstore/model=<name>/date=YYYY-MM-DD/<part>.parquet`` with the columns of
:data:`STORE_COLUMNS` plus one ``f_<feature>`` column per configured feature (float64 for
numeric features, string for categorical ones). Timestamps are ``timestamp[us, tz=UTC]``.
"""

from __future__ import annotations

from pathlib import Path

REQUIRED_FIELDS = ("timestamp", "model", "version", "request_id", "features", "latency_ms", "status")
OPTIONAL_FIELDS = (
    "prediction",
    "score",
    "label",
    "error",
    "batch_size",
    "gpu_id",
    "gpu_utilization",
    "gpu_memory_mb",
)
ALL_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
STATUSES = ("ok", "error")
FEATURE_PREFIX = "f_"

# Column name -> Arrow type name in the Parquet log store (features come on top).
STORE_COLUMNS: dict[str, str] = {
    "timestamp": "timestamp[us, tz=UTC]",
    "model": "string",
    "version": "string",
    "request_id": "string",
    "prediction": "string",  # stored as text so classes and values share one column
    "score": "double",
    "label": "string",
    "latency_ms": "double",
    "status": "string",
    "error": "string",
    "batch_size": "int64",
    "gpu_id": "int64",
    "gpu_utilization": "double",
    "gpu_memory_mb": "double",
    "source_file": "string",  # which ingested file the row came from
}


def feature_column(name: str) -> str:
    return f"{FEATURE_PREFIX}{name}"


def model_store_dir(logstore_dir: Path, model: str) -> Path:
    return Path(logstore_dir) / f"model={model}"


def model_store_glob(logstore_dir: Path, model: str) -> str:
    """Glob for DuckDB's read_parquet over all of a model's partitions."""
    return str(model_store_dir(logstore_dir, model) / "date=*" / "*.parquet")
