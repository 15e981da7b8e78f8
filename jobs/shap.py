"""SHAP report job: explain a model version on the recent window of logs and archive the report.

    python -m jobs.shap --model breast-cancer                 # the champion, last day
    python -m jobs.shap --model diabetes --version 2 --window 12h
    python -m jobs.shap --model breast-cancer --all-versions  # every registered version
    python -m jobs.shap                                       # every configured model's champion
                                                              # (as cron starts it; or --all)

Without --model (or with --all) every configured model is explained, one line per model; a
model that fails does not stop the others and the job exits with the worst code (see
jobs/_models.py). A model that has no registered model or no champion yet prints
"no data (...)" and counts as success: there is nothing to explain until a version is
promoted. --version needs --model.

Acts as the job user (VIGIL_JOB_USER, needs shap.run), or as the person whose API token is in
VIGIL_TOKEN (--as USER alone only in demo mode). Each version's report is one governed run
(governance.runner: permission shap.run, a job run "shap", timing, an audit entry). Exit codes:
0 success, 1 failure, 2 usage/configuration error or unknown model/version, 4 permission
denied, 5 MLflow or the database unavailable.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from jobs._cli import EXIT_OK, EXIT_USAGE, log, parser, run_main, setup_logging
from jobs._identity import AS_HELP


def build_parser():  # type: ignore[no-untyped-def]
    p = parser("shap", __doc__ or "")
    from jobs._models import add_model_selection

    add_model_selection(p, help_model="monitored model name as configured (default: every model)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--version", help="registered version to explain (default: the champion)")
    which.add_argument("--all-versions", action="store_true", help="explain every registered version")
    p.add_argument(
        "--window", default="1d", help="recent window of logs to explain, e.g. 1d, 12h (default 1d)"
    )
    p.add_argument("--background", type=int, default=100, help="background rows from the reference (100)")
    p.add_argument("--explain", type=int, default=1000, help="rows to explain from the window (1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the samples (0)")
    p.add_argument(
        "--max-evals",
        type=int,
        default=500,
        help="model evaluations per row for the permutation explainer (500)",
    )
    p.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    if args.version and not args.model:
        p.print_usage(sys.stderr)
        print(f"{p.prog}: error: --version needs --model", file=sys.stderr)
        return EXIT_USAGE

    import core  # noqa: F401  (telemetry off before mlflow is imported)
    from jobs._identity import cli_actor
    from core.context import AppContext
    from core.errors import NotFound
    from jobs._models import Outcome, no_data, run_each, selected_models
    from monitoring.explain import service

    ctx = AppContext.create()
    names = selected_models(ctx, args.model)
    actor = cli_actor(ctx, args.as_user)
    registry = service.registry_for(ctx)

    def explain(model: str) -> Outcome:
        spec = ctx.models.get(model)
        versions: list[str | None] = [args.version]
        if args.all_versions:
            versions = [str(v.version) for v in registry.list_versions(spec.registered_model)]
        elif args.version is None:
            try:
                champion = registry.champion(spec.registered_model)
            except NotFound:
                return no_data(f"{spec.registered_model} is not in the model registry yet")
            if champion is None:
                return no_data(f"{spec.registered_model} has no champion to explain yet")
            versions = [str(champion.version)]
        if not versions:
            return no_data(f"{spec.registered_model} has no registered version yet")
        return Outcome(EXIT_OK, _explain_versions(ctx, actor, registry, args, model, versions))

    return run_each(names, explain)


def _explain_versions(  # type: ignore[no-untyped-def]
    ctx, actor, registry, args, model: str, versions: list[str | None]
) -> str:
    """One governed SHAP run per version (each checked, recorded as job ``shap`` and audited by
    the service); the model's one line names the reports."""
    from monitoring.explain import service

    done = []
    for version in versions:
        view = service.run_shap_report(
            ctx,
            actor,
            model,
            version=version,
            window=args.window,
            background=args.background,
            explain=args.explain,
            seed=args.seed,
            max_evals=args.max_evals,
            registry=registry,
        )
        done.append(view)
        log.info(
            "%s v%s: report %d (%s on %s, %d rows from the %s, %.2f s, additivity %s), top: %s",
            model,
            view.version,
            view.id,
            view.explainer,
            view.device,
            view.explained_rows,
            view.sample_source,
            view.runtime_s,
            "ok" if view.additivity_ok else "FAILED",
            ", ".join(view.top_features(3)),
        )
    reports = ", ".join(f"v{v.version} report {v.id}" for v in done)
    return f"{len(done)} SHAP report{'s' if len(done) != 1 else ''} ({reports})"


if __name__ == "__main__":
    sys.exit(run_main(main))
