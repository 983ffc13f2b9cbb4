"""--max-cost and --max-time: a job stops starting problems before its budget is passed, keeps
what finished, exits 3, and the same command goes on."""

from __future__ import annotations

import json

from click.testing import CliRunner

from math_router.cli import cli
from math_router.evals.budget import Budget
from math_router.testing import ChatServer, completion, user_question
from tests.eval_cli import GOLD, N, PROBLEMS, run_eval

# gpt-4o-mini's list price: 100 in, 20 out = 0.000027 USD a problem.
PER_PROBLEM = (100 * 0.15 + 20 * 0.60) / 1e6


def orchestrator(request):
    return completion(f"\\boxed{{{GOLD[user_question(request)]}}}", prompt_tokens=100,
                      completion_tokens=20, model="gpt-4o-mini")


def spent(cost):
    return {"error": None, "spent": {"cost_usd": cost}}


def test_a_problem_starts_only_if_every_one_in_flight_and_it_fit():
    clock = [0.0]
    budget = Budget(max_cost=0.10, clock=lambda: clock[0])
    assert budget.verdict(0) == "go"  # the first problem goes, alone: nothing is known of costs yet
    assert budget.verdict(1) == "wait"
    budget.add(spent(0.03))
    assert budget.verdict(1) == "go"  # 0.03 + 2 x 0.03 <= 0.10
    assert budget.verdict(2) == "stop" and "--max-cost 0.1" in budget.reason
    assert budget.verdict(0) == "stop"  # once stopped, it stays stopped

    timed = Budget(max_seconds=5, clock=lambda: clock[0])
    clock[0] = 100.0  # loading and checks before the first problem do not count
    assert timed.verdict(10) == "go"
    clock[0] = 105.0
    assert timed.verdict(0) == "stop" and "--max-time 5 s" in timed.reason

    unknown = Budget(max_cost=1.0)
    unknown.add(spent(None))
    assert unknown.verdict(0) == "stop" and "--price" in unknown.reason
    free = Budget(max_cost=0.0)
    free.add({"error": "boom", "spent": {"cost_usd": 5.0}})  # a failed problem paid nothing here
    assert free.verdict(0) == "go"


def records(out):
    return [json.loads(line) for line in (out / "results_llm.jsonl").read_text().splitlines()]


def test_eval_stops_before_the_budget_then_the_same_command_goes_on(tmp_path):
    out = tmp_path / "run"
    with ChatServer(orchestrator) as orch:
        first = run_eval(out, orch, "--method", "llm", "--max-cost", str(3.5 * PER_PROBLEM),
                         "--no-cache")
        assert first.exit_code == 3, first.output
        # After one problem the dearest costs PER_PROBLEM: three fit in 3.5 of them, a fourth not.
        assert len(records(out)) == 3
        assert "stopped: --max-cost" in first.output and str(out) in first.output
        assert json.loads((out / "comparison.json").read_text())["methods"]["llm"]["n"] == 3
        again = run_eval(out, orch, "--method", "llm", "--max-cost", "1", "--no-cache")
        assert again.exit_code == 0, again.output
        assert len(orch.requests) == N
    assert sorted(r["id"] for r in records(out)) == sorted(p.id for p in PROBLEMS)


def test_max_time_starts_nothing_after_it(tmp_path):
    out = tmp_path / "run"
    with ChatServer(orchestrator, delay=0.3) as orch:
        result = run_eval(out, orch, "--method", "llm", "--max-time", "0.1", "--no-cache")
    assert result.exit_code == 3 and "--max-time 0.1 s reached" in result.output
    assert len(records(out)) == 1  # the one started before the deadline finished and is kept


def test_an_unknown_price_stops_a_budgeted_run(tmp_path):
    out = tmp_path / "run"
    with ChatServer(orchestrator, models=("house-model",)) as orch:
        result = run_eval(out, orch, "--method", "llm", "--model", "house-model",
                          "--max-cost", "1", "--no-cache")
    assert result.exit_code == 3 and "--price" in result.output
    assert len(records(out)) == 1


def solve_one_problems_worth(tmp_path, orch):
    """solve --input on the problems, with a budget for one and a half of them."""
    rows = tmp_path / "mine.jsonl"
    rows.write_text("".join(json.dumps({"question": p.question}) + "\n" for p in PROBLEMS))
    out = tmp_path / "answers"
    return out, CliRunner().invoke(cli, [
        "solve", "--input", str(rows), "--method", "llm", "--out", str(out), "--base-url",
        orch.url, "--concurrency", "1", "--no-progress", "--no-cache",
        "--max-cost", str(1.5 * PER_PROBLEM)], env={"OPENAI_API_KEY": "sk-test"},
        catch_exceptions=False)


def test_solve_input_stops_at_the_budget_with_its_summary(tmp_path):
    with ChatServer(orchestrator) as orch:
        out, result = solve_one_problems_worth(tmp_path, orch)
    assert result.exit_code == 3, result.output
    assert "stopped: --max-cost" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["answered"] == 1 and summary["unanswered"] == N - 1
    assert len((out / "answers.jsonl").read_text().splitlines()) == 1
    assert (out / "answers.csv").exists()


def test_budget_flags_are_for_many_problems_not_one_question():
    result = CliRunner().invoke(cli, ["solve", "What is 2+2?", "--max-cost", "1"])
    assert result.exit_code != 0 and "--max-cost: only with --input FILE" in result.output


# -- --dry-run ------------------------------------------------------------------------------


def test_dry_run_prices_the_plan_and_runs_nothing(tmp_path):
    from math_router.evals.plan import TYPICAL

    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["eval", "--dry-run", "--method", "llm,slm", "--n", "10",
                                      "--out", str(out)], env={"OPENAI_API_KEY": "sk-test"})
    assert result.exit_code == 0, result.output
    assert not out.exists()  # nothing written, nothing built
    llm = TYPICAL["llm"]
    expected = 10 * (llm.orchestrator_input * 0.10 + llm.orchestrator_output * 0.50) / 1e6
    assert f"${expected:.4f}" in result.output  # gpt-6-luna's list price
    assert "10 of 10" in result.output and "nothing was run" in result.output


def test_dry_run_counts_what_is_left_from_the_folders_own_records(tmp_path):
    out = tmp_path / "run"
    with ChatServer(orchestrator) as orch:
        first = run_eval(out, orch, "--method", "llm", "--max-cost", str(1.5 * PER_PROBLEM),
                         "--no-cache")
        assert first.exit_code == 3
        asked = len(orch.requests)
        result = run_eval(out, orch, "--method", "llm", "--dry-run")
        assert len(orch.requests) == asked  # a plan sends nothing
    assert result.exit_code == 0, result.output
    assert f"{N - 1} of {N}" in result.output and "1 earlier records" in result.output
    # The earlier problem's 100 in / 20 out, for each problem left, at gpt-4o-mini's price.
    assert f"${(N - 1) * PER_PROBLEM:.4f}" in result.output


def test_dry_run_of_a_local_orchestrator_costs_nothing_and_an_unknown_price_is_said(tmp_path):
    local = CliRunner().invoke(cli, ["eval", "--dry-run", "--method", "llm", "--n", "5"], env={})
    assert local.exit_code == 0 and "$0.0000" in local.output
    unknown = CliRunner().invoke(cli, ["eval", "--dry-run", "--method", "llm", "--n", "5",
                                       "--model", "house-model"], env={"OPENAI_API_KEY": "sk-test"})
    assert unknown.exit_code == 0 and "unknown price" in unknown.output


# -- --resume DIR ---------------------------------------------------------------------------


def test_resume_reads_the_command_back_from_run_json_without_its_secrets(tmp_path):
    out = tmp_path / "run"
    with ChatServer(orchestrator) as orch:
        first = run_eval(out, orch, "--method", "llm", "--max-cost", str(1.5 * PER_PROBLEM),
                         "--no-cache", "--price", "gpt-4o-mini=0.15,0.60",
                         "--api-key", "sk-secret-123")
        assert first.exit_code == 3, first.output
        info = json.loads((out / "run.json").read_text())
        command = info["command"]
        assert command[0] == "eval" and "--no-cache" in command and "sk-secret-123" not in command
        assert "--max-cost" not in command and "--out" not in command
        assert command[command.index("--base-url") + 1] == orch.url
        resumed = CliRunner().invoke(cli, ["eval", "--resume", str(out), "--no-progress"],
                                     env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)
        assert resumed.exit_code == 0, resumed.output
        assert "resuming: math-router eval" in resumed.output
    assert sorted(r["id"] for r in records(out)) == sorted(p.id for p in PROBLEMS)
    settings = json.loads((out / "run.json").read_text())["methods"]["llm"]["settings"]
    assert settings["prices"]["gpt-4o-mini"]["input_per_million"] == 0.15


def test_resume_refuses_flags_that_would_change_the_run(tmp_path):
    out = tmp_path / "run"
    with ChatServer(orchestrator) as orch:
        assert run_eval(out, orch, "--method", "llm", "--n", "2").exit_code == 0
    result = CliRunner().invoke(cli, ["eval", "--resume", str(out), "--n", "3"])
    assert result.exit_code != 0 and "leave out --n" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["eval", "--resume", str(empty)])
    assert result.exit_code != 0 and "holds no `eval` run to resume" in result.output


def test_solve_input_resumes_from_its_folder(tmp_path):
    with ChatServer(orchestrator) as orch:
        out, first = solve_one_problems_worth(tmp_path, orch)
        assert first.exit_code == 3, first.output
        again = CliRunner().invoke(cli, ["solve", "--resume", str(out), "--no-progress"],
                                   env={"OPENAI_API_KEY": "sk-test"})
    assert again.exit_code == 0, again.output
    assert len((out / "answers.jsonl").read_text().splitlines()) == N


def test_ctrl_c_after_the_folder_is_made_says_resume_dir_and_never_a_key(tmp_path, monkeypatch):
    from math_router.evals import runner

    out = tmp_path / "run"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_solve_all", interrupted)
    monkeypatch.setattr("sys.argv", ["math-router", "eval", "--api-key", "sk-secret-9"])
    with ChatServer(orchestrator) as orch:
        result = run_eval(out, orch, "--method", "llm", "--api-key", "sk-secret-9")
    line = result.output.strip().splitlines()[-1]
    assert result.exit_code == 1 and f"to resume: math-router eval --resume {out}" in line
    assert "sk-secret-9" not in result.output


def test_latency_sample_answers_again_one_at_a_time_without_the_cache(tmp_path):
    out = tmp_path / "run"
    with ChatServer(orchestrator, delay=0.05) as orch:
        result = run_eval(out, orch, "--method", "llm", "--concurrency", "3",
                          "--latency-sample", "2")
        assert result.exit_code == 0, result.output
        # Every problem once, then two again: the cache answered none of those two.
        assert len(orch.requests) == N + 2
    alone = [json.loads(line) for line in (out / "latency_llm.jsonl").read_text().splitlines()]
    assert [r["id"] for r in alone] == [p.id for p in PROBLEMS[:2]]
    assert all(r["cached_calls"] == 0 and r["seconds"] >= 0.05 for r in alone)
    llm = json.loads((out / "comparison.json").read_text())["methods"]["llm"]
    assert llm["latency_alone"]["n"] == 2 and llm["latency_alone"]["concurrency"] == 1
    assert llm["concurrency"] == 3
    report = CliRunner().invoke(cli, ["report", str(out), "--no-plots"])
    assert "median s alone (n)" in report.output and "(2)" in report.output


def test_a_budgeted_run_starts_alone_then_at_its_concurrency(tmp_path):
    import threading
    import time

    lock, state = threading.Lock(), {"now": 0, "most": 0, "first_alone": None}

    def counting(request):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            if state["first_alone"] is None:
                state["first_alone"] = state["now"] == 1
        time.sleep(0.2)
        with lock:
            state["now"] -= 1
        return orchestrator(request)

    with ChatServer(counting) as orch:
        result = run_eval(tmp_path / "run", orch, "--method", "llm", "--concurrency", "3",
                          "--max-cost", "1", "--no-cache")
    assert result.exit_code == 0, result.output
    assert state["first_alone"] and state["most"] == 3  # no worker was lost to the wait


def test_max_cost_with_the_batch_api_is_refused(tmp_path):
    with ChatServer(orchestrator) as orch:
        result = run_eval(tmp_path / "run", orch, "--method", "llm", "--batch-api",
                          "--max-cost", "1")
    assert result.exit_code == 1 and "--max-cost with --batch-api" in result.output
