"""The SHAP report: a JSON document and a self-contained HTML page (inline SVG, no scripts).

Inline SVG keeps the page small (tens of kB, where an inlined plotly bundle is ~3.5 MB) and
viewable offline, e.g. attached to a release approval. The JSON is the machine-readable twin;
both are archived in the artifact store (kind ``shap``) under their SHA-256.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

from monitoring.explain.importance import BeeswarmFeature, ImportanceResult

REPORT_FORMAT = "vigil.shap-report/1"


@dataclass(frozen=True)
class ReportContent:
    """Everything a report says, as plain values (built by the service from a run)."""

    model: str
    version: str
    registered_model: str
    created_at: str
    window: str
    window_start: str | None
    window_end: str | None
    sample_source: str  # window | reference
    explainer: str
    device: str
    background_rows: int
    explained_rows: int
    seed: int
    runtime_s: float
    additivity_max_error: float
    additivity_tolerance: float
    base_value: float
    importance: ImportanceResult
    beeswarm: tuple[BeeswarmFeature, ...]
    attribution: dict[str, Any] | None  # AttributionDrift.to_json_dict() or None
    notes: tuple[str, ...]


def to_json_bytes(content: ReportContent) -> bytes:
    doc = {
        "format": REPORT_FORMAT,
        "model": content.model,
        "version": content.version,
        "registered_model": content.registered_model,
        "created_at": content.created_at,
        "window": {"name": content.window, "start": content.window_start, "end": content.window_end},
        "sample_source": content.sample_source,
        "explainer": content.explainer,
        "device": content.device,
        "samples": {
            "background": content.background_rows,
            "explained": content.explained_rows,
            "seed": content.seed,
        },
        "runtime_s": round(content.runtime_s, 4),
        "additivity": {
            "max_error": content.additivity_max_error,
            "tolerance": content.additivity_tolerance,
            "ok": content.additivity_max_error <= content.additivity_tolerance,
        },
        "base_value": content.base_value,
        "importance": content.importance.to_json_dict(),
        "top_features": list(content.importance.top(5)),
        "beeswarm": [
            {"feature": b.feature, "shap": list(b.shap_values), "value": list(b.scaled_values)}
            for b in content.beeswarm
        ],
        "attribution_drift": content.attribution,
        "notes": list(content.notes),
    }
    return json.dumps(doc, indent=1, sort_keys=True).encode("utf-8")


# ----------------------------------------------------------------------------- HTML / SVG
_W = 760
_LABEL = 210
_ROW = 22


def _importance_svg(importance: ImportanceResult, limit: int = 20) -> str:
    feats = importance.features[:limit]
    top = max((f.high for f in feats), default=0.0) or 1.0
    plot = _W - _LABEL - 90
    height = _ROW * len(feats) + 30
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" role="img" '
            f'aria-label="Global importance">'
        )
    ]
    for i, f in enumerate(feats):
        y = 10 + i * _ROW
        width = plot * f.mean_abs / top
        lo, hi = _LABEL + plot * f.low / top, _LABEL + plot * f.high / top
        parts.append(
            f'<text x="{_LABEL - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"{html.escape(f.feature)}</text>"
        )
        parts.append(
            f'<rect x="{_LABEL}" y="{y + 3}" width="{width:.1f}" height="{_ROW - 8}" fill="#1f77b4">'
            f"<title>{html.escape(f.feature)}: {f.mean_abs:.4g} [{f.low:.4g}, {f.high:.4g}]</title></rect>"
        )
        parts.append(
            f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{y + 10}" y2="{y + 10}" stroke="#222" '
            f'stroke-width="1.5"/>'
        )
        parts.append(
            f'<text x="{_LABEL + plot + 6 if hi < _LABEL + plot else hi + 4:.1f}" y="{y + 14}" '
            f'font-size="11" fill="#555">{f.mean_abs:.3g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _colour(scaled: float | None) -> str:
    if scaled is None:
        return "#999999"
    r = int(30 + 225 * scaled)
    b = int(255 - 225 * scaled)
    return f"#{r:02x}40{b:02x}"


def _beeswarm_svg(beeswarm: tuple[BeeswarmFeature, ...], limit: int = 15) -> str:
    rows = beeswarm[:limit]
    extent = max((abs(v) for b in rows for v in b.shap_values), default=0.0) or 1.0
    plot = _W - _LABEL - 20
    mid = _LABEL + plot / 2
    height = _ROW * len(rows) + 40
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" role="img" '
            f'aria-label="SHAP value distribution">'
        ),
        f'<line x1="{mid:.1f}" x2="{mid:.1f}" y1="5" y2="{height - 25}" stroke="#bbb"/>',
    ]
    for i, b in enumerate(rows):
        y = 10 + i * _ROW
        parts.append(
            f'<text x="{_LABEL - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"{html.escape(b.feature)}</text>"
        )
        for k, (v, s) in enumerate(zip(b.shap_values, b.scaled_values, strict=True)):
            jitter = ((k * 7919) % 13 - 6) * 0.9
            x = mid + (plot / 2 - 4) * v / extent
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y + 10 + jitter:.1f}" r="2" fill="{_colour(s)}" '
                f'fill-opacity="0.7"/>'
            )
    parts.append(
        f'<text x="{mid:.1f}" y="{height - 8}" text-anchor="middle" font-size="11" fill="#555">'
        f"SHAP value (impact on output; colour: low feature value blue, high red)</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def to_html_bytes(content: ReportContent) -> bytes:
    e = html.escape
    ok = content.additivity_max_error <= content.additivity_tolerance
    attribution = ""
    if content.attribution is not None:
        a = content.attribution
        rows = "".join(
            f"<tr><td>{e(c['feature'])}</td><td>{c['reference_rank']}</td><td>{c['current_rank']}</td>"
            f"<td>{c['reference_share']:.3f}</td><td>{c['current_share']:.3f}</td></tr>"
            for c in a["changes"][:10]
        )
        attribution = (
            f"<h2>Attribution drift</h2><p>Distance {a['distance']:.3f} (threshold {a['threshold']:.3f}): "
            f"<b>{'drifted' if a['drifted'] else 'no attribution drift'}</b></p>"
            "<table><tr><th>feature</th><th>reference rank</th><th>window rank</th>"
            f"<th>reference share</th><th>window share</th></tr>{rows}</table>"
        )
    table = "".join(
        f"<tr><td>{f.rank}</td><td>{e(f.feature)}</td><td>{f.mean_abs:.4g}</td>"
        f"<td>[{f.low:.4g}, {f.high:.4g}]</td><td>{f.share:.3f}</td><td>{f.mean:+.4g}</td></tr>"
        for f in content.importance.features
    )
    notes = "".join(f"<li>{e(n)}</li>" for n in content.notes)
    window = (
        f"{e(content.window)} ({e(content.window_start or '?')} to {e(content.window_end or '?')})"
        if content.sample_source == "window"
        else f"{e(content.window)}: no logged rows, explained a reference sample instead"
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>SHAP report: {e(content.model)} v{e(content.version)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ddd;padding:2px 8px;font-size:13px}}
th{{background:#f4f4f4}}.bad{{color:#b00}}.good{{color:#070}}</style></head>
<body>
<h1>SHAP report: {e(content.model)} version {e(content.version)}</h1>
<p>Registered model {e(content.registered_model)}; created {e(content.created_at)}.</p>
<table>
<tr><th>explainer</th><td>{e(content.explainer)} on {e(content.device)}</td></tr>
<tr><th>explained rows</th><td>{content.explained_rows} from {window}</td></tr>
<tr><th>background rows</th><td>{content.background_rows} from the reference (seed {content.seed})</td></tr>
<tr><th>runtime</th><td>{content.runtime_s:.2f} s</td></tr>
<tr><th>base value</th><td>{content.base_value:.6g}</td></tr>
<tr><th>additivity</th><td class="{"good" if ok else "bad"}">max |sum(SHAP) + base - output| =
{content.additivity_max_error:.3g} (tolerance {content.additivity_tolerance:.3g}): {"holds" if ok else "FAILS"}</td></tr>
</table>
<h2>Global importance (mean |SHAP|, {int(content.importance.confidence * 100)}% bootstrap interval)</h2>
{_importance_svg(content.importance)}
<h2>Distribution of SHAP values</h2>
{_beeswarm_svg(content.beeswarm)}
{attribution}
<h2>All features</h2>
<table><tr><th>rank</th><th>feature</th><th>mean |SHAP|</th><th>interval</th><th>share</th><th>mean SHAP</th></tr>
{table}</table>
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
</body></html>
"""
    return page.encode("utf-8")
