"""A report's rows as the merchant asked for them: a text table, CSV, an Excel workbook, or one
self-contained HTML page with its charts drawn as inline SVG (no script, no font, no request
to anywhere: the page opens the same on a closed network and prints)."""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass
from typing import Any, Sequence

from .reports import Column, Report


@dataclass(frozen=True)
class Result:
    report: Report
    tenant: str
    day_from: str
    day_to: str
    store: str | None
    names: list[str]
    rows: list[tuple[Any, ...]]

    @property
    def columns(self) -> list[Column]:
        known = {c.name: c for c in self.report.columns}
        return [known.get(name, Column(name, name)) for name in self.names]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.names, row)) for row in self.rows]

    @property
    def scope(self) -> str:
        return (f"tenant {self.tenant}, {self.day_from} .. {self.day_to}"
                + (f", store {self.store}" if self.store else ", every store"))


def cell(value: Any, column: Column) -> str:
    if value is None:
        return ""
    if column.kind == "money":
        return f"{float(value):,.2f}"
    if column.kind == "rate":
        return f"{float(value) * 100:.1f}%"
    if column.kind == "int":
        return str(int(value))
    return str(value)


def _width(text: str) -> int:
    # CJK characters take two columns in a terminal.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def as_table(result: Result) -> str:
    columns = result.columns
    header = [c.label for c in columns]
    body = [[cell(v, c) for v, c in zip(row, columns)] for row in result.rows]
    widths = [max([_width(h)] + [_width(r[i]) for r in body]) for i, h in enumerate(header)]

    def line(values: Sequence[str]) -> str:
        parts = []
        for value, width, column in zip(values, widths, columns):
            pad = " " * (width - _width(value))
            parts.append(pad + value if column.kind in ("int", "money", "rate") else value + pad)
        return "  ".join(parts).rstrip()

    out = [f"{result.report.title} — {result.scope}", line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in body]
    out.append(f"({len(body)} row{'s' if len(body) != 1 else ''})")
    return "\n".join(out)


def as_csv(result: Result) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.names)
    for row in result.rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


def as_xlsx(result: Result) -> bytes:
    try:
        from openpyxl import Workbook
        from openpyxl.styles import Font
    except ModuleNotFoundError:
        from o2o_bridge.errors import ConfigurationError

        raise ConfigurationError("--format xlsx needs openpyxl: pip install 'o2o-bridge[reports]'") from None
    book = Workbook()
    sheet = book.active
    sheet.title = result.report.name[:31]
    sheet.append([f"{result.report.title} — {result.scope}"])
    sheet.append([c.label for c in result.columns])
    for cell_ in sheet[2]:
        cell_.font = Font(bold=True)
    formats = {"money": "#,##0.00", "rate": "0.0%", "int": "0"}
    for row in result.rows:
        sheet.append(list(row))
        for value_cell, column in zip(sheet[sheet.max_row], result.columns):
            if column.kind in formats:
                value_cell.number_format = formats[column.kind]
    sheet.freeze_panes = "A3"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- HTML -----------------------------------------------------------------------------------

BAR = "#2f6db5"
BAR_SECOND = "#e39b2d"


def bar_chart(title: str, labels: list[str], series: list[tuple[str, list[float], str]], *,
              percent: bool = False, chart_id: str) -> str:
    """Grouped vertical bars as inline SVG; each bar carries data-value for a reader (or a test)."""
    width, height, left, bottom, top = 640, 260, 56, 40, 30
    plot_w, plot_h = width - left - 16, height - bottom - top
    top_value = max([v for _, values, _ in series for v in values] + [0])
    scale_max = 1.0 if percent else (top_value * 1.1 or 1.0)
    group_w = plot_w / max(len(labels), 1)
    bar_w = max(4.0, min(48.0, group_w * 0.7 / max(len(series), 1)))
    parts = [f'<svg id="{chart_id}" class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="{left}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#555"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#555"/>']
    for tick in range(5):
        value = scale_max * tick / 4
        y = top + plot_h - plot_h * tick / 4
        text = f"{value * 100:.0f}%" if percent else f"{value:,.0f}"
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{text}</text>')
        if tick:
            parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#ddd"/>')
    for i, label in enumerate(labels):
        x0 = left + i * group_w + (group_w - bar_w * len(series)) / 2
        for j, (name, values, colour) in enumerate(series):
            value = values[i]
            h = plot_h * (value / scale_max if scale_max else 0)
            shown = f"{value * 100:.1f}%" if percent else f"{value:,.2f}"
            parts.append(f'<rect class="bar" data-series="{html.escape(name)}" data-label="{html.escape(label)}" '
                         f'data-value="{value}" x="{x0 + j * bar_w:.1f}" y="{top + plot_h - h:.1f}" '
                         f'width="{bar_w - 2:.1f}" height="{h:.1f}" fill="{colour}"><title>{html.escape(label)} '
                         f'{html.escape(name)}: {shown}</title></rect>')
        parts.append(f'<text x="{left + i * group_w + group_w / 2:.1f}" y="{top + plot_h + 16}" font-size="11" '
                     f'text-anchor="middle">{html.escape(label)}</text>')
    for j, (name, _, colour) in enumerate(series):
        x = left + plot_w - 150 * (len(series) - j)
        parts.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{x + 14}" y="17" font-size="11">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _charts(result: Result) -> list[str]:
    charts = []
    records = result.records()
    if "pickup_rate_by_store" in result.report.charts:
        labels = [str(r["store"]) for r in records]
        rates = [float(r["pickup_rate"] or 0) for r in records]
        charts.append(bar_chart("提货率 Pickup rate by store", labels, [("pickup rate", rates, BAR)], percent=True,
                                chart_id="pickup-rate-by-store"))
    if "daily_retail" in result.report.charts:
        days = sorted({str(r["day"]) for r in records})
        net = {d: 0.0 for d in days}
        online = {d: 0.0 for d in days}
        for r in records:
            net[str(r["day"])] += float(r["net_retail"] or 0)
            online[str(r["day"])] += float(r["online_amount"] or 0)
        charts.append(bar_chart("零售日报 Daily retail", days, [
            ("net retail", [net[d] for d in days], BAR), ("online orders", [online[d] for d in days], BAR_SECOND)],
            chart_id="daily-retail"))
    return charts


def as_html(result: Result) -> str:
    columns = result.columns
    head = "".join(f"<th>{html.escape(c.label)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(
        f'<td class="{c.kind}">{html.escape(cell(v, c))}</td>' for v, c in zip(row, columns)) + "</tr>"
                   for row in result.rows) or f'<tr><td colspan="{len(columns)}">no rows</td></tr>'
    title = html.escape(result.report.title)
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 20px; margin-bottom: 4px; }}
p.scope, p.about {{ color: #555; margin: 4px 0; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 24px; margin: 16px 0; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; }}
th {{ background: #f0f3f7; text-align: left; }}
td.int, td.money, td.rate {{ text-align: right; font-variant-numeric: tabular-nums; }}
</style></head>
<body>
<h1>{title}</h1>
<p class="scope">{html.escape(result.scope)}</p>
<p class="about">{html.escape(result.report.description)}</p>
<div class="charts">{"".join(_charts(result))}</div>
<table id="report"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<p class="scope">{len(result.rows)} row(s)</p>
</body></html>
"""
