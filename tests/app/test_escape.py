"""Markup from logs or users never reaches the page as markup (issue 8 item 9).

Plotly renders <a href>, <b>, <br> ... in trace names, legends, hover text and tick labels;
Streamlit's markdown renders links, HTML-ish emphasis and auto-links bare URLs. Values from the
inference logs (class labels, versions, categories) and from users (display names) must show as
the literal text they are.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pandas as pd
import pytest

from tests.app.conftest import PASSWORD, new_app, sign_in_as
from ui import charts, drift_charts, explain_charts, slo_charts
from ui.escape import WORD_JOINER, md_text, plotly_text, safe_figure

LINK = '<a href="https://evil.example">click me</a>'
BOLD = "<b>x</b>"


def _figure_texts(fig) -> list[str]:  # type: ignore[no-untyped-def]
    """Every string Plotly would draw as text: names, text, categorical x/y, ticks, titles."""
    out: list[str] = []

    def walk(node, key=""):  # type: ignore[no-untyped-def]
        if isinstance(node, dict):
            for k, v in node.items():
                if k not in ("template", "hovertemplate", "texttemplate"):
                    walk(v, k)
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v, key)
        elif hasattr(node, "tolist"):
            walk(node.tolist(), key)
        elif isinstance(node, str):
            out.append(node)

    walk(fig.to_dict())
    return out


def _assert_escaped(fig) -> None:  # type: ignore[no-untyped-def]
    shown = _figure_texts(fig)
    assert not any("<a" in s or "<b>" in s for s in shown), [s for s in shown if "<" in s]
    assert any("&lt;a href" in s for s in shown) and any("&lt;b&gt;x&lt;/b&gt;" in s for s in shown)


def test_class_share_legend_shows_a_link_value_as_text() -> None:
    at = [datetime(2026, 11, 30, h, tzinfo=UTC) for h in range(3)]
    frame = pd.DataFrame({"window_end": at, f"share_of_class_{LINK}": [0.1, 0.2, 0.3],
                          f"share_of_class_{BOLD}": [0.9, 0.8, 0.7]})
    fig = drift_charts.lines(frame, [c for c in frame.columns if c.startswith("share_of_class_")],
                             title="Predicted class shares")
    _assert_escaped(fig)
    assert [t.name for t in fig.data] == [f"share_of_class_{plotly_text(LINK)}", f"share_of_class_{plotly_text(BOLD)}"]


def test_distribution_tick_labels_and_heatmap_rows_escape_category_values() -> None:
    chart = {"kind": "categorical", "categories": [LINK, "plain"], "reference": [0.5, 0.5]}
    fig = drift_charts.distribution(chart, {"current": [0.4, 0.4, 0.2], "extra_categories": [BOLD]}, "country")
    _assert_escaped(fig)
    end = datetime(2026, 11, 30, tzinfo=UTC)
    history = pd.DataFrame({"feature": [LINK, BOLD], "window_end": [end, end], "method": ["psi", "psi"],
                            "statistic": [0.3, 0.01], "feature_severity": ["significant", "none"],
                            "feature_drifted": [True, False]})
    _assert_escaped(drift_charts.heatmap(history))


def test_explain_and_slo_and_health_figures_escape_log_values() -> None:
    fig = explain_charts.importance_chart([{"feature": LINK, "mean_abs": 0.3, "low": 0.2, "high": 0.4},
                                           {"feature": BOLD, "mean_abs": 0.1, "low": 0.05, "high": 0.2}])
    _assert_escaped(fig)
    now = datetime(2026, 11, 30, tzinfo=UTC)
    frame = pd.DataFrame({"at": [now, now, now + timedelta(hours=1)], "version": [LINK, BOLD, BOLD],
                          "error_rate": [0.01, 0.02, 0.03]})
    _assert_escaped(slo_charts.error_figure(frame))
    snaps = [SimpleNamespace(at=now + timedelta(hours=i), score=50.0 + i, level="warning",
                             reasons=lambda: [LINK, BOLD]) for i in range(2)]
    _assert_escaped(charts.health_history_figure(snaps))


def test_safe_figure_leaves_numbers_dates_and_our_templates_alone() -> None:
    import plotly.graph_objects as go

    now = datetime(2026, 11, 30, tzinfo=UTC)
    fig = go.Figure(go.Scatter(x=[now], y=[1.5], name="a & b", hovertemplate="%{x}<br>%{y}<extra></extra>"))
    out = safe_figure(fig)
    assert out.data[0].name == "a &amp; b" and out.data[0].hovertemplate == "%{x}<br>%{y}<extra></extra>"
    assert list(out.data[0].y) == [1.5]


def test_md_text_breaks_auto_links_and_markup() -> None:
    shown = md_text("Eve https://evil.example/x www.evil.example eve@evil.example <b>x</b> [a](b)")
    for raw in ("https://", "www.", "<b>"):
        assert raw not in shown
    assert "@evil" not in shown and re.search(r"(?<!\\)[<>\[\]]", shown) is None
    # what the reader sees: the same characters (the WORD JOINER is invisible)
    assert shown.replace("\\", "").replace(WORD_JOINER, "") == (
        "Eve https://evil.example/x www.evil.example eve@evil.example <b>x</b> [a](b)")


@pytest.mark.usefixtures("vigil_env")
def test_a_display_name_with_a_url_and_markup_is_not_a_link_in_the_sidebar(installation) -> None:  # type: ignore[no-untyped-def]
    from core.actor import Actor
    from governance import identity, rbac

    name = "Mallory https://evil.example/login <b>boss</b> www.evil.example"
    try:
        identity.create_user(installation.ctx, Actor("alice", "cli"), "mallory", PASSWORD, display_name=name)
        rbac.grant(installation.ctx, Actor("alice", "cli"), "mallory", "viewer", "*", reason="escape test")
    except Exception:  # created by an earlier run of this test in the same session
        pass
    at = sign_in_as(new_app(), installation, "mallory").run()
    sidebar = [str(m.value) for m in at.sidebar.markdown]
    mine = [s for s in sidebar if "Mallory" in s]
    assert mine, sidebar
    for raw in ("https://", "www.", "<b>"):
        assert not any(raw in s for s in mine), mine
    assert mine[0].replace("\\", "").replace(WORD_JOINER, "").strip("*") == name
