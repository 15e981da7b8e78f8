"""End to end in a real browser: each demo role signs in and sees the Overview with the models."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

ROLES = ("viewer", "operator", "reviewer", "auditor", "admin")
SCREENSHOT = REPO_ROOT / "docs" / "screenshot.png"


def _sign_in(page, server, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(server.url)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _main_text(page) -> str:  # type: ignore[no-untyped-def]
    return page.locator("section.stMain, [data-testid='stMain']").first.inner_text()


@pytest.mark.parametrize("role", ROLES)
def test_each_demo_role_signs_in_and_sees_the_overview(page, server, role: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    _sign_in(page, server, role, f"demo-{role}")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    main = page.locator("[data-testid='stMain']")
    # the models' own sections (the first text match may be a grid cell the canvas table hides)
    expect(main.get_by_role("heading", name="breast-cancer")).to_be_visible()
    expect(main.get_by_role("heading", name="diabetes")).to_be_visible()
    sidebar = page.locator("[data-testid='stSidebar']")
    expect(sidebar.get_by_text(f"Roles: {role}")).to_be_visible()
    # the navigation offers the role's pages only
    nav = page.locator("[data-testid='stSidebarNav']")
    expect(nav.get_by_text("Overview")).to_be_visible()
    if role in ("admin", "auditor"):  # the auditor for the access review
        expect(nav.get_by_text("Access", exact=True)).to_be_visible()
    else:
        expect(nav.get_by_text("Access", exact=True)).to_have_count(0)
    if role == "viewer":
        expect(nav.get_by_text("System", exact=True)).to_have_count(0)
        expect(nav.get_by_text("Audit log", exact=True)).to_have_count(0)


def test_wrong_password_shows_the_generic_message(page, server) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    _sign_in(page, server, "auditor", "not-the-password")
    expect(page.get_by_text("Invalid username or password.")).to_be_visible()
    _sign_in(page, server, "nobody-here", "not-the-password")
    expect(page.get_by_text("Invalid username or password.")).to_be_visible()
    expect(page.get_by_role("heading", name="Overview")).to_have_count(0)


def test_sign_out_returns_to_the_sign_in_page(page, server) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    _sign_in(page, server, "operator", "demo-operator")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("textbox", name="Username")).to_be_visible()
    expect(page.get_by_role("heading", name="Overview")).to_have_count(0)


def _session_cookie(page):  # type: ignore[no-untyped-def]
    return next((c for c in page.context.cookies() if c["name"] == "vigil_session"), None)


def _wait_for_cookie(page, present: bool) -> None:  # type: ignore[no-untyped-def]
    for _ in range(100):
        if (_session_cookie(page) is not None) == present:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"session cookie {'never set' if present else 'not cleared'}")


def test_a_reload_keeps_the_session_and_sign_out_ends_it(page, server) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    _sign_in(page, server, "viewer", "demo-viewer")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    _wait_for_cookie(page, present=True)
    cookie = _session_cookie(page)
    assert cookie["sameSite"] == "Strict" and cookie["httpOnly"] is True  # set by the server
    assert "vigil_session" not in page.evaluate("document.cookie")  # no script in the page can read it
    page.reload()  # a new browser connection: signed in from the cookie, validated by the server
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("[data-testid='stSidebar']").get_by_text("Roles: viewer")).to_be_visible()
    assert "vigil_session" not in page.evaluate("document.cookie")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("textbox", name="Username")).to_be_visible()
    _wait_for_cookie(page, present=False)
    page.reload()
    expect(page.get_by_role("textbox", name="Username")).to_be_visible()
    expect(page.get_by_role("heading", name="Overview")).to_have_count(0)


def test_a_revoked_session_cookie_signs_nobody_in(page, server) -> None:  # type: ignore[no-untyped-def]
    """A cookie whose session the server no longer knows (revoked, expired, forged) is refused."""
    from playwright.sync_api import expect

    page.goto(server.url)
    expect(page.get_by_role("textbox", name="Username")).to_be_visible()
    page.context.add_cookies([{"name": "vigil_session", "value": "x" * 43, "url": server.url}])
    page.reload()
    expect(page.get_by_text("Your session has ended. Please sign in again.")).to_be_visible()
    expect(page.get_by_role("heading", name="Overview")).to_have_count(0)
    _wait_for_cookie(page, present=False)


def test_overview_screenshot_as_admin(page, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Screenshot of the Overview (1400x900). VIGIL_UPDATE_SCREENSHOT=1 stores it as the README's, but
    only over a built demo (VIGIL_E2E_FULL_DEMO=1 or VIGIL_E2E_DATA_DIR): the default fixture has
    accounts but no models, and its Overview would replace the README's picture with warnings."""
    from playwright.sync_api import expect

    _sign_in(page, server, "admin", "demo-admin")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_role("heading", name="Latest job runs")).to_be_visible(timeout=90_000)
    expect(page.get_by_test_id("stMetricValue").first).to_be_visible(timeout=90_000)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=90_000)  # run finished
    page.wait_for_timeout(3000)  # let the tables finish drawing
    shot = tmp_path / "overview.png"
    page.screenshot(path=str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1400, 900)
    demo_built = os.environ.get("VIGIL_E2E_FULL_DEMO") or os.environ.get("VIGIL_E2E_DATA_DIR")
    if os.environ.get("VIGIL_UPDATE_SCREENSHOT") and demo_built:
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
