"""Benchmark: rollback confirmation -> champion alias moved, against a local MLflow server
(target: under 5 s).

    python -m benchmarks.rollback_latency [--runs 10] [--no-write]

Starts ``python -m mlflow server`` on 127.0.0.1 (SQLite backend, as tests/mlflow_server.py does),
registers three versions of breast-cancer-mlp, and builds a Vigil data directory (SQLite) with an
operator account. Then, ``--runs`` times, it times ``governance.promotion.rollback`` from the call
(the operator's confirmation) to its return (permission checked, job run recorded, outside-change
check, alias moved, ``previous-champion`` kept, history and audit written; no deployment hook),
and checks through a separate MLflow client that the alias really moved. The anchor, timed in the
same rounds, is MLflow's own ``set_registered_model_alias`` call: the least any alias move costs.
Writes the "rollback-latency" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RM, MODEL = "breast-cancer-mlp", "breast-cancer"


def start_mlflow(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """An MLflow server as tests/mlflow_server.py starts one (no job runner, SQLite backend)."""
    from tests.mlflow_server import _healthy, free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true",
               MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    env.pop("MLFLOW_TRACKING_URI", None)
    log = (root / "server.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
                                str(port), "--workers", "1", "--backend-store-uri",
                                f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination",
                                str(root / "artifacts")], stdout=log, stderr=subprocess.STDOUT, env=env,
                               cwd=root, start_new_session=True)
    deadline = time.monotonic() + 120
    while not _healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"MLflow server did not start: {(root / 'server.log').read_text()[-1500:]}")
        time.sleep(0.5)
    return process, url


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = p.parse_args(argv)

    import core  # noqa: F401  (telemetry off before mlflow is imported)
    from mlflow import MlflowClient

    from core.actor import Actor
    from core.context import AppContext
    from core.settings import Settings
    from governance import access, identity, promotion
    from governance.rbac import grant

    with tempfile.TemporaryDirectory(prefix="vigil-rollback-bench-") as tmp:
        root = Path(tmp)
        process, url = start_mlflow(root)
        try:
            client = MlflowClient(tracking_uri=url, registry_uri=url)
            experiment = client.create_experiment("bench")
            client.create_registered_model(RM)
            for _ in range(3):
                run = client.create_run(experiment)
                client.create_model_version(RM, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
            client.set_registered_model_alias(RM, "champion", "1")
            client.set_registered_model_alias(RM, "previous-champion", "2")
            settings = Settings.from_env({"VIGIL_DATA_DIR": str(root / "data"), "MLFLOW_TRACKING_URI": url,
                                          "VIGIL_CONFIG": str(REPO / "config" / "models.yaml")})
            ctx = AppContext.create(settings)
            admin = Actor("root", "cli")
            access.bootstrap_admin(ctx, "root", "root-password")
            identity.create_user(ctx, admin, "opal", "opal-password")
            grant(ctx, admin, "opal", "operator", MODEL, reason="benchmark")
            operator = Actor("opal", "ui", "127.0.0.1")
            promotion.rollback(ctx, operator, MODEL, reason="warm-up")  # imports, client, first sync

            rollback_s, alias_s, anchor_s = [], [], []
            for i in range(args.runs):
                started = time.perf_counter()
                move = promotion.rollback(ctx, operator, MODEL, reason=f"benchmark round {i + 1}")
                rollback_s.append(time.perf_counter() - started)
                alias_s.append(move.seconds)
                seen = str(client.get_registered_model(RM).aliases["champion"])
                assert seen == move.new_version, (seen, move)
                target = "3" if i % 2 else "1"
                started = time.perf_counter()
                client.set_registered_model_alias(RM, "bench-anchor", target)
                anchor_s.append(time.perf_counter() - started)
            entries = [e for e in ctx.audit.query() if e.action == "model.rollback"]
            assert len(entries) == args.runs + 1 and all(e.outcome == "success" for e in entries)
            ctx.engine.dispose()
        finally:
            os.killpg(process.pid, 15)
            process.wait(timeout=20)

    med, alias_med, anchor_med = (statistics.median(x) for x in (rollback_s, alias_s, anchor_s))
    verdict = "meets" if med < 5 else "MISSES"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    markdown = "\n".join([
        "## rollback-latency: rollback confirmation -> champion alias moved (local MLflow server)",
        "",
        f"Machine: {_machine()}. Script: `python -m benchmarks.rollback_latency`. MLflow server on 127.0.0.1 "
        "(SQLite backend), Vigil on SQLite, no deployment hook.",
        "",
        f"| measure (median of {args.runs}) | seconds | runs |",
        "|---|---|---|",
        f"| `promotion.rollback` call -> return (permission, job run, outside-change check, both aliases "
        f"moved, history and audit written) | {med:.3f} | {', '.join(f'{t:.3f}' for t in rollback_s)} |",
        f"| of which: call -> both aliases moved (the rest: history, job-run row, audit) | {alias_med:.3f} | "
        f"{', '.join(f'{t:.3f}' for t in alias_s)} |",
        f"| anchor: MLflow's own `set_registered_model_alias`, same rounds | {anchor_med:.3f} | "
        f"{', '.join(f'{t:.3f}' for t in anchor_s)} |",
        f"| ratio rollback / anchor | {med / anchor_med:.1f} | |",
        f"| target | under 5 s: {verdict} | |",
        "",
        f"Load average at the end (1/5/15 min): {load}. A rollback makes about ten registry calls (read "
        "the aliases, check the target version, set two aliases, each set checking its version first) "
        "and three short database transactions, so it costs a small multiple of one alias call.",
    ])
    print(markdown)
    if not args.no_write:
        from benchmarks._results import write_section

        write_section("rollback-latency", markdown)
    return 0 if verdict == "meets" else 1


def _machine() -> str:
    from benchmarks._results import machine_line

    return machine_line()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
