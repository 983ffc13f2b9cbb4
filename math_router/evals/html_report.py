"""report.html: one self-contained page per results folder (or two folders side by side), every
problem beside every method, each trace a click away. No network: styles, script and plots
inline, so it opens offline and travels as an email attachment.

Text a model or a data set wrote never becomes markup: the page is a Jinja2 template with
autoescape on (the figures' tables, notes and titles are values, never markup), and the
problems travel as JSON inside a `<script type="application/json">` block (`<`, `>` and `&`
as \\u escapes, so nothing in it can close the block) from which the page's script builds
rows and traces with `textContent` only. The report's figures come in as plain tables
(headers and rows of text): this module renders, report.py decides what to show.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import attrs

from math_router.evals.compare import BASELINE
from math_router.evals.folders import write_text_atomic

STATUS = {True: "right", False: "wrong", None: "ungraded"}


def column_key(run: str, method: str) -> str:
    return f"{run}:{method}" if run else method


def cell(record: dict) -> dict:
    """What the page shows of one method's record of one problem."""
    status = "error" if record["error"] is not None else STATUS[record.get("correct")]
    return {"answer": record.get("prediction", record.get("answer")), "status": status,
            "cost": record.get("cost_usd"), "seconds": record.get("seconds"),
            "ended": record.get("ended"), "escalated": record.get("escalated"),
            "error": record["error"], "final_text": record.get("final_text"),
            "trace": record.get("trace")}


def page_data(runs: list[tuple[str, dict[str, list[dict]]]], questions: dict[str, dict]) -> dict:
    """The JSON the page's script reads: columns (run, method) and one row per problem."""
    columns = [{"key": column_key(run, m), "method": m, "run": run,
                "label": m if not run else f"{m} ({run})"} for run, results in runs for m in results]
    order: list[str] = list(questions)
    for _, results in runs:
        for records in results.values():
            order += [r["id"] for r in records if r["id"] not in questions and r["id"] not in order]
    rows = []
    by_column = {column_key(run, m): {r["id"]: r for r in records}
                 for run, results in runs for m, records in results.items()}
    for problem_id in order:
        info = questions.get(problem_id, {})
        cells = {key: cell(recs[problem_id]) for key, recs in by_column.items() if problem_id in recs}
        question = info.get("question") or next(
            (c["trace"] and _question_of(c["trace"]) for c in cells.values() if c.get("trace")), "")
        rows.append({"id": problem_id, "question": question or "", "gold": info.get("gold"),
                     "cells": cells})
    return {"columns": columns, "rows": rows, "baseline": BASELINE}


def _question_of(trace: dict) -> str | None:
    for turn in trace.get("tool_calls", []):
        try:
            return json.loads(turn["arguments"]).get("question")
        except (ValueError, AttributeError):
            return None
    return None


def safe_json(data: dict) -> str:
    """JSON that cannot end the <script> block it sits in, whatever the strings hold."""
    return (json.dumps(data, ensure_ascii=False, default=str)
            .replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


@attrs.frozen
class Table:
    headers: list[str]
    rows: list[list]


@attrs.frozen
class Section:
    """A heading, an optional muted line under it (a folder's path), and a table or a line."""

    heading: str
    note: str = ""
    table: Table | None = None
    text: str = ""


def image_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def write_html(path: Path, title: str, data: dict, *, intro: str = "",
               sections: list[Section] = (), notes: list[str] = (),
               plots: list[Path] = ()) -> Path:
    """The page, rendered from PAGE by Jinja2 with autoescape: every value is text."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    page = env.from_string(PAGE).render(
        title=title, intro=intro, sections=list(sections), notes=list(notes),
        plots=[{"name": p.stem, "uri": image_uri(p)} for p in plots if p.exists()],
        data=safe_json(data), style=STYLE, script=SCRIPT)
    write_text_atomic(path, page)
    return path


STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em; color: #1d1d1f; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; } th, td { border: 1px solid #ddd; padding: 3px 7px; vertical-align: top; }
th { background: #f4f4f6; text-align: left; }
table.figures td { white-space: nowrap; }
.plots img { display: block; max-width: min(100%, 1000px); margin-bottom: 1em; border: 1px solid #eee; }
.controls { margin: .8em 0; display: flex; gap: .8em; flex-wrap: wrap; align-items: center; }
.controls input { width: 22em; }
#problems td.q { max-width: 34em; cursor: pointer; }
#problems tr.row:hover { background: #f8f8ff; }
.right { color: #12733b; } .wrong { color: #b3261e; } .error { color: #8a5a00; font-weight: 600; }
.ungraded { color: #555; }
.trace { background: #fafafa; }
.trace section { border-left: 3px solid #ccd; margin: .5em 0 1em; padding-left: .8em; }
.trace pre { white-space: pre-wrap; word-break: break-word; background: #fff; border: 1px solid #eee;
             padding: .4em; margin: .3em 0; max-height: 24em; overflow: auto; }
.muted { color: #666; } .count { margin-left: .5em; color: #555; }
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{{ title }}</title><style>{{ style | safe }}</style></head>
<body>
<h1>{{ title }}</h1>
{% if intro %}<p class="muted">{{ intro }}</p>{% endif %}
{% for section in sections %}
<h2>{{ section.heading }}</h2>
{% if section.note %}<p class="muted"><code>{{ section.note }}</code></p>{% endif %}
{% if section.table %}<table class="figures"><thead><tr>
{%- for header in section.table.headers %}<th>{{ header }}</th>{% endfor -%}
</tr></thead><tbody>
{%- for row in section.table.rows %}<tr>{% for value in row %}<td>{{ value }}</td>{% endfor %}</tr>{% endfor -%}
</tbody></table>{% endif %}
{% if section.text %}<p>{{ section.text }}</p>{% endif %}
{% endfor %}
{% if notes %}<ul>{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>{% endif %}
{% if plots %}<h2>Plots</h2><div class="plots">
{%- for plot in plots %}<img alt="{{ plot.name }}" src="{{ plot.uri }}">{% endfor -%}
</div>{% endif %}
<h2>Problem by problem</h2>
<div class="controls">
  <label>Show <select id="filter"></select></label>
  <label>Sort <select id="sort"></select></label>
  <label>Search <input id="search" type="search" placeholder="words in the question"></label>
  <span id="count" class="count"></span>
</div>
<table id="problems"><thead></thead><tbody></tbody></table>
<script type="application/json" id="report-data">{{ data | safe }}</script>
<script>{{ script | safe }}</script>
</body></html>
"""

SCRIPT = r"""
"use strict";
const data = JSON.parse(document.getElementById("report-data").textContent);
const cols = data.columns;
const base = cols.find(c => c.method === data.baseline && !c.run) || cols.find(c => c.method === data.baseline);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}
function money(v) { return v === null || v === undefined ? "unknown" : "$" + Number(v).toFixed(6); }
function secs(v) { return v === null || v === undefined ? "-" : Number(v).toFixed(2) + " s"; }
function right(row, key) { const c = row.cells[key]; return !!c && c.status === "right"; }
function wrong(row, key) { const c = row.cells[key]; return !!c && c.status === "wrong"; }
function answers(row) { return cols.map(c => row.cells[c.key]).filter(c => c && c.status !== "error"); }

const filters = [
  ["all", "all problems", () => true],
  ["disagree", "methods disagree", row => {
    const got = answers(row);
    return new Set(got.map(c => String(c.answer))).size > 1 || new Set(got.map(c => c.status)).size > 1;
  }],
  ["errors", "errors", row => cols.some(c => row.cells[c.key] && row.cells[c.key].status === "error")],
  ["escalated", "escalated (cascade)", row => cols.some(c => row.cells[c.key] && row.cells[c.key].escalated)],
];
for (const c of cols) {
  filters.push(["only:" + c.key, "only " + c.label + " right",
                row => right(row, c.key) && cols.every(o => o.key === c.key || wrong(row, o.key))]);
}
if (base) {
  for (const c of cols.filter(c => c.key !== base.key)) {
    filters.push(["won:" + c.key, c.label + " right, " + base.label + " wrong",
                  row => right(row, c.key) && wrong(row, base.key)]);
    filters.push(["lost:" + c.key, base.label + " right, " + c.label + " wrong",
                  row => right(row, base.key) && wrong(row, c.key)]);
  }
}
const sorts = [["order", "problem order", null]];
for (const c of cols) {
  sorts.push(["cost:" + c.key, c.label + ": cost, highest first", row => (row.cells[c.key] || {}).cost]);
  sorts.push(["seconds:" + c.key, c.label + ": seconds, longest first", row => (row.cells[c.key] || {}).seconds]);
}
const filterSelect = document.getElementById("filter"), sortSelect = document.getElementById("sort");
for (const [value, label] of filters) { const o = el("option", label); o.value = value; filterSelect.appendChild(o); }
for (const [value, label] of sorts) { const o = el("option", label); o.value = value; sortSelect.appendChild(o); }

const head = document.querySelector("#problems thead"), body = document.querySelector("#problems tbody");
const headRow = el("tr");
for (const h of ["id", "question", "gold", ...cols.map(c => c.label)]) headRow.appendChild(el("th", h));
head.appendChild(headRow);

function traceView(row) {
  const box = el("td"); box.colSpan = 3 + cols.length; box.className = "trace";
  box.appendChild(el("h3", "Question"));
  box.appendChild(el("pre", row.question));
  for (const c of cols) {
    const cellData = row.cells[c.key];
    if (!cellData) continue;
    const s = el("section");
    s.appendChild(el("h3", c.label + ": " + (cellData.answer === null ? "no answer" : cellData.answer)
                     + " (" + cellData.status + "), " + money(cellData.cost) + ", " + secs(cellData.seconds)
                     + (cellData.ended ? ", ended: " + cellData.ended : "")));
    if (cellData.error) s.appendChild(el("pre", "Error: " + cellData.error, "error"));
    const t = cellData.trace || {};
    const vote = t.vote;
    if (vote) {
      s.appendChild(el("h4", "Samples: agreement " + Number(vote.agreement).toFixed(2) + ", threshold "
                       + vote.threshold + (vote.escalated ? ", escalated" : ", the majority answers")));
      const list = el("ul");
      for (const cand of vote.candidates || []) list.appendChild(el("li", cand.answer + ": " + cand.count + " vote(s)"));
      s.appendChild(list);
      (vote.samples || []).forEach((text, i) => {
        s.appendChild(el("h4", "Sample " + (i + 1) + ((vote.sample_modes || [])[i] ? " (" + vote.sample_modes[i] + ")" : "")
                         + ": " + ((vote.sample_answers || [])[i] ?? "no answer")));
        s.appendChild(el("pre", text));
      });
    }
    (t.turns || []).forEach((turn, i) => {
      const u = turn.usage || {};
      s.appendChild(el("h4", "Orchestrator turn " + (i + 1) + (turn.cached ? " (from the cache)" : "")
                       + (turn.batch ? " (Batch API)" : "")
                       + ": " + (u.input_tokens ?? 0) + " tokens in, " + (u.output_tokens ?? 0) + " out"
                       + (u.reasoning_tokens ? ", of which " + u.reasoning_tokens + " reasoning" : "")));
      if (turn.content) s.appendChild(el("pre", turn.content));
      for (const r of turn.tool_requests || []) s.appendChild(el("pre", "calls " + r.name + "(" + r.arguments + ")", "muted"));
    });
    for (const call of t.tool_calls || []) {
      s.appendChild(el("h4", "Tool " + call.name + ", " + secs(call.seconds) + (call.is_error ? ", error" : "")
                       + (call.called_by ? ", called by the " + call.called_by : "")));
      s.appendChild(el("pre", call.arguments, "muted"));
      s.appendChild(el("pre", call.result));
      for (const run of (call.details && call.details.executions) || []) {
        s.appendChild(el("h4", "Program (" + secs(run.seconds) + (run.killed ? ", stopped: " + run.killed : "") + ")"));
        s.appendChild(el("pre", run.code)); s.appendChild(el("pre", run.output, "muted"));
      }
    }
    for (const run of (t.details && t.details.executions) || []) {
      s.appendChild(el("h4", "Program (" + secs(run.seconds) + (run.killed ? ", stopped: " + run.killed : "") + ")"));
      s.appendChild(el("pre", run.code)); s.appendChild(el("pre", run.output, "muted"));
    }
    if (cellData.final_text) { s.appendChild(el("h4", "Final text")); s.appendChild(el("pre", cellData.final_text)); }
    box.appendChild(s);
  }
  return box;
}

function render() {
  const keep = filters.find(f => f[0] === filterSelect.value)[2];
  const words = document.getElementById("search").value.trim().toLowerCase();
  let rows = data.rows.filter(r => keep(r) && (!words || r.question.toLowerCase().includes(words)));
  const sort = sorts.find(s => s[0] === sortSelect.value)[2];
  if (sort) rows = rows.slice().sort((a, b) => (sort(b) ?? -1) - (sort(a) ?? -1));
  body.replaceChildren();
  for (const row of rows) {
    const tr = el("tr", null, "row"); tr.dataset.id = row.id;
    tr.appendChild(el("td", row.id));
    const q = el("td", row.question.length > 220 ? row.question.slice(0, 217) + "..." : row.question, "q");
    q.title = "open the traces";
    tr.appendChild(q);
    tr.appendChild(el("td", row.gold ?? ""));
    for (const c of cols) {
      const cellData = row.cells[c.key];
      const td = el("td");
      if (cellData) {
        td.appendChild(el("div", (cellData.answer ?? "no answer") + " " + {right: "✓", wrong: "✗", error: "error", ungraded: ""}[cellData.status], cellData.status));
        td.appendChild(el("div", money(cellData.cost) + ", " + secs(cellData.seconds), "muted"));
      }
      tr.appendChild(td);
    }
    tr.addEventListener("click", () => {
      const next = tr.nextElementSibling;
      if (next && next.classList.contains("trace-row")) { next.remove(); return; }
      const open = el("tr", null, "trace-row"); open.appendChild(traceView(row));
      tr.after(open);
    });
    body.appendChild(tr);
  }
  document.getElementById("count").textContent = rows.length + " of " + data.rows.length + " problems";
}
filterSelect.addEventListener("change", render);
sortSelect.addEventListener("change", render);
document.getElementById("search").addEventListener("input", render);
render();
"""
