"""A real S3-compatible HTTP server on 127.0.0.1 for integration tests (moto in server mode).

``s3_server`` (session scope) starts ``python -m moto.server`` as a subprocess on a free port,
waits until it answers and yields an :class:`S3Server`: its endpoint and the environment a
client needs (AWS_ENDPOINT_URL, dummy credentials, a region). ``s3_env`` (function scope) puts
that environment into ``os.environ`` for the test and creates a fresh bucket, yielding
``s3://<bucket>``. A server that does not come up skips the test (``CI`` unset) or fails it
(``CI=true``), as :func:`tests.conftest.server_missing` does.

Use it with ``from tests.s3_server import s3_env, s3_server  # noqa: F401  (fixtures)``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.mlflow_server import free_port

STARTUP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    log: Path

    @property
    def env(self) -> dict[str, str]:
        """What an S3 client (boto3, s3fs) needs to talk to this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self):  # type: ignore[no-untyped-def]
        """A boto3 S3 client for this server (an independent reader for assertions)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1")

    def keys(self, bucket: str) -> list[str]:
        """Every object key in ``bucket``."""
        keys: list[str] = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    from tests.conftest import server_missing

    root = tmp_path_factory.mktemp("s3-server")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path = root / "server.log"
    try:
        import moto.server  # noqa: F401  (the server's own package must be installed)
    except ImportError as exc:
        server_missing(f"moto (S3-compatible server) ({exc})")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ),
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _answers(endpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                server_missing(f"the S3-compatible server (moto) at {endpoint}: {tail}")
            time.sleep(0.2)
        yield S3Server(endpoint, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``s3://<fresh bucket>`` with the server's client environment set for the test."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    bucket = f"vigil-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=bucket)
    yield f"s3://{bucket}"
