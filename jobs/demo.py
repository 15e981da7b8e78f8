"""Build the embedded demo: real models in a local MLflow registry, 30 days of GPU inference logs
with two incidents, and one demo account per role. Non-interactive, idempotent, no network.

    python -m jobs.demo                       # build what is missing (finished steps are skipped)
    VIGIL_DEMO=true python -m jobs.demo --force --as admin   # wipe and rebuild with a new anchor (now)
    python -m jobs.demo --retrain diabetes    # train and register one new version of a model
    VIGIL_DEMO=true python -m jobs.demo --inject-latency-breach breast-cancer   # slow the champion down

--retrain needs model.retrain on the model (the job account VIGIL_JOB_USER has it in the demo);
--force runs only in demo mode and needs access.manage (an admin: --as admin in demo mode, or
VIGIL_TOKEN). Both are audited: the refusal, the start and the outcome; --force never wipes
accounts, grants, API tokens, job runs or the audit log, so its own entries survive the wipe.
--inject-latency-breach MODEL (demo mode, ingest.run on the model) appends slow requests of the
champion to the model's logs and ingests them (demo.breach): the auto-rollback watcher rolls a
champion on probation back after its consecutive breaching checks (README "Auto-rollback").

Steps (recorded in <data>/demo/manifest.json):
  train     train 3 versions per model (torch MLP for breast-cancer, gradient boosting for
            diabetes), register them in MLflow with metrics and reference data; champion -> v3
  logs      run the registered models in batches over a 30-day timeline ending at the anchor
            (the hour of the first build) and write <data>/logs/<model>/<YYYY-MM-DD>.jsonl
  accounts  demo accounts (username = role, password demo-<role>; reviewer2 / demo-reviewer2)
            and the scheduler account
  ingest    ingest the logs into the Parquet log store; bad records go to the quarantine
  drift     daily drift windows over the whole timeline against each champion's profile
  slo       SLOs, error budgets and hourly burn-rate series from the logs, at the anchor
  health    health snapshots every 12 hours over the last 10 days and hourly through the
            latency/error incident, ending at the anchor
  shap      an archived SHAP report for every version, and the champion's report for each
            day from day 16 on (attribution drift over time, covering both drift incidents)
  releases  (every build, only what is missing) a diabetes request rejected by `reviewer` with
            its comment; a diabetes rollback (3 -> 2, by `operator`, with a reason) and version
            3 released again (approved by `reviewer`); the first retrain of breast-cancer,
            asked for by `operator` and run through the retrain queue as the worker runs it,
            which registers a fourth version whose release request passes its gates and waits
            for two reviewers and the security approver (demo/releases.py; the demo accounts'
            parts in demo mode only: they act only then)

Incidents: breast-cancer drift on days 18-21 (mean_texture, worst_texture +1.5 SD, site mix),
diabetes drift on days 20-23 (bmi +1.2 SD), breast-cancer latency x6 and 15% errors on day 24
09:00-12:00 UTC. Day 27 of breast-cancer holds four deliberately bad records.
Demo accounts sign in only with VIGIL_DEMO=true. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jobs._cli import EXIT_OK, parser, run_main, setup_logging
from jobs._identity import AS_HELP, cli_actor

log = logging.getLogger("vigil.jobs.demo")


@dataclass(frozen=True)
class DemoRun:
    """What a step gets: the context, the manifest (anchor, earlier steps' details), a printer."""

    ctx: Any  # core.context.AppContext
    manifest: Any  # demo.manifest.Manifest
    progress: Callable[[str], None]

    @property
    def anchor(self) -> datetime:
        return self.manifest.anchor  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Step:
    """One named build step. ``always`` steps run on every build (they must be idempotent)."""

    name: str
    title: str
    run: Callable[[DemoRun], dict[str, Any]]
    always: bool = False


def _train(run: DemoRun) -> dict[str, Any]:
    from demo.build import train_and_register

    return train_and_register(run.ctx, run.progress)


def _logs(run: DemoRun) -> dict[str, Any]:
    from demo.build import write_timeline_logs

    return write_timeline_logs(run.ctx, run.anchor, run.progress)


def _accounts(run: DemoRun) -> dict[str, Any]:
    from governance.access import ensure_demo_accounts

    accounts = ensure_demo_accounts(run.ctx)
    return {
        "accounts": [{"username": a.username, "role": a.role} for a in accounts],
        "_sign_in": [{"username": a.username, "role": a.role, "password": a.password} for a in accounts],
    }


def _ingest(run: DemoRun) -> dict[str, Any]:
    from demo.pipeline import ingest

    return ingest(run.ctx, run.progress)


def _drift(run: DemoRun) -> dict[str, Any]:
    from demo.pipeline import drift

    return drift(run.ctx, run.anchor, run.progress)


def _slo(run: DemoRun) -> dict[str, Any]:
    from demo.pipeline import slo

    return slo(run.ctx, run.anchor, run.progress)


def _health(run: DemoRun) -> dict[str, Any]:
    from demo.pipeline import health

    return health(run.ctx, run.anchor, run.progress)


def _shap(run: DemoRun) -> dict[str, Any]:
    from demo.pipeline import shap

    return shap(run.ctx, run.anchor, run.progress)


def _releases(run: DemoRun) -> dict[str, Any]:
    from demo.releases import build_releases

    return build_releases(run.ctx, run.progress)


# The build, in order: the models and their traffic, the accounts (the jobs below act as the
# scheduler account), then the same jobs cron runs, over the timeline.
STEPS: list[Step] = [
    Step("train", "train and register the demo models", _train),
    Step("logs", "write 30 days of inference logs", _logs),
    Step("accounts", "demo accounts, one per role", _accounts, always=True),
    Step("ingest", "ingest the logs (bad records to the quarantine)", _ingest),
    Step("drift", "daily drift windows over the timeline", _drift),
    Step("slo", "SLOs and error budgets from the logs", _slo),
    Step("health", "health snapshots over the last ten days and the incident", _health),
    Step("shap", "SHAP reports: every version, and the champion day by day", _shap),
    Step("releases", "release history: a rejected request, a rollback, a retrain through the queue, "
         "a fourth breast-cancer version waiting for approvals", _releases, always=True),
]


def _progress(message: str) -> None:
    print(f"[demo] {message}", file=sys.stderr, flush=True)


def _parse_anchor(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    from demo import anchor_hour

    return anchor_hour(moment)


def build_parser() -> argparse.ArgumentParser:
    p = parser("demo", __doc__ or "")
    p.add_argument(
        "--force",
        action="store_true",
        help="rebuild every step (deletes the demo's registered models and logs first; demo mode "
        "and access.manage only)",
    )
    p.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP)
    p.add_argument(
        "--retrain",
        metavar="MODEL",
        default=None,
        help="only train and register one new version of MODEL (no alias is moved)",
    )
    p.add_argument(
        "--inject-latency-breach",
        metavar="MODEL",
        default=None,
        help="demo mode: append slow requests of MODEL's champion to its logs and ingest them "
        "(the auto-rollback watcher's breach; demo.breach)",
    )
    p.add_argument(
        "--anchor",
        type=_parse_anchor,
        default=None,
        metavar="TIME",
        help="end of the timeline for a new build (ISO-8601 UTC; default: the current hour)",
    )
    return p


def _print_sign_in(accounts: list[dict[str, str]], demo_mode: bool) -> None:
    print("\nVigil demo is ready.")
    from core.settings import Settings

    port = Settings.from_env().dashboard_port
    print(f"  Dashboard: http://localhost:{port}  (python3 manage.py demo starts it; by hand: "
          f"VIGIL_DEMO=true streamlit run asgi_app.py --server.port {port})")
    print(
        "  Demo accounts (they sign in only when VIGIL_DEMO=true"
        + ("" if demo_mode else "; it is not set in this shell")
        + "):"
    )
    for account in accounts:
        print(f"    {account['role']:<9} username {account['username']:<9} password {account['password']}")


def build(ctx: Any, *, force: bool, anchor: datetime | None, actor: Any = None) -> dict[str, Any]:
    """Run the steps that are not finished yet; returns each step's details (this run's
    in-memory details for steps that ran, keys starting with ``_`` included; the manifest's
    for skipped steps). Keys starting with ``_`` are never written to the manifest."""
    from core.errors import Conflict
    from demo import anchor_hour
    from demo.manifest import Manifest, manifest_path

    path = manifest_path(ctx.settings.data_dir)
    manifest = None if force else Manifest.load(path)
    if manifest is not None and anchor is not None and anchor != manifest.anchor:
        raise Conflict(
            f"the demo was built with anchor {manifest.anchor.isoformat()}; "
            "use --force to rebuild with another"
        )
    if manifest is None:
        if force:
            from demo.actions import reset_demo

            reset_demo(ctx, actor or cli_actor(ctx), _progress)  # demo mode + access.manage, audited
        manifest = Manifest(path=path, anchor=anchor or anchor_hour())
        manifest.save()
    run = DemoRun(ctx=ctx, manifest=manifest, progress=_progress)
    results: dict[str, dict[str, Any]] = {}
    _progress(f"timeline ends at {manifest.anchor.isoformat()} (data in {ctx.settings.data_dir})")
    for step in STEPS:
        if manifest.done(step.name) and not step.always:
            _progress(f"{step.name}: already done, skipped")
            continue
        started = time.monotonic()
        _progress(f"{step.name}: {step.title} ...")
        details = step.run(run)
        manifest.mark(step.name, {k: v for k, v in details.items() if not k.startswith("_")})
        results[step.name] = details
        _progress(f"{step.name}: done in {time.monotonic() - started:.1f} s")
    return {name: results.get(name) or manifest.details(name) for name in manifest.steps}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if not args.verbose:  # the [demo] progress lines say what happens; services' INFO lines repeat it
        logging.getLogger().setLevel(logging.WARNING)
    import core  # noqa: F401  (telemetry off before mlflow loads)
    from core.context import AppContext
    from core.runs import record_run

    started = time.monotonic()
    ctx = AppContext.create()
    actor = cli_actor(ctx, args.as_user)
    if args.retrain:
        from demo.actions import retrain_model

        ctx.models.get(args.retrain)  # NotFound (exit 2) names the configured models
        with record_run(ctx.engine, "demo", model=args.retrain, actor=actor.username) as handle:
            details = retrain_model(ctx, actor, args.retrain, _progress)  # model.retrain, audited
            handle.details = {"mode": "retrain", **details}
            handle.message = f"registered {details['registered_model']} version {details['version']}"
        print(f"{handle.message} (no alias moved: request a release to promote it)")
        print(f"VIGIL_VERSION={details['version']}")  # jobs.worker's contract: it opens the release request
        return EXIT_OK
    if args.inject_latency_breach:
        from demo.breach import inject_latency_breach

        details = inject_latency_breach(ctx, actor, args.inject_latency_breach, _progress)
        print(f"{args.inject_latency_breach}: {details['requests']} slow requests of version "
              f"{details['version']} injected; auto-rollback: {details['summary']}")
        return EXIT_OK
    if args.force:
        from demo.actions import check_reset

        check_reset(ctx, actor)  # refused before anything runs: demo mode and access.manage
    with record_run(ctx.engine, "demo", actor=actor.username) as handle:
        details = build(ctx, force=args.force, anchor=args.anchor, actor=actor)
        handle.details = {
            "mode": "force" if args.force else "build",
            "steps": sorted(details),
            "seconds": round(time.monotonic() - started, 1),
        }
        handle.message = f"demo built in {time.monotonic() - started:.0f} s"
    _progress(handle.message)
    _print_sign_in(details.get("accounts", {}).get("_sign_in", []), ctx.settings.demo_mode)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_main(main))
