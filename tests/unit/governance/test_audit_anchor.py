"""Audit checkpoints: signatures, sinks (local files, an fsspec object store, a webhook), key
configuration errors, and the `jobs.audit checkpoint` / `verify` commands a user runs."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import text

from core.actor import Actor
from core.errors import ConfigError, Conflict, ServiceUnavailable
from governance.audit_anchor import AnchorConfig, Checkpoint, sign, signature_problem, take_checkpoint
from governance.audit_sinks import FsspecSink, WebhookSink, display_url
from jobs import audit as audit_cli
from jobs import audit_checkpoint as checkpoint_cli
from jobs._cli import EXIT_FAILED, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, run_main

REPO = Path(__file__).resolve().parents[3]


def _pems() -> tuple[str, str]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    key = Ed25519PrivateKey.generate()
    return (key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode(),
            key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode())


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = _pems()
    (tmp_path / "checkpoint.key").write_text(private)
    (tmp_path / "checkpoint.pub").write_text(public)
    return tmp_path / "checkpoint.key", tmp_path / "checkpoint.pub"


def _signer(url: str, keys: tuple[Path, Path]) -> AnchorConfig:
    return AnchorConfig.from_env({"VIGIL_AUDIT_CHECKPOINT_URL": url,
                                  "VIGIL_AUDIT_CHECKPOINT_KEY_FILE": str(keys[0])})


def _grant_job_account(ctx) -> None:  # type: ignore[no-untyped-def]
    """The job account the checkpoint command acts as, with the operator role (audit.checkpoint)."""
    from core.db import session_scope
    from governance.identity import insert_user
    from governance.rbac import insert_grant

    with session_scope(ctx.engine) as session:
        insert_user(session, "scheduler", None, is_service=True)
        insert_grant(session, "scheduler", "operator", "*", granted_by="test", reason="runs the jobs")


def _fill(ctx, n: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        ctx.audit.append(Actor("ann", "ui"), "model.view", "diabetes", details={"i": i})


# -- signatures ----------------------------------------------------------------------------------
def test_signature_checks_every_field_with_the_public_key_only(keys) -> None:  # type: ignore[no-untyped-def]
    private = _signer("unused", keys).private_key()
    public = AnchorConfig.from_env({"VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY_FILE": str(keys[1])}).public_key()
    cp = sign(Checkpoint(seq=7, head="a" * 64, count=7, ts="2026-11-30T12:00:00.000000Z", key_id=""), private)
    assert signature_problem(Checkpoint.from_json(cp.to_json()), public) is None
    for change in ({"seq": 8}, {"head": "b" * 64}, {"count": 6}, {"ts": "2026-11-30T12:00:01.000000Z"}):
        doc = {**json.loads(cp.to_json()), **change}
        assert signature_problem(Checkpoint.from_json(json.dumps(doc)), public) == \
            "bad signature: the checkpoint was edited or forged"
    with pytest.raises(ValueError, match="not a checkpoint"):
        Checkpoint.from_json('{"kind": "something else"}')


def test_missing_or_wrong_keys_are_configuration_errors(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    url = {"VIGIL_AUDIT_CHECKPOINT_URL": str(tmp_path / "cp")}
    with pytest.raises(ConfigError, match="VIGIL_AUDIT_CHECKPOINT_KEY_FILE"):
        AnchorConfig.from_env(url).private_key()
    with pytest.raises(ConfigError, match="VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY_FILE"):
        AnchorConfig.from_env(url).public_key()
    with pytest.raises(ConfigError, match="cannot read"):
        AnchorConfig.from_env({**url, "VIGIL_AUDIT_CHECKPOINT_KEY_FILE": str(tmp_path / "nope.pem")})
    ec = generate_private_key(SECP256R1()).private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    with pytest.raises(ConfigError, match="must be Ed25519"):
        AnchorConfig.from_env({**url, "VIGIL_AUDIT_CHECKPOINT_KEY": ec.decode()}).private_key()
    with pytest.raises(ConfigError, match="not an unencrypted PEM"):
        AnchorConfig.from_env({**url, "VIGIL_AUDIT_CHECKPOINT_KEY": "garbage"}).private_key()


def test_sink_urls_are_shown_without_credentials() -> None:
    assert display_url("https://hooks:s3cret@example.org/T0/B1/XYZtoken?sig=abc") == "https://example.org/..."
    assert display_url("s3://key:secret@bucket/vigil/checkpoints") == "s3://bucket/vigil/checkpoints"
    assert display_url("/var/lib/vigil/checkpoints") == "/var/lib/vigil/checkpoints"


# -- sinks ---------------------------------------------------------------------------------------
def test_local_checkpoint_files_are_read_only_and_never_replaced(sqlite_ctx, keys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _fill(sqlite_ctx, 3)
    where = tmp_path / "cp"
    cp, written = take_checkpoint(sqlite_ctx.engine, _signer(str(where), keys))
    [path] = list(where.iterdir())
    assert written == [f"{where}/{cp.name}"] and path.name == cp.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert path.read_text().count("\n") == 1 and json.loads(path.read_text())["seq"] == 3
    with pytest.raises(Conflict, match="already exists"):
        FsspecSink(str(where)).write(cp)
    assert Checkpoint.from_json(path.read_text()) == cp


def test_object_store_sink_through_fsspec(sqlite_ctx, keys) -> None:  # type: ignore[no-untyped-def]
    """memory:// stands in for s3://: the same code path (one PUT per checkpoint, list, read)."""
    import uuid

    url = f"memory://vigil-{uuid.uuid4().hex}/checkpoints"
    _fill(sqlite_ctx, 2)
    first, _ = take_checkpoint(sqlite_ctx.engine, _signer(url, keys))
    _fill(sqlite_ctx, 2)
    second, written = take_checkpoint(sqlite_ctx.engine, _signer(url, keys))
    assert (first.seq, second.seq) == (2, 4)
    assert written == [f"{url}/{second.name}"]
    report = sqlite_ctx.audit.verify(anchor=_signer(url, keys))
    assert report.ok and (report.anchored_seq, report.anchored_at) == (4, second.ts)


def test_append_only_jsonl_file(sqlite_ctx, keys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One JSON line per checkpoint in one file; a write cut short is ignored, never glued onto."""
    path = tmp_path / "anchor" / "checkpoints.jsonl"
    config = _signer(str(path), keys)
    _fill(sqlite_ctx, 2)
    first, [where] = take_checkpoint(sqlite_ctx.engine, config)
    assert where == f"{path}#seq=2"
    with path.open("ab") as handle:  # a crash in the middle of the next append
        handle.write(b'{"alg":"ed25519","count":3,"he')
    _fill(sqlite_ctx, 1)
    second, _ = take_checkpoint(sqlite_ctx.engine, config)
    lines = path.read_text().splitlines()
    assert [json.loads(lines[0])["seq"], json.loads(lines[2])["seq"]] == [2, 3] and len(lines) == 3
    report = sqlite_ctx.audit.verify(anchor=config)
    assert report.ok and report.anchored_seq == 3, report.line()
    assert report.warning.startswith(f"ignored 1 unreadable checkpoint record(s), e.g. {path}:2: not a checkpoint")
    _fill(sqlite_ctx, 1)  # the next checkpoint after the torn line still checks from seq 3
    take_checkpoint(sqlite_ctx.engine, config)
    assert sqlite_ctx.audit.verify(anchor=config).anchored_seq == 4
    with pytest.raises(ConfigError, match="only a local file"):
        AnchorConfig.from_env({"VIGIL_AUDIT_CHECKPOINT_URL": "s3://bucket/checkpoints.jsonl"})


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 204

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received, _Receiver.status = [], 204
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_webhook_receives_the_signed_checkpoint_and_file_sink_too(sqlite_ctx, keys, receiver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _fill(sqlite_ctx, 4)
    config = AnchorConfig.from_env({"VIGIL_AUDIT_CHECKPOINT_URL": f"{tmp_path / 'cp'},{receiver}",
                                    "VIGIL_AUDIT_CHECKPOINT_KEY_FILE": str(keys[0])})
    cp, written = take_checkpoint(sqlite_ctx.engine, config)
    [posted] = _Receiver.received
    assert Checkpoint.from_json(json.dumps(posted)) == cp
    assert len(written) == 2
    _Receiver.status = 500
    with pytest.raises(ServiceUnavailable, match="answered HTTP 500"):
        WebhookSink(receiver).write(cp)
    webhook_only = AnchorConfig.from_env({"VIGIL_AUDIT_CHECKPOINT_URL": receiver,
                                          "VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY_FILE": str(keys[1])})
    report = sqlite_ctx.audit.verify(anchor=webhook_only)
    assert report.ok and "webhook only" in report.warning


# -- the commands --------------------------------------------------------------------------------
@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_CONFIG": str(REPO / "config" / "models.yaml")}
    for key in ("DATABASE_URL", "VIGIL_DEMO", "VIGIL_AUDIT_CHECKPOINT_URL", "VIGIL_AUDIT_CHECKPOINT_KEY",
                "VIGIL_AUDIT_CHECKPOINT_KEY_FILE", "VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY",
                "VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def _last(capsys) -> str:  # type: ignore[no-untyped-def]
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_commands_without_configuration_warn_but_still_check(env, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run_main(checkpoint_cli.main, []) == EXIT_OK
    assert "no audit checkpoint location configured" in capsys.readouterr().out
    assert run_main(audit_cli.main, ["verify", "--quiet"]) == EXIT_OK
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("warning: no audit checkpoint location configured (VIGIL_AUDIT_CHECKPOINT_URL)")
    assert lines[-1].startswith("OK 0 entries head=")


def test_checkpoint_and_verify_commands(env, keys, tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from core.context import AppContext

    where = tmp_path / "anchor"
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_URL", str(where))
    assert run_main(checkpoint_cli.main, []) == EXIT_USAGE  # a location but no key: a clear config error
    assert "VIGIL_AUDIT_CHECKPOINT_KEY_FILE" in capsys.readouterr().err
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_KEY_FILE", str(keys[0]))
    ctx = AppContext.create()
    _grant_job_account(ctx)
    _fill(ctx, 5)
    assert run_main(checkpoint_cli.main, []) == EXIT_OK
    assert _last(capsys).startswith("checkpoint seq 5 head=")
    [done] = ctx.audit.query(action="audit.checkpoint")  # the job is audited (as seq 6)
    assert (done.outcome, done.details["seq"], done.actor) == ("success", 5, "scheduler")

    # an auditor holds only the public key, and may read a copy of the checkpoints
    monkeypatch.delenv("VIGIL_AUDIT_CHECKPOINT_KEY_FILE")
    monkeypatch.delenv("VIGIL_AUDIT_CHECKPOINT_URL")
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY_FILE", str(keys[1]))
    assert run_main(audit_cli.main, ["verify", "--quiet", "--anchor", str(where)]) == EXIT_OK
    last = _last(capsys)
    assert last.startswith("OK 6 entries head=") and last.endswith(f" anchored at seq 5, {done.details['ts']}")

    with ctx.engine.begin() as conn:  # the owner deletes the last three entries (tail deletion)
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 4"))
    assert run_main(audit_cli.main, ["verify", "--quiet", "--anchor", str(where)]) == EXIT_FAILED
    last = _last(capsys)
    assert last.startswith(f"BROKEN at seq 4: checkpoint {where}/") and "4..5 were deleted" in last
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_URL", str(where))
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_KEY_FILE", str(keys[0]))
    assert run_main(checkpoint_cli.main, []) == EXIT_FAILED  # the job refuses to anchor the cut chain
    assert _last(capsys).startswith("BROKEN at seq 4")
    assert len(list(where.iterdir())) == 1
    ctx.engine.dispose()


def test_unknown_checkpoint_location_is_a_configuration_error(env, keys, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_URL", "nosuchscheme://bucket/x")
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY_FILE", str(keys[1]))
    assert run_main(audit_cli.main, ["verify", "--quiet"]) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and err[0].startswith("configuration error: VIGIL_AUDIT_CHECKPOINT_URL: cannot use "
                                                 "nosuchscheme://bucket/x")


def test_unreadable_checkpoint_store_still_prints_the_chain_result(env, keys, tmp_path, monkeypatch,  # type: ignore[no-untyped-def]
                                                                   capsys) -> None:
    def down(self, limit):  # type: ignore[no-untyped-def]
        raise ServiceUnavailable(f"cannot read checkpoints at {self.label}: ConnectionError: timed out")

    monkeypatch.setattr(FsspecSink, "newest", down)
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_URL", str(tmp_path / "cp"))
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_PUBLIC_KEY_FILE", str(keys[1]))
    assert run_main(audit_cli.main, ["verify", "--quiet"]) == EXIT_UNAVAILABLE
    out, err = capsys.readouterr()
    assert out.strip().splitlines()[-1].startswith("OK 0 entries head=")
    assert err.strip().splitlines()[-1] == f"unavailable: cannot read checkpoints at {tmp_path / 'cp'}: " \
                                           "ConnectionError: timed out"


def test_checkpoint_needs_the_permission_and_a_refusal_is_audited(env, keys, tmp_path: Path, monkeypatch,
                                                                  capsys) -> None:  # type: ignore[no-untyped-def]
    """Signing the chain head is an action like any other: a job account without audit.checkpoint
    (here: no grant at all) is refused with exit 4, nothing is written, and the refusal is audited."""
    from core.context import AppContext

    where = tmp_path / "anchor"
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_URL", str(where))
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_KEY_FILE", str(keys[0]))
    ctx = AppContext.create()
    _fill(ctx, 3)
    assert run_main(checkpoint_cli.main, []) == 4
    assert "permission denied" in capsys.readouterr().err
    assert not where.exists() or not any(where.iterdir())
    [refused] = ctx.audit.query(outcome="denied")
    assert (refused.actor, refused.action) == ("scheduler", "audit.checkpoint")
