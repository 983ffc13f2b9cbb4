"""Run Python a model wrote, in a separate process with guards, and return what it printed.

    executor = PythonExecutor()
    result = executor.run("print(2**10)")
    result.text        # "1024": stdout, then the last line of an error; what a model reads

Guards, each with a default (`SandboxLimits`): a wall-clock timeout (10 s), a
CPU-time limit, an address-space limit (2 GB), a file-size limit, a process
limit, output cut at 4,000 characters, a fresh temporary directory removed
afterwards, an empty environment (no API keys, no tokens), and where Linux
allows: new user, PID and network namespaces (no network; killing the code's
process kills all it started), Landlock (it may write only in its directory and
read only Python and system files), and when running as root, a private root
(mount, UTS and IPC namespaces too; the host's other paths hidden; its folder a
tmpfs of `disk_mb`), no capabilities, the uid of nobody and a memory cgroup for
all its processes (`total_memory_mb`). `isolation()` says which are in force here. It is not a container: it
shares the kernel, and where namespaces or Landlock are missing the guards that
remain are limits, not walls.

Start-up is paid once: a worker process imports numpy and sympy, then forks a
child per call (`warm=False` starts a fresh interpreter per call instead).
Workers are kept in a small pool so concurrent callers do not wait for each
other. Imports nothing else of this package.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

WORKER = Path(__file__).with_name("worker.py")


@dataclass(frozen=True)
class SandboxLimits:
    timeout: float = 10.0  # wall-clock seconds per run
    cpu_seconds: int = 10
    memory_mb: int = 2048  # address space, the libraries' own included
    max_processes: int = 32
    file_mb: int = 64  # largest file the code may write
    output_chars: int = 4000  # what comes back is cut to this
    total_memory_mb: int = 2048  # all the run's processes together (a memory cgroup, as root)
    disk_mb: int = 256  # its folder's size (a tmpfs of this size in the private root, as root)


@dataclass(frozen=True)
class Execution:
    """One run of a code string."""

    code: str
    stdout: str
    error: str | None  # the last line of the traceback, or why the run was stopped
    seconds: float
    killed: str | None = None  # "timeout", "output", "cpu", "killed", "supervisor"
    isolation: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        """What the model reads: the output, then the error line, cut to the bound."""
        parts = [self.stdout.rstrip("\n")] if self.stdout.strip() else []
        if self.error:
            parts.append(self.error)
        return "\n".join(parts)

    def as_dict(self) -> dict:
        return {"code": self.code, "output": self.text, "seconds": round(self.seconds, 4),
                "killed": self.killed, "error": self.error}


class PythonExecutor:
    """Runs code strings in sandboxed child processes; thread-safe, workers started on first use."""

    def __init__(self, limits: SandboxLimits = SandboxLimits(), *, warm: bool = True,
                 pool_size: int = 4):
        self.limits = limits
        self.warm = warm
        self.pool_size = pool_size
        self._idle: list[_Worker] = []
        self._count = 0
        self._lock = threading.Condition()
        self._isolation: dict | None = None

    def run(self, code: str) -> Execution:
        """Run `code`; always returns (a failure is an Execution with an error), never raises."""
        request = {"code": code, "limits": asdict(self.limits)}
        worker = self._take()
        try:
            reply = worker.ask(request, self.limits.timeout + 15.0)
        except _WorkerGone as gone:
            worker.close()
            worker = None
            from math_router.sandbox.worker import failure_reply

            reply = {**failure_reply(), "error": f"the sandbox failed: {gone}"}
        finally:
            self._give_back(worker)
        return self._execution(code, reply)

    def isolation(self) -> dict:
        """Which guards this machine allows: namespaces, Landlock ABI, uid drop."""
        if self._isolation is None:
            worker = self._take()
            self._give_back(worker)
        return dict(self._isolation or {})

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()

    def _execution(self, code: str, reply: dict) -> Execution:
        bound = self.limits.output_chars
        stdout = reply.get("stdout", "")
        killed = reply.get("killed")
        error = reply.get("error")
        if len(stdout) > bound:
            stdout = stdout[:bound] + f"\n... (output cut at {bound:,} characters)"
        stderr_lines = [line for line in reply.get("stderr", "").splitlines() if line.strip()]
        if error is None and killed == "timeout":
            error = f"TimeoutError: stopped after {self.limits.timeout:g} s"
        elif error is None and killed == "output":
            error = f"OutputLimit: stopped after printing more than {bound:,} characters"
        elif error is None and killed == "cpu":
            error = f"TimeoutError: stopped after {self.limits.cpu_seconds} s of CPU time"
        elif error is None and killed in ("killed", "supervisor"):
            error = "Killed: the code's process was killed"
        elif error is None and stderr_lines and reply.get("exit_code") not in (0, None):
            error = stderr_lines[-1][:500]
        elif error is None and reply.get("signal"):
            error = f"Killed by signal {reply['signal']}"
        return Execution(code, stdout, error, float(reply.get("seconds", 0.0)), killed,
                         dict(self._isolation or {}))

    def _take(self) -> _Worker:
        with self._lock:
            while True:
                if self._idle:
                    return self._idle.pop()
                if self._count < self.pool_size:
                    self._count += 1
                    break
                self._lock.wait()
        try:
            worker = _Worker(warm=self.warm)
        except BaseException:
            with self._lock:
                self._count -= 1
                self._lock.notify()
            raise
        if self._isolation is None:
            self._isolation = worker.isolation
        return worker

    def _give_back(self, worker: _Worker | None) -> None:
        with self._lock:
            if worker is not None and worker.alive() and self.warm:
                self._idle.append(worker)
            else:
                if worker is not None:
                    worker.close()
                self._count -= 1
            self._lock.notify()


class _WorkerGone(Exception):
    pass


def worker_environment() -> dict:
    """No inherited variables: the worker (and the code) never see keys or tokens. The one
    definition is the worker's own (imported here when a worker starts, not before)."""
    from math_router.sandbox.worker import CODE_ENVIRONMENT

    return dict(CODE_ENVIRONMENT)


class _Worker:
    """One worker process (see worker.py), spoken to in JSON lines."""

    def __init__(self, warm: bool = True):
        self.warm = warm
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=worker_environment(), cwd="/", start_new_session=True,
            close_fds=True)
        hello = self._read(60.0)
        if not hello.get("ready"):
            self.close()
            raise _WorkerGone("the sandbox worker did not start")
        self.isolation = hello.get("isolation", {})

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ask(self, request: dict, timeout: float) -> dict:
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise _WorkerGone("the sandbox worker is gone") from None
        reply = self._read(timeout)
        if not self.warm:
            self.close()
        return reply

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        out = self.proc.stdout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _WorkerGone("the sandbox worker did not answer in time")
            ready, _, _ = select.select([out], [], [], left)
            if ready:
                line = out.readline()
                if not line:
                    raise _WorkerGone("the sandbox worker exited")
                try:
                    return json.loads(line)
                except ValueError:
                    continue

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
