"""Replicated schedulers on one database (SQLite file and real PostgreSQL): exactly one runs each
due job, a standby takes over when the leader stops renewing, a second scheduler on a taken
port says so in one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.db import make_engine, migrate
from core.lease import LeaderLease
from jobs.scheduler import Scheduler

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TTL = 30.0


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def fakejobs(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A job package whose job appends the replica's name (env WHO) to a marker file."""
    pkg = tmp_path / "fakejobs"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    marker = tmp_path / "ran.txt"
    (pkg / "tick.py").write_text(f"import os\nopen({str(marker)!r}, 'a').write(os.environ['WHO'] + '\\n')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    return marker, env


def _replica(db_url: str, who: str, clock: FakeClock, env: dict[str, str]) -> Scheduler:
    engine = make_engine(db_url)  # one engine per replica, as separate processes would have
    lease = LeaderLease(engine, ttl=TTL, holder=f"host-{who}:1:{who}", clock=clock)
    return Scheduler({"tick": "*/5 * * * *"}, module_prefix="fakejobs", env={**env, "WHO": who},
                     lease=lease, clock=clock)


def _wait_jobs(*schedulers: Scheduler) -> None:
    for s in schedulers:
        s.shutdown(60)


def _ran(marker: Path) -> list[str]:
    return marker.read_text().splitlines() if marker.exists() else []


def test_two_replicas_run_each_due_job_once_and_the_standby_takes_over(db_url, fakejobs) -> None:
    marker, env = fakejobs
    migrate(make_engine(db_url))
    clock = FakeClock(datetime(2026, 11, 30, 10, 4, 50, tzinfo=UTC))
    a, b = _replica(db_url, "a", clock, env), _replica(db_url, "b", clock, env)
    try:
        assert a.tick() is True and b.tick() is False  # a created the lease, b stands by
        clock.advance(10)  # 10:05:00, the job is due on both replicas
        assert a.tick() is True and b.tick() is False
        _wait_jobs(a, b)
        assert _ran(marker) == ["a"] and b.standby_skips == 1

        # a is killed: it stops renewing. b waits one full ttl of unchanged lease, then leads.
        for _ in range(2):
            clock.advance(TTL / 3)
            assert b.tick() is False, "took over before the lease's ttl ran out"
        clock.advance(TTL / 3)
        assert b.tick() is True
        assert b.lease is not None and b.lease.current_holder() == "host-b:1:b"

        # a comes back (a paused process, not a dead one): it steps down, it does not run jobs.
        clock.now = datetime(2026, 11, 30, 10, 10, tzinfo=UTC)
        assert a.tick() is False and b.tick() is True
        _wait_jobs(a, b)
        assert _ran(marker) == ["a", "b"]
    finally:
        for s in (a, b):
            assert s.lease is not None
            s.lease.engine.dispose()


def test_a_released_lease_is_taken_at_the_next_tick(db_url) -> None:
    migrate(make_engine(db_url))
    clock = FakeClock(datetime(2026, 11, 30, 10, 0, tzinfo=UTC))
    a = LeaderLease(make_engine(db_url), ttl=TTL, holder="a", clock=clock)
    b = LeaderLease(make_engine(db_url), ttl=TTL, holder="b", clock=clock)
    assert a.tick() and not b.tick()
    a.release()  # a clean stop (SIGTERM)
    clock.advance(1)
    assert b.tick() is True and a.tick() is False
    for lease in (a, b):
        lease.engine.dispose()


def test_racing_replicas_elect_exactly_one_leader(db_url) -> None:
    """Eight replicas tick at the same instant, five rounds: never two leaders, never none."""
    migrate(make_engine(db_url))
    clock = FakeClock(datetime(2026, 11, 30, 10, 0, tzinfo=UTC))
    leases = [LeaderLease(make_engine(db_url), ttl=TTL, holder=f"r{i}", clock=clock) for i in range(8)]
    try:
        for _round in range(5):
            barrier = threading.Barrier(len(leases))
            results: dict[str, bool] = {}

            def tick(lease: LeaderLease, barrier: threading.Barrier = barrier,
                     results: dict[str, bool] = results) -> None:
                barrier.wait()
                results[lease.holder] = lease.tick()

            threads = [threading.Thread(target=tick, args=(lease,)) for lease in leases]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            leaders = [h for h, leading in results.items() if leading]
            assert len(leaders) == 1, results
            assert leases[0].current_holder() == leaders[0]
            clock.advance(TTL / 3)
    finally:
        for lease in leases:
            lease.engine.dispose()


# ---- real processes ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _leader_gauge(port: int) -> float | None:
    import requests

    try:
        body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except requests.RequestException:
        return None
    for line in body.splitlines():
        if line.startswith("vigil_scheduler_leader "):
            return float(line.split()[1])
    return None


def _until(predicate, timeout: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def test_two_scheduler_processes_one_leader_and_failover_after_kill(db_url, tmp_path) -> None:
    config = tmp_path / "models.yaml"
    config.write_text("models: []\nschedules:\n  never: '0 0 1 1 *'\n")
    env = {**os.environ, "VIGIL_CONFIG": str(config), "VIGIL_DATA_DIR": str(tmp_path / "data"),
           "DATABASE_URL": db_url}
    ports = [_free_port(), _free_port()]
    procs = [
        subprocess.Popen([sys.executable, "-m", "jobs.scheduler", "--host", "127.0.0.1", "--port", str(port),
                          "--lease-ttl", "3"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        for port in ports
    ]
    try:
        gauges = _until(lambda: (lambda g: g if None not in g and sum(g) == 1 else None)(
            [_leader_gauge(p) for p in ports]), 60)
        assert gauges is not None and sorted(gauges) == [0.0, 1.0], gauges
        leader = gauges.index(1.0)
        procs[leader].send_signal(signal.SIGKILL)  # no release: the standby must wait out the ttl
        procs[leader].wait(10)
        standby = 1 - leader
        assert _until(lambda: _leader_gauge(ports[standby]) == 1.0, 30), "the standby never took over"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    assert procs[1 - leader].returncode == 0


def test_second_scheduler_on_a_taken_port_says_so_in_one_line(tmp_path) -> None:
    config = tmp_path / "models.yaml"
    config.write_text("models: []\nschedules:\n  never: '0 0 1 1 *'\n")
    env = {**os.environ, "VIGIL_CONFIG": str(config), "VIGIL_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "jobs.scheduler", "--host", "127.0.0.1",
                               "--port", str(port)], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"cannot serve /metrics on 127.0.0.1:{port}" in errors[0]
    assert "--port" in errors[0]
