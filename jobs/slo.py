"""Compute SLOs, error budgets and burn-rate alerts.

Two modes:

File mode (for scripts and checks; needs no configuration file or database)::

    python -m jobs.slo --prometheus-url URL --slo-file FILE [--at ISO-8601] --format json

prints ``{"slos": [{"service", "name", "objective", "period", "error_ratio": {window: value|null},
"burn_rate": {...}, "error_budget_remaining": value|null, "alerts": {"page": bool, "ticket": bool}}]}``
with windows 5m 30m 1h 2h 6h 1d 3d and the period. FILE is a Sloth prometheus/v1, OpenSLO v1
or Vigil SLO spec (see monitoring/slo/spec.py).

Configured mode (no --slo-file; what cron and the scheduler start): for each configured model
(the default, or --all; --model for one), compute its SLOs from Prometheus (PROMETHEUS_URL,
preset per model from VIGIL_PROMETHEUS_PRESETS or auto-detected) or from the ingested logs,
store snapshots (with every alert rule's decision) and the burn-rate history; the run goes
through governance.runner.governed_run (``slo.run`` checked first, run recorded, timed,
outcome audited). A model that fails does not stop the others; the job exits with the worst code (see jobs/_models.py). A model without
data yet is not an error: its windows read "no data".

Exit codes: 0 ok, 2 bad arguments or spec, 4 permission denied, 5 Prometheus unavailable.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from jobs._cli import EXIT_OK, parser, run_main, setup_logging
from jobs._identity import AS_HELP

WINDOW_HELP = "5m 30m 1h 2h 6h 1d 3d and the period"


def parse_at(text: str | None) -> datetime:
    """ISO-8601; 'Z' or an offset; a time without offset is taken as UTC."""
    from core.errors import InvalidInput

    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"--at {text!r} is not an ISO-8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _file_mode(args) -> int:  # type: ignore[no-untyped-def]
    from monitoring.slo.evaluate import evaluate_prometheus
    from monitoring.slo.prometheus import PrometheusConfig, PrometheusSource
    from monitoring.slo.spec import load_slo_file

    slos = load_slo_file(args.slo_file)
    at = parse_at(args.at)
    source = PrometheusSource(PrometheusConfig.from_env(args.prometheus_url))
    source.ping()
    results = [evaluate_prometheus(source, slo, at, min_requests=args.min_requests) for slo in slos]
    for warning in source.warnings:
        print(f"prometheus warning: {warning}", file=sys.stderr)
    payload = {"slos": [r.contract() for r in results]}
    if args.format == "json":
        print(json.dumps(payload, indent=None if args.compact else 2))
    else:
        for r in results:
            print(_text(r.contract()))
    return EXIT_OK


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "no data"
    return f"{v * 100:.3f}%" if pct else f"{v:.3f}"


def _text(item: dict) -> str:
    lines = [f"{item['service']}/{item['name']}: objective {item['objective']} over {item['period']}, "
             f"budget remaining {_fmt(item['error_budget_remaining'], True)}, "
             f"page={item['alerts']['page']} ticket={item['alerts']['ticket']}"]
    for w, v in item["burn_rate"].items():
        lines.append(f"  {w:>4}: error ratio {_fmt(item['error_ratio'][w], True)}, burn {_fmt(v)}")
    return "\n".join(lines)


def _configured_mode(args) -> int:  # type: ignore[no-untyped-def]
    from jobs._identity import cli_actor
    from core.context import AppContext
    from jobs._models import Outcome, run_each, selected_models
    from monitoring.slo.service import run_slo_check

    ctx = AppContext.create()
    actor = cli_actor(ctx, args.as_user)
    models = selected_models(ctx, args.model)
    at = parse_at(args.at) if args.at else None
    out = []

    def check(model: str) -> Outcome:
        views = run_slo_check(ctx, actor, model, at=at, prometheus_url=args.prometheus_url)
        out.extend(views)
        budgets = [v.contract().get("error_budget_remaining") for v in views]
        known = [b for b in budgets if b is not None]
        summary = (f"lowest error budget remaining {min(known):.1%}" if known
                   else "no data" if views else "no SLOs configured")
        return Outcome(EXIT_OK, f"{len(views)} SLO{'s' if len(views) != 1 else ''}, {summary}")

    if args.format == "json":  # stdout stays one JSON document: model lines go to stderr
        with contextlib.redirect_stdout(sys.stderr):
            code = run_each(models, check)
        print(json.dumps({"slos": [v.contract() for v in out]}, indent=None if args.compact else 2))
    else:
        code = run_each(models, check)
        for v in out:
            print(_text(v.contract()))
    return code


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("slo", __doc__ or "")
    p.add_argument("--prometheus-url", help="Prometheus base URL (default: PROMETHEUS_URL)")
    p.add_argument("--slo-file", help="Sloth prometheus/v1, OpenSLO v1 or Vigil SLO YAML (file mode)")
    p.add_argument("--at", help="evaluation time, ISO-8601 (default: now)")
    p.add_argument("--format", choices=("json", "text"), default="text")
    p.add_argument("--compact", action="store_true", help="one-line JSON")
    p.add_argument("--min-requests", type=float, default=0,
                   help="file mode: requests a long window needs before it may alert (default 0)")
    from jobs._models import add_model_selection

    add_model_selection(p, help_model="configured mode: only this model (default: every model)")
    p.add_argument("--as", dest="as_user", metavar="USER", help="configured mode: " + AS_HELP)
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    if args.slo_file:
        return _file_mode(args)
    return _configured_mode(args)


if __name__ == "__main__":
    sys.exit(run_main(main))
