"""Run queued retrains: claim a job, run the model's ``retrain.command``, record what happened.

    python -m jobs.worker                 # run queued retrains until the queue is empty, then exit
    python -m jobs.worker --once          # run at most one queued retrain, then exit
    python -m jobs.worker --loop [--poll-s 5]   # keep polling the queue (a Deployment, systemd)
    python -m jobs.worker --policy [--model NAME | --all]   # apply the retrain policies, queue what fires

Bare (as cron and the scheduler start every job) the worker drains the queue and exits, so a
schedule entry ``worker: '* * * * *'`` in the models file, a crontab line or a Kubernetes CronJob
runs it; ``--loop`` is for one long-lived worker process (any number of them may share a
database: a job is claimed by exactly one, see governance.retrain.claim_next).

For each job: the command (split like a shell would, run without one, a leading ``python`` meaning
the worker's own interpreter as in jobs.scheduler, with the job environment
minus VIGIL_TOKEN plus ``VIGIL_RETRAIN_JOB`` and ``VIGIL_RETRAIN_MODEL``) runs as a subprocess
with the model's timeout; its stdout and stderr are captured, the last 200 lines (redacted)
stored with every heartbeat (``--heartbeat-s``, default 5) and at the end. The run goes through
governance.runner.governed_run as the worker's account (``model.retrain`` on the model, a job-run
record, one audit entry for the outcome). A failed, timed-out or unstartable command is
``failed`` and posted to ``VIGIL_WEBHOOK_URL`` (monitoring.health.notify's sender).

The version contract: a command that registered a new model version prints a line
``VIGIL_VERSION=<version>`` (the last one counts). The worker then opens a release request for
that version (governance.releases.request_release, as the worker's account, which needs
``release.request``) before it records the job's outcome, and records both in one write, so
nobody sees a succeeded job whose request is still to come; a request that cannot be opened is
stored with the job (the retrain still succeeded) and the release cycle's poll opens it later.

Killed workers: every worker pass first marks ``failed`` the running jobs whose heartbeat is
older than ``--lapse-s`` (default 60) seconds. The command of a worker killed outright dies
with it on Linux (parent-death signal), so nothing trains unwatched.

``--policy`` evaluates each model's ``retrain.policy`` (governance.retrain.evaluate_policy): off by
default; when on, dataset drift in each of the last K drift runs or at least N new labelled rows
since the last succeeded retrain queue a retrain as actor ``system``. Schedule it like any job,
e.g. after drift (``python -m jobs.worker --policy`` in cron), then the worker runs the job.

Exit codes: 0 ok (every job run succeeded, or none was queued), 1 a job failed, 2 bad arguments,
4 the worker's account may not retrain (audited), 5 the database is unavailable.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jobs._cli import EXIT_FAILED, EXIT_OK, parser, run_main, setup_logging
from jobs._identity import AS_HELP

log = logging.getLogger("vigil.jobs.worker")
VERSION_LINE = re.compile(r"^\s*VIGIL_VERSION=(\S+)\s*$")


class RetrainFailed(Exception):
    """The command failed, timed out, could not start, or the job was taken from this worker."""


@dataclass
class Execution:
    exit_code: int | None
    error: str | None
    lines: deque[str]
    version: str | None

    @property
    def ok(self) -> bool:
        return self.error is None and self.exit_code == 0


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the command gets SIGKILL when the worker dies (prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the command and whatever it started
    except (ProcessLookupError, PermissionError):
        proc.kill()


def execute(ctx: Any, job: Any, worker: str, *, heartbeat_s: float) -> Execution:
    """Run ``job.command`` with its timeout, heartbeating every ``heartbeat_s`` seconds."""
    from governance.retrain import TAIL_LINES, heartbeat, tail_text
    from jobs._identity import job_environment

    lines: deque[str] = deque(maxlen=TAIL_LINES)
    found: list[str] = []
    try:
        argv = shlex.split(job.command)
    except ValueError as exc:
        return Execution(None, f"the command cannot be parsed: {exc}", lines, None)
    if not argv:
        return Execution(None, "the command is empty", lines, None)
    if argv[0] in ("python", "python3"):  # the worker's own interpreter, as jobs.scheduler runs jobs
        argv[0] = sys.executable
    env = {**job_environment(), "VIGIL_RETRAIN_JOB": str(job.id), "VIGIL_RETRAIN_MODEL": job.model,
           "PYTHONUNBUFFERED": "1"}
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                text=True, errors="replace", bufsize=1, env=env, start_new_session=True,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    except OSError as exc:
        return Execution(None, f"the command cannot start: {type(exc).__name__}: {exc}", lines, None)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            match = VERSION_LINE.match(line)
            if match:
                found.append(match.group(1))

    reader = threading.Thread(target=read, name=f"retrain-{job.id}-output", daemon=True)
    reader.start()
    deadline = time.monotonic() + job.timeout_s
    error: str | None = None
    while True:
        try:
            proc.wait(timeout=max(0.05, min(heartbeat_s, deadline - time.monotonic())))
            break
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() >= deadline:
            _kill(proc)
            proc.wait()
            error = f"timed out after {job.timeout_s} s (the command was killed)"
            break
        if not heartbeat(ctx, job.id, worker, log_tail=tail_text(lines)):
            _kill(proc)
            proc.wait()
            error = "the job was taken from this worker (its heartbeat had lapsed); the command was killed"
            break
    reader.join(timeout=5)
    code = proc.returncode
    if error is None and code != 0:
        error = f"the command exited with {code}"
    return Execution(code, error, lines, found[-1] if found else None)


def notify_failure(ctx: Any, job: Any, error: str, lines: Sequence[str] = ()) -> str | None:
    """Post the failure to VIGIL_WEBHOOK_URL (Slack-compatible); returns the send error, if any."""
    url = ctx.settings.webhook_url
    if not url:
        return None
    from core.redact import redact_text
    from monitoring.health.notify import send

    text = redact_text(f"[Vigil] {job.model}: retrain {job.id} failed: {error}")
    tail = redact_text("\n".join(list(lines)[-10:])) or "(no output)"
    body = {"text": text, "attachments": [{"color": "#a30200", "fallback": text, "fields": [
        {"title": "Requested by", "value": f"{job.requested_by} ({job.trigger})", "short": True},
        {"title": "Log tail", "value": tail, "short": False}]}]}
    problem = send(url, body, retries=2, backoff=0.5)
    if problem:
        log.warning("retrain %s: failure notification not sent: %s", job.id, problem)
    return problem


def run_job(ctx: Any, actor: Any, job: Any, worker: str, *, heartbeat_s: float = 5.0,
            versions: Any = None) -> Any:
    """Run one claimed job to its outcome; returns the job's final view."""
    from core.errors import PermissionDenied
    from governance import retrain
    from governance.rbac import Action
    from governance.runner import governed_run

    result = Execution(None, None, deque(), None)
    try:
        with governed_run(ctx, actor, Action.MODEL_RETRAIN, job.model, job="retrain",
                          failure_details={"step": "run", "retrain_job": job.id}) as run:
            result = execute(ctx, job, worker, heartbeat_s=heartbeat_s)
            tail = retrain.tail_text(result.lines)
            request_id, release_error = (open_release(ctx, actor, job, result.version, versions)
                                         if result.ok and result.version else (None, None))
            retrain.finish(ctx, job.id, worker, succeeded=result.ok, exit_code=result.exit_code,
                           error=result.error, log_tail=tail, produced_version=result.version,
                           release_request_id=request_id, release_error=release_error)
            run.message = (f"retrain {job.id}: " + ("succeeded" if result.ok else str(result.error))
                           + (f", version {result.version}" if result.version else ""))
            run.details = {"retrain_job": job.id, "exit_code": result.exit_code, "version": result.version}
            run.audit = {"step": "run", "retrain_job": job.id, "exit_code": result.exit_code,
                         "produced_version": result.version, "requested_by": job.requested_by,
                         "trigger": job.trigger}
            if not result.ok:
                raise RetrainFailed(result.error)
    except PermissionDenied as exc:  # audited as denied by governed_run; the job must not hang queued
        retrain.finish(ctx, job.id, worker, succeeded=False, exit_code=None,
                       error=f"the worker's account {actor.username} may not model.retrain: {exc}", log_tail="")
        notify_failure(ctx, job, f"the worker's account {actor.username} may not retrain {job.model}")
        raise
    except RetrainFailed as exc:
        notify_failure(ctx, job, str(exc), result.lines)
    return retrain.show_retrain(ctx, None, job.id)


def open_release(ctx: Any, actor: Any, job: Any, version: str, versions: Any) -> tuple[int | None, str | None]:
    """Open the release request of the version a retrain produced (governance.releases, as the
    worker's account): (its id, None), or (None, why not). Never raises: the retrain succeeded
    whatever happens here, and the release cycle's poll opens the request later if this one could
    not."""
    from governance.releases import request_release

    try:
        view = request_release(ctx, actor, job.model, version, versions=versions,
                               reason=f"retrain {job.id} ({job.trigger}, asked by {job.requested_by})"
                                      + (f": {job.reason}" if job.reason else ""))
    except Exception as exc:  # noqa: BLE001  recorded with the job, shown on the Releases page
        log.warning("retrain %s: no release request for version %s: %s", job.id, version, exc)
        return None, f"{type(exc).__name__}: {exc}"
    return view.id, None


def describe(view: Any) -> str:
    line = f"retrain {view.id} of {view.model}: {view.state}"
    if view.exit_code is not None:
        line += f" (exit {view.exit_code})"
    if view.error:
        line += f": {view.error}"
    if view.produced_version:
        line += f"; version {view.produced_version}"
    if view.release_request_id:
        line += f"; release request {view.release_request_id} opened"
    elif view.release_error:
        line += f"; no release request ({view.release_error})"
    return line


def work(ctx: Any, actor: Any, *, once: bool = False, loop: bool = False, poll_s: float = 5.0,
         heartbeat_s: float = 5.0, lapse_s: float = 60.0, stop: threading.Event | None = None,
         versions: Any = None) -> int:
    """Reap lapsed jobs, then run queued ones (one with ``once``; until stopped with ``loop``)."""
    from governance import retrain

    stop = stop or threading.Event()
    me = worker_id()
    code = EXIT_OK
    while not stop.is_set():
        for view in retrain.reap_lapsed(ctx, actor, lapse_s=lapse_s):
            print(describe(view), flush=True)
            notify_failure(ctx, view, view.error or "worker died")
        job = retrain.claim_next(ctx, me)
        if job is None:
            if not loop:
                break
            stop.wait(poll_s)
            continue
        print(f"retrain {job.id} of {job.model}: running `{job.command}` (timeout {job.timeout_s} s)", flush=True)
        final = run_job(ctx, actor, job, me, heartbeat_s=heartbeat_s, versions=versions)
        print(describe(final), flush=True)
        if final.state != "succeeded":
            code = EXIT_FAILED
        if once:
            break
    return code


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("worker", __doc__ or "")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="run at most one queued retrain, then exit")
    mode.add_argument("--loop", action="store_true", help="keep polling the queue until stopped")
    mode.add_argument("--policy", action="store_true", help="apply the retrain policies and exit")
    p.add_argument("--model", help="with --policy: only this model (default: every configured model)")
    p.add_argument("--all", dest="all_models", action="store_true", help="with --policy: every model (default)")
    p.add_argument("--poll-s", type=float, default=5.0, help="seconds between polls in --loop (default 5)")
    p.add_argument("--heartbeat-s", type=float, default=5.0, help="seconds between heartbeats (default 5)")
    p.add_argument("--lapse-s", type=float, default=60.0,
                   help="a running job without a heartbeat for this long is marked failed (default 60)")
    p.add_argument("--as", dest="as_user", metavar="USER", help=AS_HELP)
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    for name in ("poll_s", "heartbeat_s", "lapse_s"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.lapse_s <= args.heartbeat_s:
        p.error("--lapse-s must be longer than --heartbeat-s")
    from core.context import AppContext
    from jobs._identity import cli_actor

    ctx = AppContext.create()
    actor = cli_actor(ctx, args.as_user)
    if args.policy:
        from governance.retrain import evaluate_policy
        from jobs._models import Outcome, run_each, selected_models

        def step(model: str) -> Outcome:
            outcome = evaluate_policy(ctx, actor, model)
            if outcome.triggered and outcome.job is not None:
                return Outcome(EXIT_OK, f"retrain {outcome.job.id} queued ({outcome.why})")
            return Outcome(EXIT_OK, f"no retrain ({outcome.why})")

        return run_each(selected_models(ctx, args.model), step)
    stop = threading.Event()
    if args.loop:
        def on_signal(signum: int, _frame: Any) -> None:
            log.info("signal %s: stopping after the current job", signum)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
    return work(ctx, actor, once=args.once, loop=args.loop, poll_s=args.poll_s, heartbeat_s=args.heartbeat_s,
                lapse_s=args.lapse_s, stop=stop)


if __name__ == "__main__":
    sys.exit(run_main(main))
