"""Escaping of log- and user-supplied text before it reaches the page: the one place for it.

Two renderers interpret text:

- **Plotly** renders a subset of HTML (``<a href>``, ``<b>``, ``<i>``, ``<br>``, ``<span
  style>``, ``<sub>``/``<sup>``) in trace names, legends, hover text, tick labels, titles and
  annotations. :func:`plotly_text` escapes one value (``html.escape``; Plotly turns the
  entities back into the literal characters when it draws), and :func:`safe_figure` escapes
  every such text field of a finished figure, so each chart builder ends with
  ``return safe_figure(fig)`` and no category value from the logs becomes markup.
  Templates (``hovertemplate``, ``texttemplate``) are ours and are left alone.
- **Markdown** (``st.markdown``, ``st.caption``, ``st.info``..., expander labels):
  :func:`md_text` escapes the metacharacters and breaks GitHub-style auto-linking of
  ``https://...``, ``www.`` and e-mail addresses, and masks secrets (core.redact) first, so
  an error message that names a URL shows it without its credentials.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from core.redact import redact_text

_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|<>~$])")
# GitHub-flavoured markdown turns "scheme://...", "www." and e-mail addresses into links by
# itself, on the parsed text: a backslash escape does not stop it (checked in Chromium), an
# invisible WORD JOINER inside the sequence does.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9])(:)(?=//)|\b(www)(?=\.)|(@)")

# Plotly attributes that carry displayed text (traces and layout objects alike).
_TEXT_KEYS = frozenset({"name", "text", "hovertext", "x", "y", "labels", "ticktext", "categoryarray"})


def md_text(value: object) -> str:
    """``value`` as literal text inside markdown: secrets masked, metacharacters escaped,
    auto-links broken (a WORD JOINER after ``scheme:``, ``www`` and ``@``) and newlines turned
    into spaces."""
    text = _MD_SPECIAL.sub(r"\\\1", redact_text(str(value)))
    text = _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, text)
    return text.replace("\r", " ").replace("\n", " ")


def plotly_text(value: object) -> str:
    """One value as literal text in a Plotly label: ``<``, ``>`` and ``&`` as HTML entities."""
    return html.escape(str(value), quote=False)


_OURS = frozenset({"template", "hovertemplate", "texttemplate"})  # Plotly's theme and our templates


def _escaped(value: Any) -> Any:
    """``value`` (a string or an array of values) escaped, or None when nothing changes."""
    if isinstance(value, str):
        escaped = plotly_text(value)
        return escaped if escaped != value else None
    if hasattr(value, "dtype") and hasattr(value, "tolist"):  # numpy arrays: only text ones
        if value.dtype.kind not in "OUS":
            return None
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        items = [plotly_text(v) if isinstance(v, str) else v for v in value]
        return items if any(a != b for a, b in zip(items, value, strict=True) if isinstance(b, str)) else None
    return None


def _merge(base: dict[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in change.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), dict) \
            else value
    return out


def _changes(node: Mapping[str, Any]) -> dict[str, Any] | None:
    """Only the text fields of a Plotly object (as ``to_plotly_json``) that need escaping."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _OURS:
            continue
        change: Any = None
        if isinstance(value, Mapping):
            change = _changes(value)
        elif key in _TEXT_KEYS:
            change = _escaped(value)
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Mapping) for v in value):
            parts = [_changes(v) for v in value]  # annotations, shapes, ...: the list is replaced whole
            if any(parts):
                change = [_merge(dict(v), p) if p else dict(v) for v, p in zip(value, parts, strict=True)]
        if change is not None:
            out[key] = change
    return out or None


def safe_figure(fig: Any) -> Any:
    """The Plotly figure ``fig`` with every displayed text field escaped in place (trace names,
    text, hover text, categorical x/y values, tick texts, titles, annotations); returns it.

    Only fields that change are written back, so a figure without markup costs a scan only."""
    for trace in fig.data:
        change = _changes(trace.to_plotly_json())
        if change:
            trace.update(change)
    change = _changes(fig.layout.to_plotly_json())
    if change:
        fig.update_layout(change)
    return fig
