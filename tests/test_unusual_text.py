"""Text that is valid but unusual, at every door: lone surrogates, line separators inside a
record, report.html's placeholders in a question, spreadsheet formulas in answers.csv, usage
counts no server could mean, a byte-order mark."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.engine.errors import TransportError
from math_router.evals.datasets import read_rows
from math_router.evals.records import latest_records, read_records
from math_router.testing import ChatServer, completion
from tests.eval_cli import one_line

ROOT = Path(__file__).resolve().parents[1]


def solve(*args):
    return CliRunner().invoke(cli, ["solve", *args], env={"OPENAI_API_KEY": "sk-test"},
                              catch_exceptions=False)


def answering(request):
    return completion("So \\boxed{4}.")


def test_a_lone_surrogate_is_one_line_and_nothing_is_sent():
    with ChatServer(answering) as orch:
        result = solve("What is 2+2?\ud800", "--method", "llm", "--base-url", orch.url)
        assert orch.requests == []
    assert "not valid Unicode" in one_line(result)


def test_undecodable_bytes_in_argv_are_one_line(tmp_path):
    with ChatServer(answering) as orch:
        done = subprocess.run([sys.executable, "cli.py", "solve", b"What is 2+2?\xff\xfe",
                               "--method", "llm", "--base-url", orch.url], cwd=ROOT,
                              capture_output=True, env={"PATH": "/usr/bin:/bin",
                                                        "OPENAI_API_KEY": "sk-test"})
    err = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("Error: ") and "not valid Unicode" in err


def test_solve_input_answers_the_good_rows_and_records_the_bad_one(tmp_path):
    data = tmp_path / "mine.jsonl"
    # json.dumps escapes the surrogate as \ud800: valid JSON, a string Python holds, no UTF-8.
    data.write_text("".join(json.dumps({"id": i, "question": q}) + "\n" for i, q in
                            enumerate(["What is 2+2?", "Bad \ud800 row", "What is 3+1?"])))
    out = tmp_path / "out"
    with ChatServer(answering) as orch:
        first = solve("--input", str(data), "--method", "llm", "--base-url", orch.url,
                      "--out", str(out), "--no-progress")
        assert len(orch.requests) == 2
    assert first.exit_code == 1  # an error among the answers, said at the end
    rows = {r["id"]: r for r in read_records(out / "answers.jsonl")}
    assert rows["0"]["answer"] == "4" and rows["2"]["answer"] == "4"
    assert "not valid Unicode" in rows["1"]["error"]
    assert (out / "answers.csv").exists()


def test_a_line_separator_inside_a_record_leaves_the_file_whole(tmp_path):
    path = tmp_path / "results.jsonl"
    rows = [{"id": "a", "final_text": "one\u2028two\u2029three\x85four\x0bfive\x1cend"},
            {"id": "b", "final_text": "plain"}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    assert read_records(path) == rows


def test_a_byte_order_mark_is_taken_in_every_format(tmp_path):
    rows = [{"question": "What is 2+2?", "answer": "4"}]
    jsonl, as_json, as_csv = tmp_path / "a.jsonl", tmp_path / "a.json", tmp_path / "a.csv"
    jsonl.write_bytes(b"\xef\xbb\xbf" + json.dumps(rows[0]).encode() + b"\n")
    as_json.write_bytes(b"\xef\xbb\xbf" + json.dumps(rows).encode())
    as_csv.write_bytes(b"\xef\xbb\xbfquestion,answer\nWhat is 2+2?,4\n")
    for path in (jsonl, as_json, as_csv):
        assert read_rows(path) == rows, path


@pytest.mark.parametrize("value,safe", [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
    ("+1+1", "'+1+1"), ("@SUM(A1)", "'@SUM(A1)"), ("-2+3", "'-2+3"), ("\t=1", "'\t=1"),
    ("-42", "-42"), ("-3.5", "-3.5"), ("+7", "+7"), ("1e5", "1e5"), ("393", "393"),
    ("plain text", "plain text"), ("", "")])
def test_spreadsheet_cells_that_a_spreadsheet_would_run_are_neutralised(value, safe):
    from math_router.evals.evaluation import spreadsheet_cell

    assert spreadsheet_cell(value) == safe


def test_answers_csv_holds_no_live_formula(tmp_path):
    data = tmp_path / "mine.jsonl"
    data.write_text(json.dumps({"id": 1, "question": "=cmd|' /C calc'!A0"}) + "\n")
    out = tmp_path / "out"
    with ChatServer(lambda request: completion("\\boxed{=HYPERLINK(1)} and -5")) as orch:
        assert solve("--input", str(data), "--method", "llm", "--base-url", orch.url,
                     "--out", str(out), "--no-progress").exit_code == 0
    with (out / "answers.csv").open(newline="", encoding="utf-8") as f:
        cells = [c for row in csv.reader(f) for c in row]
    assert not any(c[:1] in "=+@" and c for c in cells)
    assert "'=cmd|' /C calc'!A0" in cells


@pytest.mark.parametrize("count", [10 ** 30, 1e400, 2 ** 63])
def test_usage_counts_no_server_could_mean_are_a_protocol_error(count):
    from math_router.engine.chat import token_count

    with pytest.raises(TransportError, match="not a count of tokens"):
        token_count(count, "prompt_tokens", "http://x/v1")


def test_a_huge_usage_count_ends_in_one_line_naming_the_server():
    body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": "4"},
                                    "finish_reason": "stop"}]})[:-1]
    raw = (body + ', "usage": {"prompt_tokens": 1e400, "completion_tokens": 1, '
           '"total_tokens": 2}}').encode()
    from math_router.testing import raw_reply

    with ChatServer(lambda request: raw_reply(raw)) as orch:
        result = solve("What is 2+2?", "--method", "llm", "--base-url", orch.url)
    line = one_line(result)
    assert orch.url in line and "prompt_tokens" in line


def test_a_question_with_the_pages_placeholders_renders_in_report_html(tmp_path):
    from math_router.evals.html_report import write_html

    data = {"columns": [], "rows": [{"id": "1", "question": "{{data}} {{script}} {{title}}",
                                     "gold": None, "cells": {}}], "baseline": "llm"}
    from math_router.evals.html_report import Section, Table

    page = write_html(tmp_path / "r.html", "{{ summary }} <b>", data, intro="{% raw %}<p>",
                      sections=[Section("{{ sections }}", table=Table(["<th>"], [["</td>{{x}}"]]))],
                      notes=["<script>alert(1)</script>"]).read_text()
    assert page.count("<script>") == 1 and page.count('id="report-data"') == 1
    start = page.index('id="report-data">') + len('id="report-data">')
    loaded = json.loads(page[start:page.index("</script>", start)])
    assert loaded["rows"][0]["question"] == "{{data}} {{script}} {{title}}"
    # Values are text, never markup and never template: escaped where they stand.
    assert "<title>{{ summary }} &lt;b&gt;</title>" in page and "{% raw %}&lt;p&gt;" in page
    assert "<th>&lt;th&gt;</th>" in page and "<td>&lt;/td&gt;{{x}}</td>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_eval_over_a_data_set_with_a_bad_question_records_it_and_reports(tmp_path):
    from tests.eval_cli import run_eval

    data = tmp_path / "set.jsonl"
    data.write_text("".join(json.dumps({"question": q, "answer": "4"}) + "\n"
                            for q in ["What is 2+2?", "Bad \ud800 row", "What is 3+1?"]))
    out = tmp_path / "run"
    with ChatServer(answering) as orch:
        result = run_eval(out, orch, "--method", "llm", dataset=str(data), n=3)
        again = run_eval(out, orch, "--method", "llm", dataset=str(data), n=3)  # resumes
        assert len(orch.requests) == 2  # the good rows once; the bad one never sent
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert again.exit_code == 1 and "Traceback" not in again.output
    assert "other" not in one_line(again)  # not refused as other problems or settings
    records = list(latest_records(read_records(out / "results_llm.jsonl")).values())
    assert sum(r["error"] is not None and "not valid Unicode" in r["error"] for r in records) == 1
    assert sum(r["correct"] is True for r in records) == 2
    report = CliRunner().invoke(cli, ["report", str(out), "--no-plots"], catch_exceptions=False)
    assert report.exit_code == 0, report.output
    assert (out / "report.html").exists() and (out / "report.md").exists()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from tests.test_server import orchestrator, specialist, start

    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        server = start(tmp_path_factory.mktemp("serve"), orch, spec, "--methods", "llm,router")
        yield server, orch
        server.proc.terminate()
        server.proc.wait(10)


def post(server, body: bytes | dict) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(server.url + "/chat/completions", data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


ASK = {"model": "llm", "messages": [{"role": "user", "content": "What is 20 plus 22?"}]}


@pytest.mark.parametrize("extra,param", [
    ({"temperature": "hot"}, "temperature"), ({"temperature": 3}, "temperature"),
    ({"max_tokens": -1}, "max_tokens"), ({"max_tokens": 2.5}, "max_tokens"),
    ({"n": True}, "n"), ({"n": 2}, "n"), ({"stream": "yes"}, "stream"),
    ({"stream": True, "stream_options": "all"}, "stream_options"),
    ({"stream_options": {"include_usage": "yes"}}, "stream_options"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"stop": [1, 2]}, "stop"), ({"frobnicate": 1}, "frobnicate"),
    ({"seed": "x"}, "seed"), ({"response_format": "json"}, "response_format")])
def test_serve_answers_each_wrong_field_with_a_400_naming_it(served, extra, param):
    server, orch = served
    before = len(orch.requests)
    status, body = post(server, {**ASK, **extra})
    assert status == 400 and body["error"]["param"] == param, body
    assert body["error"]["type"] == "invalid_request_error"
    assert len(orch.requests) == before  # refused before anything was paid


def test_serve_honours_the_turn_parameters_and_names_what_it_ignored(served):
    server, orch = served
    status, body = post(server, {**ASK, "temperature": 0.2, "top_p": 0.9, "user": "me",
                                 "max_tokens": 50})
    assert status == 200
    # temperature, top_p and max_tokens reach the orchestrator's turn; `user` has no effect.
    sent = orch.requests[-1]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (0.2, 0.9, 50)
    assert body["math_router"]["ignored_fields"] == ["user"]
    # Asked again at another temperature: not the cached answer of the first.
    before = len(orch.requests)
    status, _ = post(server, {**ASK, "temperature": 0.3})
    assert status == 200 and len(orch.requests) == before + 1


@pytest.mark.parametrize("raw", [b"[" * 1000 + b"]" * 1000, b'{"a":' * 1000 + b"1" + b"}" * 1000])
def test_serve_answers_deeply_nested_json_with_a_400(served, raw):
    server, _ = served
    status, body = post(server, raw)
    assert status == 400 and "error" in body


def test_serve_answers_a_lone_surrogate_with_a_400_before_paying(served):
    server, orch = served
    before = len(orch.requests)
    raw = b'{"model": "llm", "messages": [{"role": "user", "content": "What is 2+2?\\ud800"}]}'
    status, body = post(server, raw)
    assert status == 400 and "not valid Unicode" in body["error"]["message"]
    assert len(orch.requests) == before


def test_a_server_that_trickles_its_headers_is_bounded_by_timeout():
    import time

    from math_router.testing import Reply

    def slow_headers(request):
        return Reply(body=completion("So \\boxed{4}.").body, header_trickle=0.5)

    with ChatServer(slow_headers) as orch:
        start = time.monotonic()
        result = solve("What is 2+2?", "--method", "llm", "--base-url", orch.url, "--timeout", "2")
        took = time.monotonic() - start
    assert "did not answer in time" in one_line(result)
    assert took < 3 * 2 + 5  # three tries (the SDK retries twice) of 2 s each, and its backoff


def test_serve_closes_slow_requests_and_caps_one_clients_connections(tmp_path):
    import socket
    import time
    import urllib.request

    from tests.test_server import orchestrator, specialist, start

    def health(server) -> int:
        base = server.url.rsplit("/v1", 1)[0]
        with urllib.request.urlopen(base + "/health", timeout=10) as response:
            return response.status

    def closed(sock: socket.socket, within: float) -> bool:
        sock.settimeout(within)
        try:
            return sock.recv(1) == b""
        except socket.timeout:
            return False
        except ConnectionError:
            return True

    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        server = start(tmp_path, orch, spec, "--methods", "llm", "--read-timeout", "1.5",
                       "--max-connections-per-client", "6")
        host, port = server.url.split("//")[1].split("/")[0].split(":")
        try:
            trickler = socket.create_connection((host, int(port)))
            trickler.sendall(b"POST /v1/chat/completions HTTP/1.1\r\n")
            idle = [socket.create_connection((host, int(port))) for _ in range(5)]
            extra = socket.create_connection((host, int(port)))  # the seventh from this address
            assert closed(extra, 2.0)
            for _ in range(4):  # a header byte now and then does not keep it open
                time.sleep(0.5)
                try:
                    trickler.sendall(b"X")
                except OSError:
                    break
            assert closed(trickler, 2.0) and all(closed(s, 2.0) for s in idle)
            assert health(server) == 200  # the slots are free again
        finally:
            server.proc.terminate()
            server.proc.wait(10)


def test_serve_stops_a_question_whose_client_went_away(tmp_path):
    import time

    import openai

    from math_router.testing import has_tool_result, tool_call, user_question
    from tests.test_server import specialist, start

    def never_done(request):  # calls slm_help every turn, a second a turn, never answers
        if "tools" in request:
            return Reply(body=completion(tool_calls=[tool_call("slm_help", {
                "question": user_question(request)})]).body, delay=1.0)
        return completion("\\boxed{1}")

    from math_router.testing import Reply

    with ChatServer(never_done) as orch, ChatServer(specialist) as spec:
        server = start(tmp_path, orch, spec, "--methods", "router", "--max-turns", "6")
        try:
            client = openai.OpenAI(base_url=server.url, api_key="-", max_retries=0, timeout=1.5)
            with pytest.raises(openai.APITimeoutError):
                client.chat.completions.create(model="router", messages=[
                    {"role": "user", "content": "What is 20 plus 22?"}])
            time.sleep(4)
            turns = len(orch.requests)
            time.sleep(2)
            assert len(orch.requests) == turns <= 3  # stopped, not six turns to the end
        finally:
            server.proc.terminate()
            server.proc.wait(10)
    logged = [json.loads(line) for line in server.log.read_text().splitlines()]
    assert logged and logged[-1]["status"] == 499
