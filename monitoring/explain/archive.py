"""Where a SHAP report's files live: the artifact store (kind ``shap``: the JSON report, the HTML
page and the background rows, each addressed by its SHA-256) and a copy of the JSON and HTML
in MLflow beside the version. Reading a report's files back goes through here too.

Only the artifact store's public ``put``/``get`` are used, so where the store keeps its bytes
(a directory, an object store) is its own business; MLflow is handed a temporary local copy.
"""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.context import AppContext

ARTIFACT_KIND = "shap"
JSON_NAME = "shap_report.json"
HTML_NAME = "shap_report.html"
BACKGROUND_NAME = "background.npy"
MLFLOW_DIRECTORY = "shap"


@dataclass(frozen=True)
class ArchivedReport:
    """The addresses of one report's stored files."""

    json_sha256: str
    json_size: int
    html_sha256: str
    html_size: int
    background_sha256: str


def store_files(
    ctx: AppContext, report_json: bytes, report_html: bytes, background: np.ndarray
) -> ArchivedReport:
    """Put the report's JSON, HTML and background rows (``.npy``, no pickle) in the artifact store."""
    stored_json = ctx.artifacts.put(ARTIFACT_KIND, JSON_NAME, report_json)
    stored_html = ctx.artifacts.put(ARTIFACT_KIND, HTML_NAME, report_html)
    stored_bg = ctx.artifacts.put(ARTIFACT_KIND, BACKGROUND_NAME, _npy_bytes(background))
    return ArchivedReport(
        json_sha256=stored_json.sha256,
        json_size=stored_json.size,
        html_sha256=stored_html.sha256,
        html_size=stored_html.size,
        background_sha256=stored_bg.sha256,
    )


def log_to_mlflow(registry: Any, registered_model: str, version: str, report_json: bytes,
                  report_html: bytes) -> str | None:
    """Log the JSON and HTML beside the version in MLflow; None when done, else why not.

    A failure is not the run's failure: the report is archived already and the next run logs again.
    """
    with tempfile.TemporaryDirectory(prefix="vigil-shap-") as tmp:
        for name, data in ((JSON_NAME, report_json), (HTML_NAME, report_html)):
            path = Path(tmp) / name
            path.write_bytes(data)
            try:
                registry.log_artifact(registered_model, version, str(path), MLFLOW_DIRECTORY)
            except Exception as exc:  # noqa: BLE001  (archived locally; the next run logs again)
                return f"not logged to MLflow: {type(exc).__name__}: {exc}"
    return None


def read_document(ctx: AppContext, json_sha256: str) -> dict[str, Any]:
    """The archived JSON report (checksum verified by the artifact store)."""
    return json.loads(ctx.artifacts.get(ARTIFACT_KIND, json_sha256, JSON_NAME))


def read_html(ctx: AppContext, html_sha256: str) -> bytes:
    """The archived HTML page."""
    return ctx.artifacts.get(ARTIFACT_KIND, html_sha256, HTML_NAME)


def read_background(ctx: AppContext, background_sha256: str) -> np.ndarray:
    """The background rows a report was explained against."""
    data = ctx.artifacts.get(ARTIFACT_KIND, background_sha256, BACKGROUND_NAME)
    return np.load(io.BytesIO(data), allow_pickle=False)


def _npy_bytes(matrix: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(matrix, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()
