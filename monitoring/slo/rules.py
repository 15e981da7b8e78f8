"""Prometheus recording and alerting rules for SLO definitions (checked with ``promtool check rules``).

Per SLO one rule group:

- ``vigil:slo_error_ratio:rate<window>`` for each alert window and the period, labelled
  ``vigil_service`` and ``vigil_slo`` (error query / total query at that window);
- ``vigil:slo_requests:rate<window>`` (the total query) for the windows that guard alerts;
- ``VigilSLOErrorBudgetBurn`` alerts with ``severity: page`` and ``severity: ticket``: the
  workbook's multiwindow pairs with the factors for the SLO's period
  (``monitoring.slo.burn.alert_factors``), each guarded by ``min_requests`` in the long window.

Sloth raw SLIs (an error-ratio query) record the ratio only and are not guarded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml

from monitoring.slo.burn import ALERT_RULES, WINDOWS, duration_seconds
from monitoring.slo.spec import SLODefinition, render


def _window_name(w: str) -> str:
    return w


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "slo"


def _ratio_expr(slo: SLODefinition, w: str) -> str:
    if slo.ratio_query:
        return render(slo.ratio_query, w)
    assert slo.error_query and slo.total_query
    return f"({render(slo.error_query, w)}) / ({render(slo.total_query, w)})"


def rule_groups(slos: Sequence[SLODefinition], *, min_requests: float = 0) -> dict:
    groups = []
    for slo in slos:
        if not slo.ratio_query and not (slo.error_query and slo.total_query):
            continue
        labels = {"vigil_service": slo.service, "vigil_slo": slo.name}
        sel = ",".join(f'{k}="{v}"' for k, v in labels.items())
        windows = list(WINDOWS) + ([slo.period] if slo.period not in WINDOWS else [])
        rules: list[dict] = []
        for w in windows:
            rules.append({"record": f"vigil:slo_error_ratio:rate{_window_name(w)}", "expr": _ratio_expr(slo, w),
                          "labels": dict(labels)})
        guard = min_requests > 0 and not slo.ratio_query
        if guard:
            for w in sorted({r.long_window for r in ALERT_RULES}, key=duration_seconds):
                rules.append({"record": f"vigil:slo_requests:rate{w}", "expr": render(slo.total_query or "", w),
                              "labels": dict(labels)})
        budget = 1.0 - slo.objective
        for severity in ("page", "ticket"):
            terms = []
            for r in ALERT_RULES:
                if r.severity != severity:
                    continue
                threshold = round(r.factor(slo.period) * budget, 12)
                term = (f"(vigil:slo_error_ratio:rate{r.long_window}{{{sel}}} > {threshold!r}"
                        f" and vigil:slo_error_ratio:rate{r.short_window}{{{sel}}} > {threshold!r}")
                if guard:
                    need = min_requests / duration_seconds(r.long_window)
                    term += f" and vigil:slo_requests:rate{r.long_window}{{{sel}}} >= {need!r}"
                terms.append(term + ")")
            rules.append({
                "alert": "VigilSLOErrorBudgetBurn",
                "expr": " or ".join(terms),
                "labels": {**labels, "severity": severity},
                "annotations": {
                    "summary": f"{slo.service} {slo.name}: error budget burning too fast ({severity})",
                    "description": (f"Objective {slo.objective_as_written} over {slo.period}. Multiwindow "
                                    f"burn-rate alert (SRE workbook ch. 5), factors scaled for {slo.period}."),
                },
            })
        groups.append({"name": f"vigil-slo-{_slug(slo.service)}-{_slug(slo.name)}", "rules": rules})
    return {"groups": groups}


def render_rules(slos: Sequence[SLODefinition], *, min_requests: float = 0) -> str:
    return yaml.safe_dump(rule_groups(slos, min_requests=min_requests), sort_keys=False, width=120)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m monitoring.slo.rules SLO_FILE [--min-requests N]``: print the rules YAML."""
    import argparse

    from monitoring.slo.spec import load_slo_file

    p = argparse.ArgumentParser(prog="python -m monitoring.slo.rules")
    p.add_argument("slo_file")
    p.add_argument("--min-requests", type=float, default=0)
    args = p.parse_args(argv)
    print(render_rules(load_slo_file(args.slo_file), min_requests=args.min_requests), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
