"""Evidently HTML report of a drift run, kept small.

An Evidently DataDriftPreset report inlines plotly and weighs about 1.3 MB per column (3.8 MB
for 3 columns, see ../shared/FINDINGS.md), so the service passes only the top drifted
features (at most five, never PII-tagged ones) and a sample of at most 5,000 rows per side.
Our own statistics are the ones stored; this report is a second opinion to download.
Evidently is imported here, lazily, so nothing else pays for its import time.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def build_report_html(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str] = (),
    title: str = "",
) -> bytes:
    """An Evidently DataDriftPreset report of the given columns as standalone HTML bytes."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    import core  # noqa: F401  (telemetry off before evidently is imported)

    columns = list(numeric) + list(categorical)
    ref = reference[columns].copy()
    cur = current[columns].copy()
    for name in numeric:
        ref[name] = pd.to_numeric(ref[name], errors="coerce")
        cur[name] = pd.to_numeric(cur[name], errors="coerce")
    for name in categorical:
        ref[name] = ref[name].astype("string")
        cur[name] = cur[name].astype("string")
    definition = DataDefinition(numerical_columns=list(numeric), categorical_columns=list(categorical))
    report = Report([DataDriftPreset(columns=columns)], metadata={"title": title} if title else None)
    snapshot = report.run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    html = snapshot.get_html_str(as_iframe=False)
    return html.encode("utf-8")
