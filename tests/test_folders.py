"""One writer per output folder: a second run into a folder in use is refused in one line and
pays for nothing; the lock goes with its holder, however that ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.evals.records import read_records
from math_router.testing import ChatServer, completion, free_port
from tests.eval_cli import one_line

ROOT = Path(__file__).resolve().parents[1]


def slow(request):
    return completion("So \\boxed{4}.", model="gpt-4o-mini")


def start_solve(data: Path, out: Path, url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "cli.py", "solve", "--input", str(data), "--method",
                             "llm", "--base-url", url, "--out", str(out), "--no-progress",
                             "--concurrency", "1", "--no-cache"], cwd=ROOT,
                            env={**os.environ, "OPENAI_API_KEY": "sk-test"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(path: Path, seconds: float = 30.0) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and not (path.exists() and path.read_text().startswith("pid")):
        time.sleep(0.05)


def six_questions(tmp_path: Path) -> Path:
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps({"id": i, "question": f"What is {i}+4?"}) + "\n"
                            for i in range(6)))
    return data


def test_a_second_run_into_a_folder_in_use_is_refused_and_pays_nothing(tmp_path):
    data, out = six_questions(tmp_path), tmp_path / "out"
    with ChatServer(slow, delay=0.3) as orch:
        first = start_solve(data, out, orch.url)
        wait_for(out / ".lock")
        second = CliRunner().invoke(cli, ["solve", "--input", str(data), "--method", "llm",
                                          "--base-url", orch.url, "--out", str(out),
                                          "--no-progress"], env={"OPENAI_API_KEY": "sk-test"},
                                    catch_exceptions=False)
        line = one_line(second)
        assert "being written by another run" in line and f"pid {first.pid}" in line
        assert first.wait(60) == 0, first.stderr.read()
        assert len(orch.requests) == 6  # every row paid once
    assert sorted(r["id"] for r in read_records(out / "answers.jsonl")) == [str(i) for i in range(6)]


def test_the_lock_goes_with_a_killed_holder(tmp_path):
    data, out = six_questions(tmp_path), tmp_path / "out"
    with ChatServer(slow, delay=0.3) as orch:
        first = start_solve(data, out, orch.url)
        wait_for(out / ".lock")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        again = CliRunner().invoke(cli, ["solve", "--input", str(data), "--method", "llm",
                                         "--base-url", orch.url, "--out", str(out),
                                         "--no-progress"], env={"OPENAI_API_KEY": "sk-test"},
                                   catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert len(read_records(out / "answers.jsonl")) >= 6


def test_a_run_refused_at_its_first_request_leaves_no_folder_behind(tmp_path):
    from math_router.testing import error

    data = tmp_path / "mine.jsonl"
    data.write_text(json.dumps({"id": 1, "question": "What is 2+2?"}) + "\n")
    out = tmp_path / "never"
    with ChatServer(lambda request: error(401, "Incorrect API key provided"),
                    answer_checks=False) as orch:
        result = CliRunner().invoke(cli, ["solve", "--input", str(data), "--method", "llm",
                                          "--base-url", orch.url, "--out", str(out),
                                          "--no-progress"], env={"OPENAI_API_KEY": "sk-bad"},
                                    catch_exceptions=False)
    assert "401" in one_line(result)
    assert not out.exists()


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KB tmpfs of the test's own (root mounts one; elsewhere the test says why it skips)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def finished_eval(tmp_path: Path) -> Path:
    from tests.eval_cli import GOLD, run_eval
    from math_router.testing import answering_orchestrator

    out = tmp_path / "run"
    with ChatServer(answering_orchestrator(GOLD)) as orch:
        assert run_eval(out, orch, "--method", "llm").exit_code == 0
    return out


def test_a_full_disk_ends_report_in_one_line_and_leaves_nothing_behind(tmp_path, small_disk):
    import shutil

    out = shutil.copytree(finished_eval(tmp_path), small_disk / "run")
    (out / "comparison.json").unlink()
    before = (out / "results_llm.jsonl").read_bytes()
    fd = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)  # fill it to the last block
    try:
        while os.write(fd, b"\0" * 512):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    result = CliRunner().invoke(cli, ["report", str(out), "--no-plots"], catch_exceptions=False)
    line = one_line(result)
    assert "No space left" in line
    assert not list(out.glob("*.tmp")) and (out / "results_llm.jsonl").read_bytes() == before


def test_a_read_only_folder_ends_eval_and_report_in_one_line(tmp_path, small_disk):
    import shutil

    from tests.eval_cli import GOLD, run_eval
    from math_router.testing import answering_orchestrator

    out = shutil.copytree(finished_eval(tmp_path), small_disk / "run")
    assert subprocess.run(["mount", "-o", "remount,ro", str(small_disk)]).returncode == 0
    report = CliRunner().invoke(cli, ["report", str(out), "--no-plots"], catch_exceptions=False)
    assert "Read-only" in one_line(report)
    with ChatServer(answering_orchestrator(GOLD)) as orch:
        again = run_eval(out, orch, "--method", "llm")
        assert orch.requests == []  # nothing paid for results it could not keep
    assert "Read-only" in one_line(again)


def test_a_second_eval_into_a_folder_in_use_is_refused(tmp_path):
    from tests.eval_cli import GOLD, run_eval
    from math_router.evals.folders import one_writer
    from math_router.testing import answering_orchestrator

    out = tmp_path / "run"
    with ChatServer(answering_orchestrator(GOLD)) as orch, one_writer(out) as claim:
        claim()
        refused = run_eval(out, orch, "--method", "llm")
        assert orch.requests == []
    assert f"pid {os.getpid()}" in one_line(refused)
    assert not (out / "results_llm.jsonl").exists()
