"""The sandbox's worker process: runs code strings a model wrote, each in a fenced-off child.

Standard library only, run as a file (`python -I worker.py`), never imported by
the package. It starts in an empty environment, imports the libraries model
code uses (math, fractions, numpy, sympy) once, and then answers requests on
stdin, one JSON line each: {"code": ..., limits...} -> {"output": ..., ...}.

Each request forks a runner, which makes a fresh temporary directory and,
where the kernel allows, new namespaces, then forks the code's process: PID 1
of its namespace (so killing it kills everything it started), no network, its
own directory as the only writable place (Landlock), CPU-time, address-space,
file-size and process-count limits. The runner reads what the code prints (up
to a bound), kills it at the wall-clock limit, removes the directory and
reports.

As root, nothing of root stays with the code. The runner takes new mount, UTS,
IPC, PID and network namespaces and builds a private root: a tmpfs holding
read-only binds of what code may read (Python, its libraries, /usr, /lib,
/etc with its secret files masked) and, at the code's folder, a tmpfs of the
disk cap; the host's other paths (its homes, /tmp, /run and their sockets)
are not there. The code's process mounts its own /proc, enters that root,
drops every capability (the bounding set too), sets no_new_privs and becomes
nobody, whom the binds let read Python (a /root of 0700 no longer stands in
the way). A memory cgroup caps the run's processes together.
"""

from __future__ import annotations

import ast
import ctypes
import errno
import json
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
NOBODY = 65534
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
# Files of /etc that are root's alone: masked with /dev/null in the private root.
SECRETS = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers",
           "/etc/ssh")
FS_IOC_GETFLAGS, FS_IOC_SETFLAGS = 0x80086601, 0x40086602
FS_IMMUTABLE, FS_APPEND = 0x10, 0x20

# Landlock (Linux 5.13+): syscall numbers are the same on x86-64 and arm64.
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_MAKE_CHAR, FS_MAKE_BLOCK = 1 << 6, 1 << 11  # device files: never, not even in its folder
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1

_libc = ctypes.CDLL(None, use_errno=True)

# The environment the code runs in, and the worker too (executor.worker_environment): nothing
# inherited, so no key or token; HOME and TMPDIR (the code's own folder) are added where it
# starts.
CODE_ENVIRONMENT = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1",
                    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                    "PYTHONDONTWRITEBYTECODE": "1"}


def failure_reply(stderr: str = "") -> dict:
    """The reply of a run the supervisor ended (or that could not start): no exit code."""
    return {"stdout": "", "stderr": stderr, "exit_code": None, "signal": None,
            "killed": "supervisor", "seconds": 0.0}


def landlock_abi() -> int:
    try:
        abi = _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                            ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    except Exception:
        return 0
    return max(0, abi)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def restrict_files(writable: str, readable: list[str], abi: int) -> bool:
    """Landlock: read only below `readable`, write only below `writable`; no TCP from ABI 4."""
    if abi < 1:
        return False
    handled = (1 << 13) - 1
    if abi >= 2:
        handled |= FS_REFER
    if abi >= 3:
        handled |= FS_TRUNCATE
    if abi >= 5:
        handled |= FS_IOCTL_DEV
    attr = _RulesetAttr(handled, (NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 4 else 8
    ruleset = _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                            ctypes.c_uint32(0))
    if ruleset < 0:
        return False
    read = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
    file_rights = FS_EXECUTE | FS_READ_FILE | FS_WRITE_FILE | (FS_TRUNCATE if abi >= 3 else 0)
    writes = handled & ~(FS_MAKE_CHAR | FS_MAKE_BLOCK)
    try:
        for path, rights in [(p, read) for p in readable] + [(writable, writes)]:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            if not os.path.isdir(path):
                rights &= file_rights
            rule = _PathBeneathAttr(rights, fd)
            _libc.syscall(SYS_LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH,
                          ctypes.byref(rule), ctypes.c_uint32(0))
            os.close(fd)
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return False
        return _libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) == 0
    finally:
        os.close(ruleset)


def readable_paths() -> list[str]:
    """What model code may read: Python, its libraries, and the system's shared files."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, "/usr", "/lib", "/lib64", "/bin", "/etc",
             "/dev/null", "/dev/urandom", "/dev/zero", "/proc/self", "/sys/devices/system/cpu"}
    paths.update(p for p in sys.path if p)
    return sorted(p for p in paths if os.path.exists(p))


def unshare(flags: int) -> bool:
    return _libc.unshare(ctypes.c_int(flags)) == 0


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    encode = (lambda v: None if v is None else v.encode())
    if _libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags),
                   encode(data)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount {source} on {target}: {os.strerror(code)}")


def build_root(base: str, workdir: str, readable: list[str], disk_mb: int) -> None:
    """In the runner's own mount namespace: a root at `base` holding read-only binds of
    `readable`, /dev's harmless devices, the secrets masked, and `workdir` as a tmpfs of
    `disk_mb` owned by nobody."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing done here reaches the host
    mount("tmpfs", base, "tmpfs", MS_NOSUID, "mode=755,size=16m")
    devices = ["/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"]
    for path in [p for p in readable if not p.startswith(("/proc", "/dev"))] + devices:
        if not os.path.exists(path):
            continue
        target = base + path
        if os.path.isdir(path):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "a").close()
        mount(path, target, None, MS_BIND | MS_REC)
        if not path.startswith("/dev"):
            mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
    for secret in (base + s for s in SECRETS):
        if os.path.isdir(secret):  # an empty folder in its place
            mount("tmpfs", secret, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k")
        elif os.path.exists(secret):  # an empty file in its place
            mount("/dev/null", secret, None, MS_BIND)
    os.makedirs(base + workdir, exist_ok=True)
    mount("tmpfs", base + workdir, "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={max(1, disk_mb)}m,mode=700,uid={NOBODY},gid={NOBODY}")
    os.makedirs(base + "/proc", exist_ok=True)


def enter_root(base: str, workdir: str) -> None:
    """In the code's process (PID 1 of its namespace): its own /proc, then the private root."""
    mount("proc", base + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chroot(base)
    os.chdir(workdir)


def drop_privileges() -> None:
    """Every capability, now and for good (the bounding set, no_new_privs), and the uid of nobody."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except OSError:
        last = 63
    for cap in range(last + 1):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    if os.getuid() == 0 or os.geteuid() == 0:
        raise OSError("the code's process is still root")


def clear_flags(path: str) -> None:
    """Immutable and append-only flags off every file below `path`, so it can be removed."""
    import fcntl
    import struct

    for folder, dirs, files in os.walk(path):
        for name in [folder] + [os.path.join(folder, n) for n in dirs + files]:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                flags = struct.unpack("l", fcntl.ioctl(fd, FS_IOC_GETFLAGS, struct.pack("l", 0)))[0]
                if flags & (FS_IMMUTABLE | FS_APPEND):
                    fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("l", flags & ~(FS_IMMUTABLE | FS_APPEND)))
            except OSError:
                pass
            finally:
                os.close(fd)


def set_limits(limits: dict) -> None:
    memory = int(limits["memory_mb"]) * 1024 * 1024
    cpu = max(1, int(limits["cpu_seconds"]))
    for name, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, cpu),
                        (resource.RLIMIT_FSIZE, int(limits["file_mb"]) * 1024 * 1024),
                        (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, 64),
                        (resource.RLIMIT_NPROC, int(limits["max_processes"]))):
        try:
            soft, hard = resource.getrlimit(name)
            capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(name, (capped, capped))
        except (ValueError, OSError):
            pass  # a limit this system will not set: the others still hold


def run_code(code: str) -> int:
    """Run `code` as a script; print the value of a last bare expression, as a notebook would
    (Qwen2.5-Math's TIR programs often end so). Errors: their last line on stderr."""
    scope = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        tree = ast.parse(code, "<code>", "exec")
        last = tree.body[-1] if tree.body else None
        shown = None
        if isinstance(last, ast.Expr) and not (
                isinstance(last.value, ast.Call) and getattr(last.value.func, "id", "") == "print"):
            shown = ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<code>", "exec"), scope)
        if shown is not None:
            value = eval(compile(shown, "<code>", "eval"), scope)
            if value is not None:
                print(value)
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 0
    except BaseException as e:  # the model reads the last line, as Qwen's executor shows it
        last = traceback.format_exception_only(type(e), e)[-1].strip()
        sys.stderr.write(last + "\n")
        return 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass


def code_process(code: str, workdir: str, out_fd: int, err_fd: int, limits: dict,
                 isolation: dict) -> None:
    """In the child: fence itself in, then run the code. Never returns."""
    try:
        os.setsid()
    except OSError:
        pass
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        os.closerange(3, 4096)  # nothing of the worker's stays open in the code's process
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        if isolation.get("private_root"):
            enter_root(isolation["private_root"], workdir)
        else:
            os.chdir(workdir)
        if isolation.get("private_root") or isolation.get("drop_uid"):
            drop_privileges()
        set_limits(limits)
        if isolation.get("landlock"):
            restrict_files(workdir, readable_paths(), isolation["landlock"])
        os.environ.clear()
        os.environ.update({**CODE_ENVIRONMENT, "HOME": workdir, "TMPDIR": workdir})
        status = run_code(code)
    except BaseException:
        status = 1
    os._exit(status if isinstance(status, int) and 0 <= status < 256 else 1)


def runner(request: dict, reply_fd: int, isolation: dict) -> None:
    """In the per-request child: make the fence, start the code, watch it, clean up, report."""
    started = time.monotonic()
    limits = request["limits"]
    workdir = tempfile.mkdtemp(prefix="math-router-code-")
    if isolation.get("drop_uid"):
        os.chown(workdir, NOBODY, NOBODY)
    flags = 0
    if isolation.get("userns"):
        flags |= CLONE_NEWUSER
    if isolation.get("pidns"):
        flags |= CLONE_NEWPID
    if isolation.get("netns"):
        flags |= CLONE_NEWNET
    if isolation.get("private_root"):
        flags |= CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC
    if flags and not unshare(flags):
        isolation = {**isolation, "userns": False, "pidns": False, "netns": False,
                     "private_root": None}
    if isolation.get("private_root"):
        base = tempfile.mkdtemp(prefix="math-router-root-")
        os.write(reply_fd, (json.dumps({"root": base}) + "\n").encode())  # the worker removes it
        try:
            build_root(base, workdir, readable_paths(), int(limits.get("disk_mb", 256)))
            isolation = {**isolation, "private_root": base}
        except OSError:  # what this kernel refused: no code runs outside the fence as root
            os.write(reply_fd, (json.dumps(failure_reply("the sandbox could not be built"))
                                + "\n").encode())
            return
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(out_r)
        os.close(err_r)
        os.close(go_w)
        os.close(reply_fd)  # the code must not speak for the runner
        os.read(go_r, 1)  # wait until the runner has put this process in its cgroup
        os.close(go_r)
        code_process(request["code"], workdir, out_w, err_w, limits, isolation)
    os.close(out_w)
    os.close(err_w)
    os.close(go_r)
    group = _join_cgroup(isolation.get("cgroup"), pid, int(limits["max_processes"]))
    memory = _join_memory_cgroup(isolation.get("memory_cgroup"), pid,
                                 int(limits.get("total_memory_mb", limits["memory_mb"])))
    os.write(go_w, b"1")
    os.close(go_w)
    os.write(reply_fd, (json.dumps({"code_pid": pid}) + "\n").encode())
    bound = int(limits["output_chars"])
    out, err, killed = bytearray(), bytearray(), None
    deadline = started + float(limits["timeout"])
    streams = {out_r: out, err_r: err}
    while streams:
        left = deadline - time.monotonic()
        if left <= 0:
            killed = "timeout"
            break
        ready, _, _ = select.select(list(streams), [], [], left)
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                del streams[fd]
                continue
            streams[fd].extend(chunk)
            if len(out) > 4 * bound or len(err) > 4 * bound:  # bytes; chars are cut below
                killed = "output"
                streams.clear()
                break
    _kill(pid, isolation)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        status = 0
    for fd in (out_r, err_r):
        os.close(fd)
    _leave_cgroup(group)
    out_of_memory = _leave_memory_cgroup(memory)
    if isolation.get("root") and not isolation.get("private_root"):
        clear_flags(workdir)  # root's code could have made a file immutable
    shutil.rmtree(workdir, ignore_errors=True)
    signalled = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    if killed is None and out_of_memory:
        killed = "memory"
    elif killed is None and signalled in (signal.SIGXCPU, signal.SIGKILL):
        killed = "cpu" if signalled == signal.SIGXCPU else "killed"
    reply = {"stdout": out.decode("utf-8", "replace"), "stderr": err.decode("utf-8", "replace"),
             "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
             "signal": signalled, "killed": killed, "seconds": time.monotonic() - started}
    os.write(reply_fd, (json.dumps(reply) + "\n").encode())


def _join_cgroup(base: str | None, pid: int, max_processes: int) -> str | None:
    """A pids cgroup of its own for the code's process, capped at `max_processes`."""
    return _make_cgroup(base, pid, {"pids.max": str(max_processes)})


def _make_cgroup(base: str | None, pid: int, settings: dict[str, str]) -> str | None:
    """A cgroup of this run under `base`, with those of `settings` the kernel offers there,
    holding `pid`."""
    if not base:
        return None
    group = os.path.join(base, f"math-router-{os.getpid()}")
    try:
        os.mkdir(group)
        for name, value in settings.items():
            if os.path.exists(os.path.join(group, name)):
                with open(os.path.join(group, name), "r+") as f:
                    f.write(value)
        with open(os.path.join(group, "cgroup.procs"), "w") as f:
            f.write(str(pid))
        return group
    except OSError:
        return group if os.path.isdir(group) else None


def _leave_cgroup(group: str | None) -> None:
    """Kill what is left in the cgroup (processes that escaped the group), then remove it."""
    if not group:
        return
    for _ in range(50):
        try:
            with open(os.path.join(group, "cgroup.procs")) as f:
                pids = [int(p) for p in f.read().split()]
        except OSError:
            break
        if not pids:
            break
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)
    try:
        os.rmdir(group)
    except OSError:
        pass


def _join_memory_cgroup(base: str | None, pid: int, megabytes: int) -> str | None:
    """A memory cgroup of its own for the code's processes together (v2 memory.max and no
    swap, or v1 memory.limit_in_bytes and its swap twin)."""
    limit = str(megabytes * 1024 * 1024)
    return _make_cgroup(base, pid, {"memory.max": limit, "memory.swap.max": "0",
                                    "memory.limit_in_bytes": limit,
                                    "memory.memsw.limit_in_bytes": limit})


def _leave_memory_cgroup(group: str | None) -> bool:
    """Empty and remove the memory cgroup; whether the cap was hit (the kernel killed for it)."""
    if not group:
        return False
    hit = False
    try:
        if os.path.exists(os.path.join(group, "memory.events")):
            with open(os.path.join(group, "memory.events")) as f:
                hit = any(line.split()[0] == "oom_kill" and int(line.split()[1]) > 0 for line in f)
        elif os.path.exists(os.path.join(group, "memory.oom_control")):
            with open(os.path.join(group, "memory.oom_control")) as f:
                hit = any(line.split()[0] == "oom_kill" and int(line.split()[1]) > 0 for line in f)
    except (OSError, ValueError, IndexError):
        pass
    _leave_cgroup(group)
    return hit


def _kill(pid: int, isolation: dict) -> None:
    """The code's process and everything it started: PID 1 of its namespace takes all with it;
    otherwise its process group (it ran setsid)."""
    for target in ((pid,) if isolation.get("pidns") else (-pid, pid)):
        try:
            os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _in_child(test) -> bool:
    """Run `test()` in a throwaway child; whether it returned True."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            ok = bool(test())
        except BaseException:
            ok = False
        os.write(w, b"1" if ok else b"0")
        os._exit(0)
    os.close(w)
    ok = os.read(r, 1) == b"1"
    os.close(r)
    os.waitpid(pid, 0)
    return ok


def _nobody_can_read_python() -> bool:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    os.listdir(os.path.dirname(os.__file__))
    return all(os.listdir(p) is not None for p in sys.path if os.path.isdir(p))


def _cgroup_candidates(controller: str) -> list[str]:
    """Where a child cgroup for `controller` could go: this process's own cgroup in the v1
    hierarchy of that controller, and in the v2 one."""
    candidates = [f"/sys/fs/cgroup/{controller}"]
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                hierarchy, names, path = line.strip().split(":", 2)
                if controller in names.split(","):
                    candidates.insert(0, f"/sys/fs/cgroup/{controller}" + path.rstrip("/"))
                if hierarchy == "0":
                    candidates.append("/sys/fs/cgroup" + path.rstrip("/"))
                    candidates.append("/sys/fs/cgroup/unified" + path.rstrip("/"))
    except OSError:
        pass
    return candidates


def _cgroup_with(controller: str, setting: str, value: str) -> str | None:
    """A cgroup folder under which this process may make a child and set `setting`."""
    for base in _cgroup_candidates(controller):
        probe = os.path.join(base, f"math-router-probe-{os.getpid()}")
        try:
            os.mkdir(probe)
        except OSError:
            continue
        try:
            # A real cgroup has its kernel files at once; a folder of a plain tmpfs does not,
            # and opening for update never creates one.
            if not os.path.exists(os.path.join(probe, "cgroup.procs")):
                continue
            with open(os.path.join(probe, setting), "r+") as f:
                f.write(value)
            return base
        except OSError:
            continue
        finally:
            try:
                os.rmdir(probe)
            except OSError:
                pass
    return None


def pids_cgroup() -> str | None:
    """A cgroup folder whose pids.max this process may set (v1 pids hierarchy, or v2), if any."""
    return _cgroup_with("pids", "pids.max", "8")


def memory_cgroup() -> str | None:
    """A cgroup folder where this process may cap memory (v2 memory.max, v1 limit_in_bytes)."""
    return _cgroup_with("memory", "memory.max", "max") or \
        _cgroup_with("memory", "memory.limit_in_bytes", str(1 << 30))


def _private_root_works(base: str, workdir: str) -> bool:
    """In a throwaway child: the fence builds, and nobody inside it can read Python."""
    if not unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC):
        return False
    build_root(base, workdir, readable_paths(), 1)
    os.chroot(base)
    os.chdir(workdir)
    drop_privileges()
    os.listdir(os.path.dirname(os.__file__))
    return all(os.listdir(p) is not None for p in sys.path if os.path.isdir(p))


def probe_isolation() -> dict:
    """What this kernel and user allow, each tried in a throwaway child."""
    root = os.geteuid() == 0
    wanted = CLONE_NEWPID | CLONE_NEWNET | (0 if root else CLONE_NEWUSER)
    namespaces = _in_child(lambda: unshare(wanted))
    # As root: the private root (mount, UTS, IPC namespaces; nobody; no capabilities) where
    # the kernel builds it, else nobody where nobody can read Python's files in place.
    private = False
    if root:  # the folders made here, so that they can be removed here once the child is gone
        base = tempfile.mkdtemp(prefix="math-router-root-")
        workdir = tempfile.mkdtemp(prefix="math-router-code-")
        private = _in_child(lambda: _private_root_works(base, workdir))
        for folder in (workdir, base):
            os.rmdir(folder)
    drop_uid = root and (private or _in_child(_nobody_can_read_python))
    # RLIMIT_NPROC binds nobody, but not root; a pids cgroup counts either.
    cgroup = pids_cgroup() if root else None
    limit = "cgroup" if cgroup else ("rlimit" if (drop_uid or not root) else None)
    return {"userns": namespaces and not root, "pidns": namespaces, "netns": namespaces,
            "private_root": private, "drop_uid": drop_uid, "cgroup": cgroup,
            "memory_cgroup": memory_cgroup() if root else None, "process_limit": limit,
            "landlock": landlock_abi(), "root": root}


def serve() -> None:
    """Answer requests on stdin, one JSON line each, until stdin closes."""
    for name in ("math", "fractions", "itertools", "collections", "decimal", "numpy", "sympy"):
        try:
            __import__(name)  # paid once here, not on every call
        except ImportError:
            pass
    isolation = probe_isolation()
    threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1
    if threads > 1:  # unshare(CLONE_NEWUSER) needs a single-threaded process
        isolation["userns"] = False
        if not isolation["root"]:
            isolation["pidns"] = isolation["netns"] = False
    _send({"ready": True, "isolation": isolation})
    for line in sys.stdin:
        request = json.loads(line)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                runner(request, w, isolation)
            finally:
                os._exit(0)
        os.close(w)
        replies = _read_lines(r)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        os.close(r)
        for base in (x["root"] for x in replies if "root" in x):
            try:
                os.rmdir(base)  # the runner's mount namespace (and its tmpfs) ended with it
            except OSError:
                pass
        result = next((x for x in replies if "stdout" in x), None)
        if result is None:  # the runner died (the code killed it): clean up after it
            code_pid = next((x["code_pid"] for x in replies if "code_pid" in x), None)
            if code_pid:
                _kill(code_pid, {"pidns": False})
            result = failure_reply()
        _send(result)


def _read_lines(fd: int) -> list[dict]:
    data = bytearray()
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError as e:
            if e.errno == errno.EINTR:
                continue
            break
        if not chunk:
            break
        data.extend(chunk)
    lines = []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            pass
    return lines


def _send(message: dict) -> None:
    sys.__stdout__.write(json.dumps(message) + "\n")
    sys.__stdout__.flush()


if __name__ == "__main__":
    serve()
