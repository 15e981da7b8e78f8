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

_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|<>~$@])")
# what GitHub-flavoured markdown turns into links by itself: scheme://..., www. and e-mail
# addresses (the '@' is escaped above); an escape inside the sequence breaks the link
_AUTOLINK_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*):(?=//)")
_AUTOLINK_WWW = re.compile(r"(?i)\b(www)\.")

# Plotly attributes that carry displayed text (traces and layout objects alike).
_TEXT_KEYS = frozenset({"name", "text", "hovertext", "x", "y", "labels", "ticktext", "categoryarray"})


def md_text(value: object) -> str:
    """``value`` as literal text inside markdown: secrets masked, metacharacters escaped,
    auto-links broken (``https\\://``, ``www\\.``, ``\\@``) and newlines turned into spaces."""
    text = _MD_SPECIAL.sub(r"\\\1", redact_text(str(value)))
    text = _AUTOLINK_WWW.sub(r"\1\\.", _AUTOLINK_SCHEME.sub(r"\1\\:", text))
    return text.replace("\r", " ").replace("\n", " ")


def plotly_text(value: object) -> str:
    """One value as literal text in a Plotly label: ``<``, ``>`` and ``&`` as HTML entities."""
    return html.escape(str(value), quote=False)


def _escape_values(value: Any) -> Any:
    if isinstance(value, str):
        return plotly_text(value)
    if isinstance(value, (list, tuple)):
        return [_escape_values(v) for v in value]
    if hasattr(value, "dtype") and hasattr(value, "tolist"):  # numpy arrays
        if value.dtype.kind in "OUS":
            return [_escape_values(v) for v in value.tolist()]
        return value
    return value


def _walk(node: Any) -> Any:
    if isinstance(node, Mapping):
        out = {}
        for key, value in node.items():
            if key == "template":
                out[key] = value  # Plotly's own theme: no data text
            elif key in _TEXT_KEYS:
                out[key] = _walk(value) if isinstance(value, Mapping) else _escape_values(value)
            else:
                out[key] = _walk(value)
        return out
    if isinstance(node, (list, tuple)):
        return [_walk(v) for v in node]
    return node


def safe_figure(fig: Any) -> Any:
    """A copy of the Plotly figure ``fig`` with every displayed text field escaped (trace
    names, text, hover text, categorical x/y values, tick texts, titles, annotations)."""
    import plotly.graph_objects as go

    return go.Figure(_walk(fig.to_dict()))
