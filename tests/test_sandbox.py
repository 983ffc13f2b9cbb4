"""The Python executor on the real sandbox: every fault ends in a bounded result for that one run,
no process is left behind, and nothing leaks."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from math_router.sandbox.executor import PythonExecutor, SandboxLimits

LIMITS = SandboxLimits(timeout=3.0, cpu_seconds=3, memory_mb=2048, max_processes=16,
                       output_chars=4000)


@pytest.fixture(scope="module")
def executor():
    ex = PythonExecutor(LIMITS, pool_size=2)
    yield ex
    ex.close()


def sandbox_processes() -> list[int]:
    """Processes whose working directory is a sandbox run's temporary directory."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd").startswith("/tmp/math-router-code-"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def leftover_directories() -> list[Path]:
    return list(Path("/tmp").glob("math-router-code-*"))


@pytest.fixture(autouse=True)
def nothing_left_behind():
    before = set(leftover_directories())
    yield
    deadline = time.time() + 5
    while sandbox_processes() and time.time() < deadline:
        time.sleep(0.05)
    assert sandbox_processes() == []
    assert set(leftover_directories()) <= before


def test_it_returns_what_the_code_printed(executor):
    result = executor.run("print(sum(range(10)))\nprint('done')")
    assert result.text == "45\ndone" and result.error is None and result.killed is None


def test_a_last_bare_expression_is_shown_and_the_libraries_import(executor):
    code = ("import math, fractions, numpy, sympy\n"
            "x = sympy.symbols('x')\n"
            "(sympy.solve(x**2 - 9, x), fractions.Fraction(1, 3) + fractions.Fraction(1, 6), "
            "int(numpy.prod([2, 3, 7])), math.comb(5, 2))")
    assert executor.run(code).text == "([-3, 3], Fraction(1, 2), 42, 10)"


def test_code_that_loops_forever_is_stopped_at_the_timeout(executor):
    start = time.time()
    result = executor.run("while True:\n    pass")
    assert result.killed in ("timeout", "cpu") and "TimeoutError" in result.text
    assert time.time() - start < LIMITS.timeout + 5


def test_a_fork_bomb_is_bounded_and_leaves_nothing_behind(executor):
    code = ("import os\n"
            "children = 0\n"
            "while True:\n"
            "    try:\n"
            "        if os.fork() == 0:\n"
            "            while True: pass\n"
            "        children += 1\n"
            "    except OSError:\n"
            "        print('fork refused after', children, flush=True)\n"
            "        break\n")
    if not executor.isolation().get("process_limit"):
        # No bomb is set off where nothing would contain it; check says so (the test below).
        pytest.skip("this machine cannot cap processes (root, no pids cgroup, Python unreadable "
                    "by nobody)")
    start = time.time()
    result = executor.run(code)
    assert time.time() - start < LIMITS.timeout + 5
    assert "fork refused after" in result.stdout
    assert int(result.stdout.split()[-1]) < LIMITS.max_processes


def test_allocating_50_gb_is_a_memory_error(executor):
    assert executor.run("x = bytearray(50 * 10**9)").text == "MemoryError"


def test_printing_a_gigabyte_is_cut(executor):
    result = executor.run("while True:\n    print('x' * 1000)")
    assert result.killed == "output"
    assert len(result.text) < LIMITS.output_chars + 200 and "output cut at 4,000" in result.text


def test_no_secret_reaches_the_code(executor, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    fresh = PythonExecutor(LIMITS, pool_size=1)  # a worker started while the key is set
    try:
        result = fresh.run("import os\nprint(sorted(os.environ))\nprint(os.environ['HOME'])")
    finally:
        fresh.close()
    assert "sk-must-not-leak" not in result.text and "OPENAI_API_KEY" not in result.text
    home = result.text.splitlines()[-1]
    assert home.startswith("/tmp/math-router-code-") and home != os.path.expanduser("~")


def test_the_code_cannot_reach_the_network(executor):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    accepted = []

    def accept():
        try:
            accepted.append(listener.accept())
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    result = executor.run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
                          "print('connected')")
    thread.join()
    listener.close()
    isolation = executor.isolation()
    if not (isolation["netns"] or isolation["landlock"] >= 4):
        pytest.skip("this kernel offers neither a network namespace nor Landlock ABI 4: the code "
                    "could connect, and check says so")
    assert "connected" not in result.text and result.error and accepted == []


def test_the_code_cannot_write_or_read_outside_its_directory(executor, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2")
    target = tmp_path / "escaped.txt"
    if not executor.isolation()["landlock"]:
        pytest.skip("this kernel offers no Landlock: files are not fenced, and check says so")
    result = executor.run(f"open({str(target)!r}, 'w').write('x')")
    # Landlock refuses it; in the private root (as root) the host's path is not even there.
    refusal = "FileNotFoundError" if executor.isolation().get("private_root") else "PermissionError"
    assert refusal in result.text and not target.exists()
    assert "hunter2" not in executor.run(f"print(open({str(secret)!r}).read())").text


def test_the_code_writes_and_reads_its_own_directory(executor):
    inside = executor.run("open('notes.txt', 'w').write('ok'); print(open('notes.txt').read())")
    assert inside.text == "ok"


def test_check_names_each_fence_this_machine_lacks(executor):
    from math_router.checks import describe_isolation

    bare = describe_isolation({"netns": False, "landlock": 0, "process_limit": None})
    assert all(word in bare for word in ("network NOT blocked", "files NOT fenced",
                                         "processes NOT limited"))
    here = describe_isolation(executor.isolation())
    isolation = executor.isolation()
    assert ("network NOT blocked" in here) == (not isolation["netns"] and isolation["landlock"] < 4)
    assert ("files NOT fenced" in here) == (not isolation["landlock"])
    assert ("processes NOT limited" in here) == (not isolation.get("process_limit"))


def test_missing_modules_and_exceptions_are_one_line(executor):
    assert executor.run("import no_such_module_xyz").text == \
        "ModuleNotFoundError: No module named 'no_such_module_xyz'"
    assert executor.run("print('partial')\nraise ValueError('bad input')").text == \
        "partial\nValueError: bad input"
    assert executor.run("def f(:\n  pass").text.startswith("SyntaxError")


def test_code_that_kills_its_parent_harms_nothing(executor):
    result = executor.run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('still here')")
    assert result.killed in (None, "supervisor", "killed")
    assert executor.run("print(6 * 7)").text == "42"  # the executor still works


def test_concurrent_runs_do_not_wait_for_each_other(executor):
    results = {}

    def run(i):
        results[i] = executor.run(f"import time\ntime.sleep(1)\nprint({i})")

    start = time.time()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i].text for i in range(2)] == ["0", "1"]
    assert time.time() - start < 1.9
