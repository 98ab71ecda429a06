"""A self-contained, offline HTML drift and data-quality report (inline SVG, no CDN)."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

PREDICTION_LABEL = "prediction"
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2330}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
td,th{border-bottom:1px solid #eee;padding:.3rem .5rem;text-align:left;font-size:13px}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.6rem;color:#fff;font-weight:600}
.ok{background:#2e7d32}.drift{background:#c62828}.insufficient_data{background:#9e9e9e}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:1rem}
.card{border:1px solid #e3e3e3;border-radius:6px;padding:.6rem}
.legend span{display:inline-block;width:10px;height:10px;margin:0 .3rem 0 .8rem}
"""
_REF, _CUR = "#90a4ae", "#1e88e5"


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}"
    return _esc(value)


def _bars(labels: list[str], ref: list[float], cur: list[float], width: int = 320) -> str:
    """Paired bars (reference vs current share) as an inline SVG."""
    height, pad = 150, 20
    n = max(len(labels), 1)
    top = max([*ref, *cur, 1e-9])
    slot = (width - 2 * pad) / n
    parts = [f'<svg viewBox="0 0 {width} {height + 30}" width="100%" role="img">']
    for i, (r, c) in enumerate(zip(ref, cur, strict=True)):
        x = pad + i * slot
        for j, (value, colour) in enumerate(((r, _REF), (c, _CUR))):
            h = (value / top) * height
            parts.append(
                f'<rect x="{x + j * slot / 2:.1f}" y="{height - h:.1f}" '
                f'width="{max(slot / 2 - 1, 1):.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{_esc(labels[i])}: {value:.3f}</title></rect>"
            )
    if labels:
        parts.append(
            f'<text x="{pad}" y="{height + 16}" font-size="10">{_esc(labels[0])[:14]}</text>'
            f'<text x="{width - pad}" y="{height + 16}" font-size="10" text-anchor="end">'
            f"{_esc(labels[-1])[:14]}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _distribution(ref: pd.Series, cur: pd.Series, numeric: bool) -> str:
    if numeric:
        r = ref.dropna().to_numpy(dtype=float)
        c = cur.dropna().to_numpy(dtype=float)
        both = np.concatenate([r, c]) if len(r) + len(c) else np.array([0.0])
        edges = np.histogram_bin_edges(both, bins=20)
        rh = np.histogram(r, bins=edges)[0] / max(len(r), 1)
        ch = np.histogram(c, bins=edges)[0] / max(len(c), 1)
        labels = [f"{e:.3g}" for e in edges[:-1]]
        return _bars(labels, rh.tolist(), ch.tolist())
    rs = ref.astype(str).value_counts(normalize=True)
    cs = cur.astype(str).value_counts(normalize=True)
    cats = list(dict.fromkeys([*rs.index[:15], *cs.index[:15]]))[:20]
    return _bars(cats, [float(rs.get(k, 0.0)) for k in cats], [float(cs.get(k, 0.0)) for k in cats])


def render_drift_report(
    report: dict[str, Any],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    title: str,
    prediction_column: str,
) -> str:
    """HTML for a drift report dict (``DriftReport.to_dict()`` plus endpoint metadata)."""
    status = str(report.get("status", "unknown"))
    rows = []
    cards = []
    for col in report.get("columns", []):
        name = col["column"]
        shown = PREDICTION_LABEL if name == prediction_column else name
        effect = col.get("wasserstein_normalized")
        if effect is None:
            effect = col.get("js_distance")
        rows.append(
            f"<tr><td>{_esc(shown)}</td><td>{_esc(col.get('kind'))}</td>"
            f"<td>{_esc(col.get('test'))}</td><td>{_fmt(col.get('p_value_adjusted'))}</td>"
            f"<td>{_fmt(effect)}</td><td>{_fmt(col.get('psi'))}</td>"
            f"<td>{_fmt(col.get('weight'))}</td>"
            f"<td><span class='badge {_esc(col.get('status'))}'>{_esc(col.get('status'))}"
            "</span></td></tr>"
        )
        if name in reference.columns and name in current.columns:
            numeric = col.get("kind") == "numeric"
            cards.append(
                f"<div class='card'><b>{_esc(shown)}</b> "
                f"<span class='badge {_esc(col.get('status'))}'>{_esc(col.get('status'))}</span>"
                f"{_distribution(reference[name], current[name], numeric)}</div>"
            )
    quality = report.get("quality") or {}
    quality_rows = "".join(
        f"<tr><td>{_esc(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in _flatten(quality).items()
    )
    drivers = ", ".join(
        PREDICTION_LABEL if d == prediction_column else str(d) for d in report.get("drivers", [])
    )
    reasons = "".join(f"<li>{_esc(r)}</li>" for r in report.get("reasons", []))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}</style></head><body>
<h1>{_esc(title)}</h1>
<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC}.
Verdict: <span class="badge {_esc(status)}">{_esc(status)}</span>
&nbsp; rows in window: {len(current)} &nbsp; reference rows: {len(reference)}</p>
<p>Drivers: {_esc(drivers) or "none"}. Multivariate (domain classifier) AUC:
{_fmt(report.get("multivariate_auc"))}.</p>
<ul>{reasons}</ul>
<h2>Per-column drift</h2>
<p>A column drifts only when its test is significant after Benjamini-Hochberg correction
<em>and</em> its effect size passes the threshold (normalised Wasserstein or PSI for
numbers, Jensen-Shannon distance for categories). Weight is the column's share of the
model's sensitivity.</p>
<table><tr><th>column</th><th>kind</th><th>test</th><th>adjusted p</th><th>effect</th>
<th>PSI</th><th>weight</th><th>verdict</th></tr>{"".join(rows)}</table>
<h2>Distributions</h2>
<p class="legend"><span style="background:{_REF}"></span>reference
<span style="background:{_CUR}"></span>current window</p>
<div class="grid">{"".join(cards)}</div>
<h2>Data quality in the window</h2>
<table>{quality_rows}</table>
</body></html>"""


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``a.b.c: value`` rows."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}
