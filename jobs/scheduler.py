"""Run the configured jobs on their cron schedules in one long-lived process, serve /metrics.

    python -m jobs.scheduler [--port 9108] [--lease-ttl 30] [--jobs slo,health]
    python -m jobs.scheduler --once [--at ISO-8601 | --all] [--jobs drift,shap]

Reads ``schedules`` from the models YAML (job name -> cron expression, UTC) and runs each due
job as a subprocess ``python -m jobs.<name>`` with no arguments, which every job reads as "all
configured models". A job never overlaps itself: when it is still running at its next due
time, that run is skipped (logged). Different jobs may run side by side. Every outcome (exit
code, duration) is logged and exported.

Replicas: run as many schedulers against one database as you like; they elect a leader
through the ``scheduler_lease`` row (core/lease.py) and only the leader starts jobs. The
others are hot standbys: they keep their due times current and take over when the leader's
version of the lease has not moved for ``--lease-ttl`` seconds (``VIGIL_SCHEDULER_LEASE_TTL``,
default 30; a killed or hung leader), or at their next tick after a leader stopped cleanly
(SIGTERM releases the lease). A job a leader started keeps running if that leader loses the
lease; each job's own locks guard against the overlap. ``--lease-name`` separates groups of
schedulers that share a database but not their jobs.

``/metrics`` (prometheus_client's WSGI server in a thread, ``--port`` or ``VIGIL_METRICS_PORT``, bind
``--host``, default 0.0.0.0) serves the health and SLO gauges from the stored snapshots, the
last outcome of each job, ``vigil_scheduler_leader`` (1 on the leader, 0 on a standby) and
the scheduler's own counters. ``/healthz`` answers ``ok`` on leader and standby alike. A port
that is already taken (two schedulers on one host) stops the start with one line and exit 2:
running without /metrics would hide the replica from monitoring.

Auto-rollback: when a model's ``auto_rollback`` policy is on, a thread of the scheduler runs the
watcher (governance.auto_rollback_watcher.Watcher) on the leader only: every ``check_seconds``
(15 s by default) it checks each champion on probation after its promotion and rolls it back as actor
``system`` after the configured consecutive breaches. It never blocks the cron jobs (they are
subprocesses) and a standby's thread waits until its replica leads. Its series on ``/metrics``:
``vigil_auto_rollback_checks_total{model,outcome}``, ``vigil_auto_rollback_rollbacks_total{model,result}``,
``vigil_auto_rollback_last_check_timestamp_seconds`` and ``vigil_auto_rollback_errors_total``.
``python -m jobs.watch`` runs the same watcher without the scheduler.

SIGTERM or SIGINT stops scheduling and releases the lease (a standby takes over at once), waits
up to ``--grace`` seconds for running jobs, then terminates them, and exits 0.

``--once`` runs the jobs due at ``--at`` (default: now, to the minute) one after another and
exits: 0 when all succeeded, 1 when one failed. ``--jobs`` limits either mode to some jobs;
with ``--once --all`` every listed job runs whatever its schedule. ``--once`` is a manual run:
it takes no part in the election and needs no lease. (A hidden ``--sim-clock`` runs the loop
on a compressed clock for benchmarks/scheduler_soak.py.)

Other ways to schedule the same jobs (crontab, Kubernetes CronJobs) are in deploy/.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from jobs._cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, log, parser, run_main, setup_logging

if TYPE_CHECKING:
    from core.lease import LeaderLease


class ScaledClock:
    """A compressed clock for soak runs: ``start + speed * (wall time - anchor)``.

    Replicas given the same (start, anchor, speed) agree on the time, as real clocks would.
    """

    def __init__(self, start: datetime, anchor: float, speed: float) -> None:
        self.start, self.anchor, self.speed = start, anchor, speed

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.anchor) * self.speed)

    @classmethod
    def parse(cls, text: str) -> ScaledClock:
        """``START,ANCHOR,SPEED``: ISO time, UNIX seconds when it is START, clock seconds per second."""
        from core.errors import InvalidInput
        from jobs.slo import parse_at

        try:
            start, anchor, speed = text.split(",")
            clock = cls(parse_at(start), float(anchor), float(speed))
        except ValueError:
            raise InvalidInput(f"--sim-clock {text!r}: expected START,ANCHOR,SPEED") from None
        if clock.speed <= 0:
            raise InvalidInput("--sim-clock: SPEED must be positive")
        return clock


@dataclass
class JobState:
    name: str
    cron: str
    process: subprocess.Popen | None = None
    started: float = 0.0
    last_exit: int | None = None
    last_duration: float | None = None
    last_finished: datetime | None = None
    runs: dict[str, int] = field(default_factory=lambda: {"success": 0, "failed": 0, "skipped": 0})


class Scheduler:
    def __init__(self, schedules: dict[str, str], *, module_prefix: str = "jobs",
                 python: str = sys.executable, env: dict[str, str] | None = None,
                 lease: LeaderLease | None = None, clock: Callable[[], datetime] | None = None) -> None:
        from croniter import croniter

        self.jobs: dict[str, JobState] = {}
        for name, expr in schedules.items():
            if not croniter.is_valid(expr):
                from core.errors import ConfigError

                raise ConfigError(f"schedules.{name}: {expr!r} is not a cron expression")
            self.jobs[name] = JobState(name, expr)
        self.module_prefix = module_prefix
        self.python = python
        self.env = env
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.lease = lease  # None: no election (a single scheduler, --once)
        self.clock = clock or (lease.clock if lease is not None else (lambda: datetime.now(UTC)))
        self.upcoming: dict[str, datetime] = {}
        self.standby_skips = 0  # due runs left to the leader while this replica stood by

    # ---- running ---------------------------------------------------------------------
    def command(self, name: str) -> list[str]:
        return [self.python, "-m", f"{self.module_prefix}.{name}"]

    def start(self, job: JobState, due: datetime | None = None) -> bool:
        with self.lock:
            if job.process is not None and job.process.poll() is None:
                job.runs["skipped"] += 1
                log.warning("job %s is still running (pid %s): this run is skipped", job.name, job.process.pid)
                return False
            log.info("starting job %s%s: %s", job.name, f" (due {due.isoformat()})" if due else "",
                     " ".join(self.command(job.name)))
            job.process = subprocess.Popen(self.command(job.name), env=self.env)
            job.started = time.monotonic()
            return True

    def reap(self) -> None:
        with self.lock:
            for job in self.jobs.values():
                if job.process is not None and job.process.poll() is not None:
                    self._finish(job)

    def _finish(self, job: JobState) -> None:
        assert job.process is not None
        job.last_exit = job.process.returncode
        job.last_duration = time.monotonic() - job.started
        job.last_finished = datetime.now(UTC)
        outcome = "success" if job.last_exit == 0 else "failed"
        job.runs[outcome] += 1
        (log.info if outcome == "success" else log.error)(
            "job %s finished: exit %s after %.1f s", job.name, job.last_exit, job.last_duration)
        job.process = None

    def run_blocking(self, job: JobState) -> int:
        if not self.start(job):
            return EXIT_FAILED
        assert job.process is not None
        job.process.wait()
        with self.lock:
            self._finish(job)
        return job.last_exit or 0

    def due(self, at: datetime) -> list[JobState]:
        from croniter import croniter

        minute = at.astimezone(UTC).replace(second=0, microsecond=0)
        return [j for j in self.jobs.values() if croniter.match(j.cron, minute)]

    def next_times(self, after: datetime) -> dict[str, datetime]:
        from croniter import croniter

        return {j.name: croniter(j.cron, after).get_next(datetime) for j in self.jobs.values()}

    @property
    def leading(self) -> bool:
        return self.lease is None or self.lease.leading

    def tick(self) -> bool:
        """One scheduling step: reap finished jobs, renew or watch the lease, start what is due.

        Returns whether this replica leads. A standby advances its due times like the leader
        but starts nothing, so when it takes over it runs what falls due from then on.
        """
        self.reap()
        leading = self.lease.tick() if self.lease is not None else True
        now = self.clock()
        if not self.upcoming:
            self.upcoming = self.next_times(now)
        following: dict[str, datetime] = {}  # every job's next time after now, computed once per tick
        for name, when in list(self.upcoming.items()):
            if when <= now:
                if leading:
                    self.start(self.jobs[name], due=when)
                else:
                    self.standby_skips += 1
                    log.debug("standby: job %s due at %s is the leader's", name, when.isoformat())
                following = following or self.next_times(now)
                self.upcoming[name] = following[name]
        return leading

    def loop(self, grace: float = 30.0) -> None:
        self.upcoming = self.next_times(self.clock())
        try:
            while not self.stop_event.is_set():
                self.tick()
                now = self.clock()
                waits = [(w - now).total_seconds() for w in self.upcoming.values()]
                wait = min(waits) if waits else 60.0
                if self.lease is not None:
                    wait = min(wait, self.lease.renew_interval)
                wait /= getattr(self.clock, "speed", 1.0)  # clock seconds -> real seconds
                self.stop_event.wait(max(0.05, min(wait, 5.0)))
        finally:
            # Hand over first, then drain: a standby takes the schedule at its next tick while
            # the jobs this replica started finish (each job's own lock guards an overlap).
            if self.lease is not None:
                self.lease.release()
            self.shutdown(grace)

    def shutdown(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        for job in self.jobs.values():
            if job.process is not None and job.process.poll() is None:
                log.info("waiting for job %s to finish (up to %.0f s)", job.name, grace)
                try:
                    job.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("terminating job %s", job.name)
                    job.process.terminate()
                    try:
                        job.process.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        job.process.kill()
                        job.process.wait()
        self.reap()

    # ---- metrics -----------------------------------------------------------------------
    def metric_samples(self) -> list[tuple[str, str, str, dict[str, Any], float | None]]:
        out: list[tuple[str, str, str, dict[str, Any], float | None]] = []
        if self.lease is not None:
            out.append(("vigil_scheduler_leader", "gauge",
                        "1 while this replica holds the leader lease and runs the jobs, 0 on standby",
                        {}, 1.0 if self.lease.leading else 0.0))
            out.append(("vigil_scheduler_leader_changes_total", "counter",
                        "Times this replica became the leader", {}, float(self.lease.changes)))
            out.append(("vigil_scheduler_lease_database_up", "gauge",
                        "0 when the last lease renewal could not reach the database", {},
                        0.0 if self.lease.error else 1.0))
        else:
            out.append(("vigil_scheduler_leader", "gauge",
                        "1 while this replica holds the leader lease and runs the jobs, 0 on standby",
                        {}, 1.0))
        with self.lock:
            for job in self.jobs.values():
                labels = {"job": job.name}
                out.append(("vigil_scheduler_job_running", "gauge", "1 while the job runs", labels,
                            1.0 if job.process is not None and job.process.poll() is None else 0.0))
                out.append(("vigil_scheduler_job_last_exit_code", "gauge", "Exit code of the job's last run",
                            labels, job.last_exit))
                out.append(("vigil_scheduler_job_last_duration_seconds", "gauge", "Duration of the last run",
                            labels, job.last_duration))
                for outcome, count in job.runs.items():
                    out.append(("vigil_scheduler_job_runs_total", "counter", "Runs started by the scheduler",
                                {**labels, "outcome": outcome}, float(count)))
        return out


class WatcherThread:
    """The auto-rollback watcher (governance.auto_rollback_watcher.Watcher) in a daemon thread that
    checks only while ``scheduler`` leads and stops when its ``stop_event`` is set. Without a database at
    start it retries every 5 s; it acts as the job account (VIGIL_JOB_USER, never VIGIL_TOKEN, as
    the scheduled jobs do)."""

    RETRY_S = 5.0

    def __init__(self, scheduler: Scheduler, settings: Any, ctx: Any = None) -> None:
        self.scheduler, self.settings, self.ctx = scheduler, settings, ctx
        self.watcher: Any = None
        self.thread = threading.Thread(target=self._run, name="auto-rollback-watcher", daemon=True)

    def _run(self) -> None:
        from core.context import AppContext
        from governance.auto_rollback_watcher import Watcher
        from jobs._identity import cli_actor, job_environment

        stop = self.scheduler.stop_event
        while self.watcher is None and not stop.is_set():
            try:
                ctx = self.ctx or AppContext.create(self.settings)
                self.watcher = Watcher(ctx, cli_actor(ctx, env=job_environment()))
            except Exception as exc:  # noqa: BLE001  the database is down at start: try again
                log.warning("auto-rollback watcher waits for the database: %s", exc)
                stop.wait(self.RETRY_S)
        if self.watcher is not None:
            self.watcher.run(stop, lambda: self.scheduler.leading)

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def metric_samples(self) -> list[tuple[str, str, str, dict[str, Any], float | None]]:
        return self.watcher.metric_samples() if self.watcher is not None else []


def serve_metrics(scheduler: Scheduler, host: str, port: int, ctx: Any = None,
                  watcher: WatcherThread | None = None) -> Any:
    """``/metrics`` (stored results plus the scheduler's and the watcher's own series) and ``/healthz``."""
    from monitoring.health.exporter import ScrapeCollector, start_metrics_server

    def samples() -> list[tuple[str, str, str, dict[str, Any], float | None]]:
        return scheduler.metric_samples() + (watcher.metric_samples() if watcher is not None else [])

    return start_metrics_server(host, port, ScrapeCollector(ctx, samples))


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("scheduler", __doc__ or "")
    p.add_argument("--port", type=int, help="port of /metrics (default: VIGIL_METRICS_PORT or 9108)")
    p.add_argument("--host", help="address /metrics binds (default: VIGIL_METRICS_HOST or 0.0.0.0)")
    p.add_argument("--once", action="store_true", help="run the jobs due now (or at --at) and exit")
    p.add_argument("--all", action="store_true", help="with --once: run every (listed) job")
    p.add_argument("--at", help="with --once: the time whose due jobs run (ISO-8601)")
    p.add_argument("--jobs", help="comma-separated job names to consider (default: all scheduled)")
    p.add_argument("--grace", type=float, default=30.0, help="seconds to wait for running jobs on stop")
    p.add_argument("--lease-ttl", type=float,
                   help="seconds without a renewal after which a standby takes over "
                        "(default: VIGIL_SCHEDULER_LEASE_TTL or 30)")
    p.add_argument("--lease-name", default="scheduler",
                   help="lease shared by the replicas that must run each job once (default scheduler)")
    p.add_argument("--module-prefix", default="jobs", help=argparse_suppress())
    p.add_argument("--sim-clock", help=argparse_suppress())  # benchmarks/scheduler_soak.py
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    from core.settings import Settings

    settings = Settings.from_env()
    args.port = settings.metrics_port if args.port is None else args.port
    args.host = args.host or settings.metrics_host
    args.lease_ttl = settings.scheduler_lease_ttl_seconds if args.lease_ttl is None else args.lease_ttl
    if args.lease_ttl <= 0:
        print("error: --lease-ttl must be positive", file=sys.stderr)
        return EXIT_USAGE

    from core.config import load_models_config
    from jobs._identity import job_environment
    from jobs.slo import parse_at

    models_config = load_models_config(settings.config_file)
    schedules = dict(models_config.schedules)
    watched = [m.name for m in models_config.models if m.auto_rollback.enabled]
    if args.jobs:
        wanted = [j.strip() for j in args.jobs.split(",") if j.strip()]
        unknown = [j for j in wanted if j not in schedules]
        if unknown:
            print(f"error: no schedule for {', '.join(unknown)} in {settings.config_file}", file=sys.stderr)
            return EXIT_USAGE
        schedules = {k: v for k, v in schedules.items() if k in wanted}
    clock = ScaledClock.parse(args.sim_clock) if args.sim_clock else None
    scheduler = Scheduler(schedules, module_prefix=args.module_prefix, env=job_environment(), clock=clock)

    if args.once:
        at = parse_at(args.at)
        todo = list(scheduler.jobs.values()) if args.all else scheduler.due(at)
        if not todo:
            log.info("no job is due at %s", at.isoformat())
        worst = EXIT_OK
        for job in todo:
            if scheduler.run_blocking(job) != 0:
                worst = EXIT_FAILED
        for job in scheduler.jobs.values():
            if job.last_exit is not None:
                print(f"{job.name}: exit {job.last_exit} after {job.last_duration:.1f} s")
        return worst

    from core.context import AppContext
    from core.db import engine_from_settings, migrate
    from core.lease import LeaderLease

    try:
        ctx = AppContext.create(settings)
        engine = ctx.engine
    except Exception as exc:  # serve the scheduler's own metrics even without a database
        log.warning("database unavailable at start (%s): standing by until it answers", exc)
        ctx = None
        engine = engine_from_settings(settings)  # the same timeouts as AppContext.create
    scheduler.lease = LeaderLease(engine, args.lease_name, ttl=args.lease_ttl, clock=scheduler.clock,
                                  prepare=(lambda: migrate(engine, busy_timeout=settings.db_busy_timeout_seconds))
                                  if ctx is None else None)
    watcher = WatcherThread(scheduler, settings, ctx) if watched else None
    try:
        server = serve_metrics(scheduler, args.host, args.port, ctx, watcher)
    except OSError as exc:
        print(f"error: cannot serve /metrics on {args.host}:{args.port}: {exc.strerror or exc} "
              "(is another scheduler running on this host? give each its own --port or "
              "VIGIL_METRICS_PORT)", file=sys.stderr)
        engine.dispose()
        return EXIT_USAGE
    log.info("scheduler %s running %d jobs (lease ttl %.0f s); metrics on http://%s:%d/metrics",
             scheduler.lease.holder, len(scheduler.jobs), args.lease_ttl, args.host,
             server.server_address[1])

    def _stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        scheduler.stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if watcher is not None:
        log.info("auto-rollback watcher on the leader for %s", ", ".join(watched))
        watcher.start()
    try:
        scheduler.loop(args.grace)
    finally:
        if watcher is not None:
            watcher.join(args.grace)  # the check in progress finishes; the loop sees the stop event
        server.shutdown()
        server.server_close()
    log.info("scheduler stopped")
    return EXIT_OK


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(run_main(main))
