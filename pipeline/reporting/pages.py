"""The pages a person reads: a run page (how good, how honest, how long; then the OOF report) and the
index of every run (``submissions/index.html``), self-contained: one small stylesheet, no CDN, a tiny
script to sort the index. Pure functions of what they show; the command line writes them.
"""

from __future__ import annotations

import html
import json
import math
import numbers
from dataclasses import dataclass
from typing import Iterable

import pandas as pd

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde1e6;padding-bottom:4px}
.sub{color:#5b6573;margin:0 0 16px}
.card{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:14px 16px;margin:12px 0}
table{border-collapse:collapse;font-size:12.5px;background:#fff}
th,td{border-bottom:1px solid #e6e9ed;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#eef1f4;position:sticky;top:0;cursor:default}
td.text,th.text{text-align:left;white-space:normal}
tr.worst td{background:#fff1ef}
.honest{color:#11733b;font-weight:600}.optimistic{color:#a14900;font-weight:600}
.bar{display:flex;height:22px;border-radius:4px;overflow:hidden;margin:6px 0 2px}
.bar span{display:block;height:100%;color:#fff;font-size:11px;line-height:22px;text-align:center;
  overflow:hidden}
.legend{color:#5b6573;font-size:12px}
.row{display:flex;gap:20px;flex-wrap:wrap;align-items:flex-start}
img{max-width:100%;height:auto;background:#fff;border:1px solid #dde1e6;border-radius:6px}
.pics img{max-width:560px}
code{background:#eef1f4;padding:1px 4px;border-radius:3px}
th.sortable{cursor:pointer}th.sortable:after{content:" \\2195";color:#9aa3ad}
#compare{margin:10px 0}
"""
BAR_COLOURS = ("#3b6ea5", "#d08c2f", "#4f9a6a", "#9b5fa8", "#c0504d", "#5a8f9e")
SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.classList.add('sortable');
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var up = th.dataset.order !== 'up'; th.dataset.order = up ? 'up' : 'down';
      var key = function (row) { var t = row.cells[col].dataset.sort || row.cells[col].textContent;
        var n = parseFloat(t); return isNaN(n) ? t : n; };
      rows.sort(function (a, b) { var x = key(a), y = key(b);
        var c = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === 'number' ? -1 : 1);
        return up ? c : -c; });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
var picks = [];
document.querySelectorAll('input.pick').forEach(function (box) {
  box.addEventListener('change', function () {
    picks = Array.from(document.querySelectorAll('input.pick:checked')).map(function (b) { return b.value; });
    var out = document.getElementById('compare');
    out.textContent = picks.length === 2
      ? 'python pipeline/run.py --stage compare --runs ' + picks[0] + ' ' + picks[1]
      : 'Tick two runs to get the command that compares them (--stage compare).';
  });
});
"""


def cell(value, digits: int = 4) -> str:
    """A table cell's text: numbers rounded, missing values as a dash."""
    if value is None or (isinstance(value, numbers.Real) and math.isnan(value)):
        return "—"
    if isinstance(value, (bool, numbers.Integral)):
        return str(value)
    if isinstance(value, numbers.Real):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def text_class(is_text: bool) -> str:
    return "text" if is_text else ""


def rich_cell(value, digits: int) -> str:
    """A cell, with honesty labels coloured."""
    if isinstance(value, str) and value.startswith(("honest", "optimistic")):
        return honesty_cell(value)
    return cell(value, digits)


def honesty_cell(label: str) -> str:
    kind = "honest" if label == "honest" else "optimistic"
    return f"<span class='{kind}'>{html.escape(label)}</span>"


def html_table(
    frame: pd.DataFrame,
    *,
    index: bool = True,
    digits: int | dict[str, int] = 4,
    highlight: Iterable = (),
    sortable: bool = False,
) -> str:
    """An HTML table without NaN or float noise (``digits``: one for all, or per column); rows whose
    index is in ``highlight`` are marked; text columns are left-aligned."""
    marked = set(highlight)
    places = {c: digits.get(c, 4) if isinstance(digits, dict) else digits for c in frame.columns}
    text = [frame[c].dtype == object for c in frame.columns]
    heads = ([(frame.index.name or "", True)] if index else []) + list(zip(map(str, frame.columns), text))
    head = "".join(f"<th class='{text_class(is_text)}'>{html.escape(name)}</th>" for name, is_text in heads)
    rows = []
    for key, values in zip(frame.index, frame.itertuples(index=False)):
        cells = ([f"<td class='text'>{cell(key)}</td>"] if index else []) + [
            f"<td class='{text_class(is_text)}'>{rich_cell(v, places[c])}</td>"
            for v, c, is_text in zip(values, frame.columns, text)
        ]
        rows.append(f"<tr class='{'worst' if key in marked else ''}'>{''.join(cells)}</tr>")
    kind = "sortable" if sortable else ""
    return f"<table class='{kind}'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def page(title: str, body: str, script: str = "") -> str:
    """A whole page: the stylesheet inline, the body, an optional script."""
    tail = f"<script>{script}</script>" if script else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main>{tail}</body></html>"
    )


def weight_bar(weights: dict[str, float]) -> str:
    """The blend weights as one stacked bar with a legend."""
    parts, legend = [], []
    for k, (name, weight) in enumerate(weights.items()):
        colour = BAR_COLOURS[k % len(BAR_COLOURS)]
        label = html.escape(name) if weight >= 0.12 else ""
        parts.append(f"<span style='width:{100 * weight:.1f}%;background:{colour}'>{label}</span>")
        legend.append(f"<span style='color:{colour}'>■</span> {html.escape(name)} {weight:.2f}")
    return f"<div class='bar'>{''.join(parts)}</div><div class='legend'>{' &nbsp; '.join(legend)}</div>"


@dataclass(frozen=True)
class ModelLine:
    """One line of a run's summary: a model (or the blend), its score, honesty, time, cache state."""

    name: str
    oof_log_loss: float
    honesty: str
    seconds: float
    from_cache: str
    holdout: float | None = None
    """Log loss on the reserved holdout rows (None: no holdout)."""


def run_page(report_body: str, title: str, facts: list[str], lines: list[ModelLine], weights: dict) -> str:
    """A run's page: the summary that answers how good, how honest, how long; then the report."""
    summary = pd.DataFrame(
        [(line.oof_log_loss, line.honesty, line.seconds, line.from_cache) for line in lines],
        index=pd.Index([line.name for line in lines], name="model"),
        columns=["OOF log loss", "honesty", "seconds", "from cache"],
    )
    if any(line.holdout is not None for line in lines):
        holdout = [math.nan if line.holdout is None else line.holdout for line in lines]
        summary.insert(1, "holdout log loss", holdout)
    body = [
        f"<h1>{html.escape(title)}</h1>",
        "<p class='sub'>" + " · ".join(html.escape(f) for f in facts) + "</p>",
        "<div class='card'>",
        html_table(summary, digits={"seconds": 1}),
        "<p class='legend'>Honest: scored on rows that fitted nothing it depends on. "
        "Optimistic: the label says why.</p>",
        "<h3>Blend weights</h3>" + weight_bar(weights) if weights else "",
        "</div>",
        report_body,
    ]
    return page(title, "\n".join(body))


def index_rows(ledger: pd.DataFrame, folder_of) -> pd.DataFrame:
    """The index table: one row per run, newest first, a column per model."""
    rows = []
    for run in ledger.itertuples():
        scores = json.loads(run.models) if run.models else {}
        honesty = json.loads(run.honesty) if getattr(run, "honesty", "") else {}
        row = {
            "finished (UTC)": str(run.finished_at).replace("T", " ")[:16],
            "stage": run.stage,
            "data": run.data,
            "options": getattr(run, "options", "") or "defaults",
            **{name: float(value) for name, value in scores.items()},
            "blend": float(run.blend_nested) if str(run.blend_nested) not in ("", "nan") else math.nan,
            "honesty": "honest" if set(honesty.values()) <= {"honest"} else "optimistic",
            "minutes": float(run.seconds) / 60 if str(run.seconds) not in ("", "nan") else math.nan,
            "run": run.run_id,
            "page": folder_of(run),
        }
        rows.append(row)
    empty = ["finished (UTC)", "stage", "data", "options", "blend", "honesty", "minutes", "run", "page"]
    return pd.DataFrame(rows, columns=None if rows else empty).iloc[::-1]


def index_page(table: pd.DataFrame) -> str:
    """Every run, sortable by any column, with a link to its page and a compare helper."""
    shown = table.drop(columns="page")
    body_rows = []
    for (_, values), link, run in zip(shown.iterrows(), table["page"], table["run"]):
        cells = []
        for column, value in values.items():
            if column == "run":
                page_link = f" <a href='{html.escape(link)}'>page</a>" if link else ""
                cells.append(
                    f"<td class='text'><input type='checkbox' class='pick' value='{html.escape(run)}'> "
                    f"<code>{html.escape(run)}</code>{page_link}</td>"
                )
            elif column == "honesty":
                cells.append(f"<td class='text'>{honesty_cell(value)}</td>")
            else:
                sort = f" data-sort='{value}'" if isinstance(value, float) and not math.isnan(value) else ""
                digits = 1 if column == "minutes" else 4
                cells.append(
                    f"<td class='{text_class(isinstance(value, str))}'{sort}>{cell(value, digits)}</td>"
                )
        body_rows.append(f"<tr>{''.join(cells)}</tr>")
    head = "".join(
        f"<th class='{'text' if c in ('options', 'run') else ''}'>{html.escape(c)}</th>" for c in shown
    )
    body = [
        "<h1>Runs</h1>",
        f"<p class='sub'>{len(shown)} run{'' if len(shown) == 1 else 's'} from ledger.csv, newest first. "
        "Click a column to sort; model columns are OOF log loss (lower is better).</p>",
        "<div class='card'><p id='compare' class='legend'>Tick two runs to get the command that compares "
        "them (--stage compare).</p>",
        f"<table class='sortable'><thead><tr>{head}</tr></thead>",
        f"<tbody>{''.join(body_rows)}</tbody></table></div>",
    ]
    return page("Runs", "\n".join(body), SORT_SCRIPT)
