"""In a real browser: the demo's auditor downloads a signed export from the Audit page, and
`python -m jobs.audit verify-export` accepts it with nothing but the console's public key."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO_ROOT


def test_auditor_downloads_a_signed_export_that_verifies(page, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(server.url)
    page.get_by_role("textbox", name="Username").fill("auditor")
    page.get_by_role("textbox", name="Password").fill("demo-auditor")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.locator("[data-testid='stSidebarNav']").get_by_text("Audit log", exact=True).click()
    expect(page.get_by_role("heading", name="Audit log", exact=True)).to_be_visible()
    page.get_by_text("JSON lines", exact=True).click()
    page.get_by_role("button", name="Export...").click()
    page.get_by_role("dialog").get_by_role("button", name="Export", exact=True).click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download vigil-audit-").click()
    download = info.value
    assert download.suggested_filename.endswith(".jsonl.zip")
    archive = tmp_path / download.suggested_filename
    download.save_as(archive)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "export")
    [exported] = [p for p in (tmp_path / "export").iterdir() if p.suffix == ".jsonl"]

    # the auditor's machine: the public key, no data directory, no database
    public_key = server.data_dir / "keys" / "export-signing.pub.pem"
    env = {"PATH": "/usr/bin:/bin", "VIGIL_DATA_DIR": str(tmp_path / "nowhere"),
           "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/nowhere"}
    command = [sys.executable, "-m", "jobs.audit", "verify-export", str(exported), "--public-key", str(public_key)]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"OK {exported}")
    data = bytearray(exported.read_bytes())
    data[len(data) // 2] ^= 0x01
    exported.write_bytes(bytes(data))
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "file changed" in done.stdout
