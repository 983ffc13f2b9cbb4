"""report.html in a real headless browser (Debian's chromium, driven by playwright): it loads
without a console error or a network request, the filters, sort and search change the rows, a
trace opens, and a <script> in a question is shown, never run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.evals.html_report import safe_json
from math_router.testing import ChatServer, completion, has_tool_result, tool_call, user_question

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EVIL = ('What is 1 plus 1? <script>window.__pwned = 1</script>'
        '<img src=x onerror="window.__pwned = 2">')


def numbers(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", text)][:2]


def orchestrator(request: dict):
    """Alone it gets "3 plus 6" wrong; with tools it asks slm_help first."""
    question = user_question(request)
    if "Problem:\n" in question:
        question = question.split("Problem:\n")[1]
    if "tools" in request and not has_tool_result(request):
        return completion(tool_calls=[tool_call("slm_help", {"question": question})],
                          prompt_tokens=100, completion_tokens=20)
    off = 1 if "3 plus 6" in question and "tools" not in request else 0
    return completion(f"Reasoning <b>here</b>. \\boxed{{{sum(numbers(question)) + off}}}",
                      prompt_tokens=80, completion_tokens=40)


def specialist(request: dict):
    """Its samples split on "5 plus 8" (the cascade escalates that one)."""
    question = user_question(request)
    off = 1 if "5 plus 8" in question and request.get("seed", 0) % 2 else 0
    return completion(f"Step by step </script> \\boxed{{{sum(numbers(question)) + off}}}",
                      prompt_tokens=30, completion_tokens=60)


def make_run(tmp: Path, name: str, *extra: str) -> Path:
    data = tmp / "problems.jsonl"
    rows = [{"id": f"p{i}", "question": f"What is {i} plus {i + 3}?", "answer": str(2 * i + 3)}
            for i in range(7)] + [{"id": "evil", "question": EVIL, "answer": "2"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp / name
    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        result = CliRunner().invoke(cli, [
            "eval", "--dataset", str(data), "--n", "all", "--method", "llm,router,slm,cascade",
            "--out", str(out), "--base-url", orch.url, "--specialist", spec.url,
            "--specialist-model", "qwen-math", "--price", "qwen-math=0,0", "--no-progress", *extra],
            env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = make_run(tmp_path_factory.mktemp("html"), "run")
    result = CliRunner().invoke(cli, ["report", str(out)], catch_exceptions=False)
    assert result.exit_code == 0 and "report.html" in result.output
    return out


def test_the_page_is_self_contained_and_its_data_cannot_close_its_script(run):
    page = (run / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']https?:""", page)  # nothing fetched
    data = page.split('<script type="application/json" id="report-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and ">" not in data  # the evil question travels as \u003c...
    assert json.loads(data)["rows"][-1]["question"] == EVIL
    assert "</script" not in safe_json({"x": "</script><script>alert(1)</script>"})
    assert page.count("data:image/png;base64,") == 2  # both plots inline


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no chromium here: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        yield launched
        launched.close()


def open_page(browser, path: Path):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    problems, requests = [], []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    return page, problems, requests


def visible_ids(page) -> list[str]:
    return page.eval_on_selector_all("#problems tr.row", "rows => rows.map(r => r.dataset.id)")


def test_filters_sort_search_and_a_trace_in_a_real_browser(run, browser, tmp_path):
    page, problems, requests = open_page(browser, run / "report.html")
    assert problems == [] and all(u.startswith(("file:", "data:")) for u in requests)
    assert len(visible_ids(page)) == 8 and page.text_content("#count") == "8 of 8 problems"

    page.select_option("#filter", "lost:router")  # llm right, router wrong: none
    assert visible_ids(page) == []
    page.select_option("#filter", "won:router")  # router right where the llm was wrong
    assert visible_ids(page) == ["p3"]
    page.select_option("#filter", "escalated")
    assert visible_ids(page) == ["p5"]
    page.select_option("#filter", "disagree")  # p5's samples split, yet every method says 13
    assert visible_ids(page) == ["p3"]
    page.select_option("#filter", "all")
    page.select_option("#sort", "cost:cascade")
    assert visible_ids(page)[0] == "p5"  # the escalated one costs the most
    page.fill("#search", "4 plus 7")
    assert visible_ids(page) == ["p4"]
    page.fill("#search", "")

    page.select_option("#sort", "order")
    page.click("#problems tr.row[data-id=p5] td.q")
    trace = page.text_content("#problems tr.trace-row")
    assert "Samples: agreement 0.50" in trace and "Sample 2 (cot): 14" in trace
    assert "Tool slm_help" in trace and "Orchestrator turn 2" in trace
    assert "Step by step </script>" in trace and "Reasoning <b>here</b>" in trace  # text, not markup
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000

    # The question that carries a script shows it as text, and it never ran.
    assert page.evaluate("window.__pwned") is None
    page.click("#problems tr.row[data-id=evil] td.q")
    assert page.evaluate("window.__pwned") is None
    assert EVIL in page.text_content("#problems tr.row[data-id=evil] + tr.trace-row")
    assert page.locator("#problems img").count() == 0 and problems == []


def test_two_runs_side_by_side_with_a_paired_test(run, browser, tmp_path):
    other = make_run(tmp_path, "threshold-1", "--threshold", "1.01")
    result = CliRunner().invoke(cli, ["report", str(run), str(other)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "cascade: 8 problems, only run right 0, only threshold-1 right 0" in result.output
    page_path = run / "compare-threshold-1.html"
    page, problems, _ = open_page(browser, page_path)
    headers = page.eval_on_selector_all("#problems thead th", "ths => ths.map(t => t.textContent)")
    assert "cascade (run)" in headers and "cascade (threshold-1)" in headers
    assert "McNemar p" in page.text_content("body") and problems == []
    page.select_option("#filter", "escalated")
    assert len(visible_ids(page)) == 8  # at 1.01 every problem escalates in the second run
