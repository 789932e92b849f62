"""Chart specifications: plotly figures (as JSON, drawn by the locally served plotly.js) and, for
the customer report that must print without JavaScript, a plain SVG bar chart.

Amounts go to plotly as exact decimal strings: plotly.js reads numeric strings on a linear axis,
so no binary float is made here.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from html import escape
from typing import Any

from ..output import exact

MAX_SERIES = 12  # more stacked series than this are unreadable: the rest is "other"
_FONT = {"family": "system-ui, sans-serif", "size": 12}


def _layout(**extra: Any) -> dict[str, Any]:
    return {"margin": {"l": 60, "r": 20, "t": 10, "b": 40}, "font": _FONT, "hovermode": "x unified",
            "legend": {"orientation": "h", "y": -0.2}, "yaxis": {"title": {"text": "USD"}, "tickformat": ",.0f"},
            "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)"} | extra


def _money(value: Decimal | None) -> str:
    return exact(value if value is not None else Decimal(0))


def stacked(rows: list[dict[str, Any]], series: list[str], x: str = "period") -> dict[str, Any]:
    """Stacked bars of cost per ``x`` (a period), one series per value of the ``series`` dimensions."""
    by_series: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    totals: dict[str, Decimal] = defaultdict(Decimal)
    xs = sorted({str(r[x]) for r in rows})
    for r in rows:
        name = " / ".join(str(r[d]) for d in series) or "total"
        by_series[name][str(r[x])] += r["cost_usd"] or Decimal(0)
        totals[name] += r["cost_usd"] or Decimal(0)
    ranked = sorted(totals, key=lambda n: -totals[n])
    keep, rest = ranked[:MAX_SERIES], ranked[MAX_SERIES:]
    if rest:
        other = by_series["other"]
        for n in rest:
            for k, v in by_series[n].items():
                other[k] += v
        keep.append("other")
    traces = [{"type": "bar", "name": n, "x": xs, "y": [_money(by_series[n].get(d)) for d in xs],
               "hovertemplate": "%{y:$,.2f}"} for n in keep]
    return {"data": traces, "layout": _layout(barmode="stack", height=420,
                                              legend={"orientation": "v", "x": 1.01, "y": 1, "font": {"size": 11}},
                                              margin={"l": 60, "r": 10, "t": 10, "b": 40})}


def bars(rows: list[dict[str, Any]], labels: list[str], limit: int = 25) -> dict[str, Any]:
    """Horizontal bars of cost per group, biggest on top."""
    top = rows[:limit][::-1]
    names = [" / ".join(str(r[d]) for d in labels) or "total" for r in top]
    return {"data": [{"type": "bar", "orientation": "h", "y": names, "x": [_money(r["cost_usd"]) for r in top],
                      "hovertemplate": "%{x:$,.2f}<extra></extra>"}],
            "layout": _layout(hovermode="closest", margin={"l": 220, "r": 20, "t": 10, "b": 40},
                              xaxis={"title": {"text": "USD"}, "tickformat": ",.0f"}, yaxis={"automargin": True},
                              height=max(260, 26 * len(top) + 80))}


def forecast(last: Decimal, actual: Decimal, fc: Decimal, lower: Decimal, upper: Decimal) -> dict[str, Any]:
    """Last month, this month so far, and the month-end forecast with its interval."""
    known = {"type": "bar", "x": ["last month", "month to date"], "y": [_money(last), _money(actual)],
             "name": "actual", "marker": {"color": "#64748b"}, "hovertemplate": "%{y:$,.2f}<extra></extra>"}
    ahead = {"type": "bar", "x": ["forecast"], "y": [_money(fc)], "name": "forecast", "marker": {"color": "#2563eb"},
             "error_y": {"type": "data", "symmetric": False, "array": [_money(upper - fc)],
                         "arrayminus": [_money(fc - lower)]},
             "hovertemplate": "%{y:$,.2f}<extra>forecast</extra>"}
    return {"data": [known, ahead], "layout": _layout(hovermode="closest", height=280, showlegend=False)}


def svg_bars(items: list[tuple[str, Decimal]], color: str, width: int = 640) -> str:
    """A static horizontal bar chart (inline SVG), for pages that print: the customer report."""
    items = [(label, value) for label, value in items if value > 0][:12]
    if not items:
        return ""
    top = max(v for _, v in items)
    row, label_w, value_w = 26, 200, 110
    bar_w = width - label_w - value_w
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row * len(items) + 8}" '
              f'role="img" aria-label="cost by item">')]
    for i, (label, value) in enumerate(items):
        y = i * row + 4
        w = max(1, int(bar_w * (value / top)))
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="12">{escape(label[:32])}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{w}" height="{row - 8}" fill="{escape(color)}" rx="2"/>'
                     f'<text x="{label_w + w + 6}" y="{y + 15}" font-size="12">${value:,.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)
