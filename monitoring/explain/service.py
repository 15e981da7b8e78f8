"""The explanation domain's one service API: what jobs, pages, the demo and other domains import.

It owns no logic; each name lives in the module that owns its job:

- :mod:`monitoring.explain.writer` – :func:`run_shap_report`, the one writer (a governed job);
- :mod:`monitoring.explain.reports` – reads of stored reports and attribution drift;
- :mod:`monitoring.explain.matters` – drift that matters (drift severity x SHAP importance);
- :mod:`monitoring.explain.per_request` – one logged request's waterfall;
- :mod:`monitoring.explain.views` – the frozen views every reader returns;
- :mod:`monitoring.explain.inputs` / :mod:`monitoring.explain.archive` – the registry, the
  reference and log data going in; the report files going out.

Every read takes the viewer and checks ``model.view`` itself (``viewer=None``: a trusted
internal caller); the per-request explanation takes the acting user and hides PII from anyone
without ``model.view_pii``.
"""

from __future__ import annotations

from core.timeutil import parse_window
from monitoring.explain.archive import ARTIFACT_KIND
from monitoring.explain.inputs import registry_for
from monitoring.explain.matters import drift_that_matters, severity_value
from monitoring.explain.per_request import Contribution, RequestExplanation, explain_request
from monitoring.explain.reports import (
    attribution_drift_over_time,
    current_report,
    latest_report,
    report_chart_data,
    report_document,
    report_history,
    report_html,
)
from monitoring.explain.views import AttributionDriftPoint, DriftThatMattersView, ReportCharts, ShapReportView
from monitoring.explain.writer import ACTION, run_shap_report

__all__ = [
    "ACTION",
    "ARTIFACT_KIND",
    "AttributionDriftPoint",
    "Contribution",
    "DriftThatMattersView",
    "ReportCharts",
    "RequestExplanation",
    "ShapReportView",
    "attribution_drift_over_time",
    "current_report",
    "drift_that_matters",
    "explain_request",
    "latest_report",
    "parse_window",
    "registry_for",
    "report_chart_data",
    "report_document",
    "report_history",
    "report_html",
    "run_shap_report",
    "severity_value",
]
