"""Who sees which page: the navigation and direct page requests, for every role.

Every page is requested by every role; a role either gets the page (its title shows) or does
not (the navigation does not list it, and asking for its address lands on the default page).
"""

from __future__ import annotations

import pytest

from tests.app.conftest import BY_ROLE, nav_titles, new_app, open_url_path, sign_in_as, texts

# API tokens: every role; Releases and Approvals: everyone who views a model (buttons only for those who act)
MODEL_PAGES = {"Overview", "Drift", "SLOs", "Explanations", "Releases", "Approvals", "Inventory", "API tokens"}
EXPECTED_NAV = {
    "viewer": MODEL_PAGES,
    "operator": MODEL_PAGES | {"System"},
    "reviewer": MODEL_PAGES,
    "auditor": MODEL_PAGES | {"Audit log", "Access", "System"},  # Access: the access review only
    "admin": MODEL_PAGES | {"Audit log", "Access", "System"},
}
# page file -> (url path, title the page shows)
PAGES = {
    "pages/overview.py": ("overview", "Overview"),
    "pages/drift.py": ("drift", "Drift"),
    "pages/slos.py": ("slos", "SLOs"),
    "pages/explain.py": ("explain", "Explanations"),
    "pages/approvals.py": ("approvals", "Approvals"),
    "pages/releases.py": ("releases", "Releases"),
    "pages/inventory.py": ("inventory", "Inventory"),
    "pages/audit.py": ("audit", "Audit log"),
    "pages/access.py": ("access", "Access"),
    "pages/system.py": ("system", "System"),
    "pages/tokens.py": ("tokens", "API tokens"),
}
NAV_TITLE = {"pages/explain.py": "Explanations", "pages/audit.py": "Audit log"}


def _titles(at) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.value for t in at.title]


def test_before_sign_in_only_the_sign_in_page_exists(vigil_env) -> None:  # type: ignore[no-untyped-def]
    at = new_app().run()
    assert not at.exception
    assert nav_titles(at) == ["Sign in"]
    assert at.text_input(key="sign_in.username") is not None
    assert "breast-cancer" not in texts(at)
    assert not at.sidebar.button  # no sign-out button, no user box
    for page, (url_path, title) in PAGES.items():
        open_url_path(at, url_path).run()
        assert not at.exception
        assert nav_titles(at) == ["Sign in"], page
        assert title not in _titles(at), page
        assert "breast-cancer" not in texts(at) and "Database" not in texts(at), page


@pytest.mark.parametrize("role", list(EXPECTED_NAV))
def test_navigation_lists_exactly_the_pages_of_the_role(vigil_env, role: str) -> None:  # type: ignore[no-untyped-def]
    at = sign_in_as(new_app(), vigil_env, BY_ROLE[role]).run()
    assert not at.exception
    assert set(nav_titles(at)) == EXPECTED_NAV[role]
    assert _titles(at) == ["Overview"]  # the first page is the landing page
    sidebar = "\n".join(m.value for m in at.sidebar.markdown) + "\n".join(c.value for c in at.sidebar.caption)
    assert role in sidebar  # the user box names the role
    assert at.sidebar.button(key="auth.sign_out").label == "Sign out"


@pytest.mark.parametrize("role", list(EXPECTED_NAV))
@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_for_every_role(vigil_env, role: str, page: str) -> None:  # type: ignore[no-untyped-def]
    url_path, title = PAGES[page]
    at = sign_in_as(new_app(), vigil_env, BY_ROLE[role]).run()
    allowed = title in EXPECTED_NAV[role]
    if allowed:
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert title in _titles(at)
        assert "Please sign in" not in texts(at)
    else:
        with pytest.raises(ValueError):  # the navigation does not offer it...
            at.switch_page(page)
        open_url_path(at, url_path).run()  # ...and typing its address does not open it
        assert not at.exception
        assert title not in _titles(at)
        assert _titles(at) == ["Overview"]


def test_a_user_without_grants_sees_no_page(vigil_env) -> None:  # type: ignore[no-untyped-def]
    at = sign_in_as(new_app(), vigil_env, "nobody").run()
    assert not at.exception
    assert nav_titles(at) == ["No access"]
    assert "no role has been granted" in texts(at)
    for page, (url_path, title) in PAGES.items():
        open_url_path(at, url_path).run()
        assert title not in _titles(at), page
        assert "breast-cancer" not in texts(at), page


def test_a_model_scoped_viewer_sees_only_that_model(vigil_env) -> None:  # type: ignore[no-untyped-def]
    at = sign_in_as(new_app(), vigil_env, "dora").run()
    assert set(nav_titles(at)) == MODEL_PAGES
    shown = texts(at)
    assert "diabetes" in shown
    assert "breast-cancer" not in shown
    assert "1 monitored model" in shown
