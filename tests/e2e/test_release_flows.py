"""End to end in a real browser, on the full demo: the three release flows of issue 10.

a) Two reviewers and the security approver take the demo's open breast-cancer request to
   promotion (the first reviewer cannot approve twice: the page offers no button and says why);
   the Releases page then shows its version as champion.
b) An operator rolls the champion back with a reason on the Releases page: the previous
   champion is back and the reason is shown with the move.
c) An operator asks for a retrain on the Releases page; ``python -m jobs.worker --once`` runs it
   beside the server; the page (refreshing itself while the job is queued) shows it succeeded
   with the version it registered and the release request it opened, which waits on the
   Approvals page.

The flows share one demo (``python -m jobs.demo``, a few minutes, built once for this module
whatever VIGIL_E2E_FULL_DEMO says) and run in this order: each starts where the last one left
the demo. VIGIL_E2E_RELEASE_TEMPLATE=<dir> copies a full demo data directory built beforehand
instead (faster when re-running; the template itself is never changed).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import Server, running_server, server_env

pytestmark = pytest.mark.slow  # builds the whole demo (e2e is applied by tests/conftest.py)
MODEL, REGISTERED = "breast-cancer", "breast-cancer-mlp"
TIMEOUT_MS = 60_000  # a page run on two shared cores can take a while


@dataclass
class Demo:
    server: Server
    ctx: object  # core.context.AppContext on the demo's database and registry
    request_id: int  # the demo's open breast-cancer release request
    version: str  # its version
    champion: str  # the champion when the demo was built


def _open_request(ctx):  # type: ignore[no-untyped-def]
    from governance import releases

    [view] = releases.list_requests(ctx, viewer="admin", model=MODEL, state="open")
    return view


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    from playwright.sync_api import expect

    from core.context import AppContext
    from core.settings import Settings
    from governance.registry import ModelRegistry

    data_dir = tmp_path_factory.mktemp("vigil-release-flows") / "data"
    env = server_env(data_dir)
    template = os.environ.get("VIGIL_E2E_RELEASE_TEMPLATE")
    if template:
        shutil.copytree(template, data_dir, ignore=shutil.ignore_patterns("*.lock", "streamlit.log"))
    else:
        subprocess.run([sys.executable, "-m", "jobs.demo"], cwd=REPO_ROOT, env=env, check=True, timeout=1800)
    ctx = AppContext.create(Settings.from_env(env))
    request = _open_request(ctx)
    champion = ModelRegistry(ctx.settings.mlflow_tracking_uri).aliases(REGISTERED)["champion"]
    expect.set_options(timeout=TIMEOUT_MS)
    try:
        with running_server(data_dir, env) as server:
            yield Demo(server, ctx, request.id, request.version, champion)
    finally:
        ctx.engine.dispose()  # type: ignore[attr-defined]


@pytest.fixture
def as_user(browser, demo: Demo) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """Sign a demo account in, each in a browser context of its own: ``as_user("reviewer")``."""
    from playwright.sync_api import expect

    contexts = []

    def sign_in(username: str):  # type: ignore[no-untyped-def]
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(demo.server.url)
        page.get_by_role("textbox", name="Username").fill(username)
        page.get_by_role("textbox", name="Password").fill(f"demo-{username}")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        return page

    yield sign_in
    for context in contexts:
        context.close()


def _go(page, title: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()


def _main(page):  # type: ignore[no-untyped-def]
    return page.locator("[data-testid='stMain']")


def _approve(page, demo: Demo, comment: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    _go(page, "Approvals")
    expect(_main(page).get_by_text(f"#{demo.request_id} {MODEL} version {demo.version}: open")).to_be_visible()
    page.get_by_role("button", name="Approve...").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Comment (optional)").fill(comment)
    dialog.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_role("dialog")).to_have_count(0)


def _champion(demo: Demo) -> str:
    from governance.registry import ModelRegistry

    return ModelRegistry(demo.ctx.settings.mlflow_tracking_uri).aliases(REGISTERED)["champion"]  # type: ignore[attr-defined]


def test_a_two_reviewers_and_security_approve_the_open_request_to_champion(demo: Demo, as_user) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from governance import releases

    rid, version = demo.request_id, demo.version
    reviewer = as_user("reviewer")
    _approve(reviewer, demo, "metrics beat the champion")
    expect(reviewer.get_by_text(f"Approved release request #{rid} ({MODEL} version {version}); it is now open, "
                                "waiting for stage review (1/2 reviewer approvals).")).to_be_visible()
    # the same reviewer again: the page offers no button and says why
    expect(reviewer.get_by_role("button", name="Approve...")).to_have_count(0)
    expect(reviewer.get_by_text(f"You cannot decide this request: reviewer already decided stage 'review' of "
                                f"release request {rid}; one person takes one decision per request")).to_be_visible()

    reviewer2 = as_user("reviewer2")
    _approve(reviewer2, demo, "second pair of eyes: fine")
    expect(reviewer2.get_by_text(f"Approved release request #{rid} ({MODEL} version {version}); it is now open, "
                                 "waiting for stage security (0/1 security approvals).")).to_be_visible()

    security = as_user("security")
    _approve(security, demo, "no security concern")
    expect(security.get_by_text(f"Approved release request #{rid} ({MODEL} version {version}); "
                                "it is now promoted.")).to_be_visible()
    assert releases.show_request(demo.ctx, None, rid).state == "promoted"
    assert _champion(demo) == version

    _go(security, "Releases")
    main = _main(security)
    expect(main.get_by_text(f"Champion of {REGISTERED}: version {version} ")).to_be_visible()
    expect(main.get_by_text(re.compile(rf"promoted from version {demo.champion} to {version} by security: "
                                       rf"release request {rid}$"))).to_be_visible()


def test_b_an_operator_rolls_back_with_a_reason(demo: Demo, as_user) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    newer, older = demo.version, demo.champion  # flow a made newer the champion, older the previous one
    assert _champion(demo) == newer, "flow a did not leave its version as champion"
    reason = "p99 latency spike since version <b>4</b> went live"
    operator = as_user("operator")
    _go(operator, "Releases")
    main = _main(operator)
    expect(main.get_by_text(f"Champion of {REGISTERED}: version {newer} ")).to_be_visible()
    operator.get_by_role("button", name="Rollback...").click()
    dialog = operator.get_by_role("dialog")
    expect(dialog.get_by_role("combobox", name="Target version")).to_have_value(  # the default target
        re.compile(rf"^version {older} \(previous champion\): accuracy "))
    dialog.get_by_label("Reason (required)").fill(reason)
    dialog.get_by_role("button", name="Roll back", exact=True).click()
    expect(operator.get_by_role("dialog")).to_have_count(0)
    expect(main.get_by_text(f"Rolled back {MODEL}: champion {newer} → {older}")).to_be_visible()
    expect(main.get_by_text(f"Champion of {REGISTERED}: version {older} ")).to_be_visible()
    expect(main.get_by_text(f"rolled back from version {newer} to {older} by operator: {reason}")).to_be_visible()
    assert _champion(demo) == older
    entry = demo.ctx.audit.query(action="model.rollback", actor="operator")[-1]  # type: ignore[attr-defined]
    assert (entry.outcome, entry.details["old_version"], entry.details["new_version"], entry.details["reason"]) \
        == ("success", newer, older, reason)


def test_c_an_operators_retrain_runs_through_the_worker_and_opens_the_next_request(demo: Demo, as_user) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from governance import releases, retrain

    operator = as_user("operator")
    _go(operator, "Releases")
    operator.get_by_role("button", name="Retrain...").click()
    dialog = operator.get_by_role("dialog")
    dialog.get_by_label("Reason").fill("new labelled data this week")
    dialog.get_by_role("button", name="Queue retrain").click()
    expect(operator.get_by_role("dialog")).to_have_count(0)
    [job] = [j for j in retrain.list_retrains(demo.ctx, viewer="operator", model=MODEL) if j.state == "queued"]
    main = _main(operator)
    expect(main.get_by_text(f"Retrain {job.id} of {MODEL} queued")).to_be_visible()
    expect(main.get_by_text(re.compile(rf"^Retrain {job.id} is queued since "))).to_be_visible()

    worker = subprocess.run([sys.executable, "-m", "jobs.worker", "--once"], cwd=REPO_ROOT, env=demo.server.env,
                            capture_output=True, text=True, timeout=900)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    done = retrain.show_retrain(demo.ctx, None, job.id)
    assert (done.state, done.exit_code) == ("succeeded", 0) and done.produced_version and done.release_request_id
    # the page refreshes itself while the job is active: no reload needed
    expect(main.get_by_text(f"Retrain {job.id} succeeded at ", exact=False)).to_be_visible()
    expect(main.get_by_text(re.compile(rf"it registered version {done.produced_version} and release request "
                                       rf"#{done.release_request_id} opened for it"))).to_be_visible()
    operator.get_by_role("button", name="Retrain...").wait_for()  # the whole page is back, not only the list
    opened = releases.show_request(demo.ctx, None, done.release_request_id)
    assert (opened.state, opened.version) == ("open", done.produced_version)

    reviewer = as_user("reviewer")
    _go(reviewer, "Approvals")
    expect(_main(reviewer).get_by_text(f"#{opened.id} {MODEL} version {opened.version}: open")).to_be_visible()
    expect(reviewer.get_by_role("button", name="Approve...")).to_be_visible()
