"""Soak: two scheduler replicas on one database run the shipped schedules; every due job once, green.

    python -m benchmarks.scheduler_soak [--minutes 60] [--speed 6] [--postgres] [--handover]
        [--keep DIR] [--no-write]

Builds the small data set of tests/integration/schedule_data.py (a champion per demo model,
a few hundred ingested rows), then starts two real ``python -m jobs.scheduler`` processes
against one database (the SQLite file, or a fresh schema on PostgreSQL with ``--postgres``)
with the shipped ``config/models.yaml`` schedules. Their clock is compressed (hidden
``--sim-clock``): ``--minutes`` simulated minutes starting at 02:31 UTC (so the daily 03:00
SHAP job falls inside) pass in ``minutes / speed`` real minutes; the jobs themselves run for
real on real data. ``--handover`` stops the leader with SIGTERM halfway and starts it again,
as a rolling update would.

From both replicas' logs it counts, per job: the due times started (each must be started
exactly once, by one replica, and match croniter's due times in the simulated span), the
exit codes (all 0), runs skipped because the previous one still ran, and leadership changes.
Exit 0 when every check holds, 1 otherwise; writes the "scheduler-soak" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STARTED = re.compile(r"starting job (\w+) \(due ([^)]+)\)")
FINISHED = re.compile(r"job (\w+) finished: exit (-?\d+) after ([\d.]+) s")
SKIPPED = re.compile(r"job (\w+) is still running")
LEADER = re.compile(r"lease \w+: (\S+) is now the leader")
PG_URL = os.environ.get("VIGIL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _leader_gauge(port: int) -> float | None:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            body = r.read().decode()
    except OSError:
        return None
    for line in body.splitlines():
        if line.startswith("vigil_scheduler_leader "):
            return float(line.split()[1])
    return None


def expected_dues(schedules: dict[str, str], start: datetime, end: datetime) -> dict[str, list[datetime]]:
    from croniter import croniter

    out: dict[str, list[datetime]] = {}
    for name, expr in schedules.items():
        it, dues = croniter(expr, start), []
        while (when := it.get_next(datetime)) <= end:
            dues.append(when)
        out[name] = dues
    return out


class Replica:
    def __init__(self, name: str, root: Path, env: dict[str, str], sim_clock: str, ttl: float) -> None:
        self.name, self.port = name, _free_port()
        self.log_paths: list[Path] = []
        self.root, self.env, self.sim_clock, self.ttl = root, env, sim_clock, ttl
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        path = self.root / f"scheduler-{self.name}-{len(self.log_paths)}.log"
        self.log_paths.append(path)
        with path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jobs.scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                 "--lease-ttl", str(self.ttl), "--grace", "600", "--sim-clock", self.sim_clock],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self, timeout: float = 900) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.log_paths)


def _pg_schema() -> tuple[str, str]:
    import uuid

    from sqlalchemy import text

    from core.db import make_engine

    schema = f"soak_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in PG_URL else "?"
    return schema, f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


def _drop_pg_schema(schema: str) -> None:
    from sqlalchemy import text

    from core.db import make_engine

    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=60.0, help="simulated minutes (default 60)")
    p.add_argument("--speed", type=float, default=6.0, help="simulated seconds per real second (default 6)")
    p.add_argument("--lease-ttl", type=float, default=60.0,
                   help="lease ttl in simulated seconds (default 60)")
    p.add_argument("--postgres", action="store_true", help="share a fresh PostgreSQL schema, not SQLite")
    p.add_argument("--handover", action="store_true", help="SIGTERM the leader halfway, then restart it")
    p.add_argument("--keep", type=Path, help="keep the data and logs here")
    p.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    import yaml

    from tests.integration.schedule_data import CONFIG, prepare

    root = args.keep or Path(tempfile.mkdtemp(prefix="vigil-soak-"))
    root.mkdir(parents=True, exist_ok=True)
    schema, db_url = _pg_schema() if args.postgres else (None, None)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    try:
        t0 = time.monotonic()
        env = prepare(root / "data", db_url)
        setup_s = time.monotonic() - t0
        print(f"data set ready in {setup_s:.0f} s under {root}", flush=True)
        schedules = dict(yaml.safe_load(CONFIG.read_text())["schedules"])

        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        sim_start = today + timedelta(hours=2, minutes=31)
        lead = 6.0  # real seconds for the processes to start before the simulated span begins
        anchor = time.time() + lead
        sim_end = sim_start + timedelta(minutes=args.minutes)
        sim_clock = f"{sim_start.isoformat()},{anchor},{args.speed}"
        replicas = [Replica(n, root, env, sim_clock, args.lease_ttl) for n in ("a", "b")]
        for r in replicas:
            r.start()
        real_span = args.minutes * 60 / args.speed
        handover: dict[str, float | str] = {}
        if args.handover:
            time.sleep(max(0.0, anchor + real_span / 2 - time.time()))
            gauges = [_leader_gauge(r.port) for r in replicas]
            leader = replicas[gauges.index(1.0)] if 1.0 in gauges else replicas[0]
            other = replicas[1 - replicas.index(leader)]
            stopped_at = time.monotonic()
            leader.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            while _leader_gauge(other.port) != 1.0 and time.monotonic() - stopped_at < 120:
                time.sleep(0.1)
            handover = {"stopped": leader.name, "took_over": other.name,
                        "takeover_s": time.monotonic() - stopped_at}
            leader.stop()
            leader.start()  # back as a standby, as after a rolling update
            print(f"handover: {handover}", flush=True)
        # Stop after the span plus a margin; then wait for the last jobs to finish.
        time.sleep(max(0.0, anchor + real_span + 2.0 - time.time()))
        codes = [r.stop() for r in replicas]
        wall_s = time.monotonic() - t0 - setup_s

        # Only due times inside the simulated span count (a replica started a little before it).
        expected = expected_dues(schedules, sim_start - timedelta(seconds=lead * args.speed), sim_end)
        started: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        exits: dict[str, Counter[int]] = defaultdict(Counter)
        durations: dict[str, list[float]] = defaultdict(list)
        skipped: Counter[str] = Counter()
        leader_changes = 0
        for r in replicas:
            text = r.log_text()
            for job, due in STARTED.findall(text):
                started[job].append((datetime.fromisoformat(due), r.name))
            for job, code, seconds in FINISHED.findall(text):
                exits[job][int(code)] += 1
                durations[job].append(float(seconds))
            skipped.update(SKIPPED.findall(text))
            leader_changes += len(LEADER.findall(text))

        rows, problems = [], []
        for job, dues in expected.items():
            got = Counter(d for d, _ in started[job])
            duplicates = sum(n - 1 for n in got.values() if n > 1)
            missing = [d for d in dues if d not in got]
            extra = [d for d in got if d not in dues]
            by = Counter(name for _, name in started[job])
            nonzero = sum(n for c, n in exits[job].items() if c != 0)
            median = sorted(durations[job])[len(durations[job]) // 2] if durations[job] else 0.0
            rows.append(f"| {job} | {schedules[job]} | {len(dues)} | {sum(got.values())} | {duplicates} | "
                        f"{len(missing)} | {sum(exits[job].values())} | {nonzero} | {skipped[job]} | "
                        f"{median:.1f} | {', '.join(f'{k} {v}' for k, v in sorted(by.items()))} |")
            finished = sum(exits[job].values())
            if duplicates or missing or extra or nonzero or skipped[job] or finished != len(dues):
                problems.append(f"{job}: duplicates {duplicates}, missing {len(missing)}, "
                                f"extra {len(extra)}, "
                                f"non-zero exits {nonzero} {dict(exits[job])}, skipped {skipped[job]}")
        if any(codes):
            problems.append(f"scheduler exit codes {codes}")
        ok = not problems
        total = sum(len(d) for d in expected.values())
        ran = sum(sum(c.values()) for c in exits.values())
        md = [
            "## scheduler-soak: two scheduler replicas, shipped schedules, one database",
            "",
            f"`python -m benchmarks.scheduler_soak --minutes {args.minutes:g} --speed {args.speed:g}"
            f"{' --postgres' if args.postgres else ''}{' --handover' if args.handover else ''}`: "
            f"{args.minutes:g} simulated minutes ({sim_start:%H:%M}-{sim_end:%H:%M} UTC"
            f"{', so the 03:00 SHAP job is inside' if expected.get('shap') else ''}) in "
            f"{wall_s / 60:.1f} real minutes on {backend}; jobs run for real on the "
            "data set of "
            f"tests/integration/schedule_data.py (2 models, 300 rows each; built in {setup_s:.0f} s). "
            f"Lease ttl {args.lease_ttl:g} simulated s. Machine: {_machine()}",
            "",
            "| job | schedule | due | started | duplicates | missed | finished | non-zero exits | "
            "skipped (overlap) | median s | started by |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            *rows,
            "",
            f"Result: **{'every due job ran exactly once, all exit 0' if ok else 'FAILED'}** "
            f"({ran} runs of {total} due; leadership acquired {leader_changes} time(s); "
            f"scheduler exit codes {codes}).",
        ]
        if handover:
            md.append(f"Handover: replica {handover['stopped']} (leader) got SIGTERM halfway; "
                      f"{handover['took_over']} led {float(handover['takeover_s']):.1f} s later (real); "
                      f"{handover['stopped']} restarted as standby.")
        if problems:
            md.append("Problems: " + "; ".join(problems))
        text = "\n".join(md)
        print(text)
        if not args.no_write:
            from benchmarks._results import write_section

            write_section(f"scheduler-soak-{backend.lower()}{'' if args.speed != 1 else '-realtime'}", text)
        return 0 if ok else 1
    finally:
        if schema:
            _drop_pg_schema(schema)


def _machine() -> str:
    from benchmarks._results import machine_line

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{machine_line()}; load average at the end {load}"


if __name__ == "__main__":
    sys.exit(main())
