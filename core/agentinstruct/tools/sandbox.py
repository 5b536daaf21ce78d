"""Run untrusted Python in a separate, resource-limited process.

This is the "code interpreter" tool of the method doc (§1.1, §8.5): coding items are validated by
running the teacher's code against generated tests. Each run gets:

* a fresh temporary working directory, removed afterwards, and an environment holding only a few
  fixed variables (``HOME``/``TMPDIR`` point into the working directory, no ``PATH``);
* an interpreter started with ``-s -S -P -B -u``: no site, no user site, no script directory on
  ``sys.path``, no bytecode files, unbuffered output. (``-I`` would also imply ``-E``, which makes the
  interpreter ignore ``PYTHONHASHSEED``; the environment is built from scratch here, so ``-E`` adds
  no isolation, and keeping it out makes string hashing, and so set ordering, reproducible);
* resource limits (address space, CPU seconds, file size, open files, no core dumps), its own
  session/process group so the whole group can be killed, and ``PR_SET_PDEATHSIG``;
* when running as root on Linux: a new network namespace (only a down loopback, so nothing
  connects), a private mount namespace in which every mount is read-only except the working
  directory, and a capability bounding set reduced to file-read/write access checks, with
  ``no_new_privs``. Each step is best effort: if the kernel refuses one, the run continues
  without it;
* always, an audit hook installed by a bootstrap before the user code runs. It rejects
  network calls, process creation, ``ctypes``, signals to other processes, raising the enforced
  resource limits and file-system writes outside the working directory, by raising
  ``PermissionError``. Audit hooks are not a hard security boundary; the namespaces are.

Output is read incrementally; a stream that exceeds ``max_output_bytes`` gets the process group
killed. A wall-clock timeout kills the process group too.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import math
import os
import platform
import resource
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, ClassVar, Literal

from pydantic import BaseModel

__all__ = [
    "KilledReason",
    "SandboxResult",
    "TestOutcome",
    "TestRunResult",
    "run_python",
    "run_tests",
]

KilledReason = Literal["timeout", "memory", "output"]

FILE_SIZE_LIMIT_BYTES = 10 * 1024 * 1024
OPEN_FILES_LIMIT = 64
PROCESS_LIMIT = 256
MIN_MEMORY_MB = 48
MAIN_FILE = "main.py"
SOLUTION_FILE = "solution.py"
_TAIL_BYTES = 4096
_ERROR_CHARS = 500
_PYTHON_FLAGS = ("-s", "-S", "-P", "-B", "-u")


class SandboxResult(BaseModel):
    ok: bool
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    killed_reason: KilledReason | None = None
    duration_s: float
    stdout_truncated: bool = False
    stderr_truncated: bool = False


class TestOutcome(BaseModel):
    __test__: ClassVar[bool] = False  # not a pytest test class

    index: int
    passed: bool
    error: str | None = None


class TestRunResult(BaseModel):
    __test__: ClassVar[bool] = False  # not a pytest test class

    passed: int
    failed: int
    errors: list[str]
    setup_error: str | None
    all_passed: bool
    outcomes: list[TestOutcome]
    sandbox: SandboxResult


# --------------------------------------------------------------------------------------------------
# Child-side bootstrap
# --------------------------------------------------------------------------------------------------

_BOOTSTRAP = r"""
import os
import sys


def _sandbox_bootstrap():
    mode, root, code_path = sys.argv[2], os.path.realpath(sys.argv[3]), sys.argv[4]
    extra = sys.argv[5:]

    def _no_fork_exec(*args, **kwargs):
        raise PermissionError("[sandbox] starting processes is not permitted")

    try:
        import _posixsubprocess

        _posixsubprocess.fork_exec = _no_fork_exec
    except Exception:
        pass
    import json
    import linecache
    import resource
    import traceback
    import types

    blocked = frozenset({
        "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto", "socket.sendmsg",
        "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo", "socket.sethostname",
        "subprocess.Popen", "os.system", "os.exec", "os.fork", "os.forkpty", "os.posix_spawn",
        "os.spawn", "os.startfile", "pty.spawn", "webbrowser.open",
    })
    blocked_imports = frozenset({"_ctypes", "ctypes", "_posixsubprocess"})
    guarded_limits = frozenset({
        resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_FSIZE, resource.RLIMIT_NOFILE,
        resource.RLIMIT_CORE, resource.RLIMIT_NPROC,
    })
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    devices = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr"})
    # event -> ((path argument, dir_fd argument or None, follow symlinks), ...)
    fs_events = {
        "os.remove": ((0, 1, False),),
        "os.rmdir": ((0, 1, False),),
        "os.mkdir": ((0, 2, False),),
        "os.chmod": ((0, 2, True),),
        "os.chown": ((0, 3, True),),
        "os.utime": ((0, 3, True),),
        "os.truncate": ((0, None, True),),
        "os.rename": ((0, 2, False), (1, 3, False)),
        "os.link": ((1, 3, False),),
        "os.symlink": ((1, 2, False),),
        "os.setxattr": ((0, None, True),),
        "os.removexattr": ((0, None, True),),
        "shutil.rmtree": ((0, 1, False),),
    }
    prefix = root.rstrip(os.sep) + os.sep
    readlink, realpath, getcwd = os.readlink, os.path.realpath, os.getcwd
    join, dirname, basename, normpath = os.path.join, os.path.dirname, os.path.basename, os.path.normpath

    def inside(path, dir_fd=None, follow=True):
        try:
            if isinstance(path, int):
                full = readlink("/proc/self/fd/%d" % path)
                if not full.startswith("/"):
                    return True
            else:
                name = os.fsdecode(os.fspath(path))
                if dir_fd is not None and dir_fd >= 0 and not name.startswith("/"):
                    base = readlink("/proc/self/fd/%d" % dir_fd)
                else:
                    base = getcwd()
                full = join(base, name)
            if normpath(full) in devices:
                return True
            if follow:
                real = realpath(full)
            else:
                real = join(realpath(dirname(full.rstrip("/")) or "/"), basename(full.rstrip("/")))
            return real == root or real.startswith(prefix)
        except Exception:
            return False

    def deny(event):
        raise PermissionError("[sandbox] %s is not permitted" % event)

    def hook(event, args):
        if event == "open":
            mode, flags = args[1], args[2]
            if (flags & write_flags or (isinstance(mode, str) and any(c in mode for c in "wax+"))) and not inside(
                args[0]
            ):
                deny("writing outside the working directory")
        elif event == "import":
            if args[0] in blocked_imports:
                raise ImportError("[sandbox] import of %s is not permitted" % args[0], name=args[0])
        elif event in blocked or event.startswith("ctypes."):
            deny(event)
        elif event in fs_events:
            for path_arg, fd_arg, follow in fs_events[event]:
                dir_fd = args[fd_arg] if fd_arg is not None else None
                if not inside(args[path_arg], dir_fd, follow):
                    deny(event + " outside the working directory")
        elif event == "os.kill":
            if args[0] not in (0, os.getpid()):
                deny("signalling other processes")
        elif event == "os.killpg":
            if args[0] not in (0, os.getpgid(0)):
                deny("signalling other process groups")
        elif event == "resource.setrlimit":
            if args[0] in guarded_limits:
                deny("changing the sandbox limit %r" % (args[0],))
        elif event == "resource.prlimit":
            if args[0] not in (0, os.getpid()) or (args[2] is not None and args[1] in guarded_limits):
                deny("changing the sandbox limits")

    sys.addaudithook(hook)
    sys.path.insert(0, root)

    def describe(exc, filename, source):
        try:
            text = str(exc)
        except Exception:
            text = ""
        message = type(exc).__name__ + (": " + text if text else "")
        lineno = None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                lineno = tb.tb_lineno
            tb = tb.tb_next
        if isinstance(exc, SyntaxError) and exc.filename == filename:
            lineno = exc.lineno
        if lineno and source:
            lines = source.splitlines()
            if 0 < lineno <= len(lines):
                message += " (line %d: %s)" % (lineno, lines[lineno - 1].strip())
        return message[:%(error_chars)d]

    def print_user_traceback(exc):
        # Hide the bootstrap's own frames (the `-c` stub and everything compiled as "<sandbox>").
        try:
            tb, depth = exc.__traceback__, 0
            node = tb
            while node is not None:
                depth += 1
                node = node.tb_next
            for _ in range(depth - 200):
                tb = tb.tb_next
            report = traceback.TracebackException(type(exc), exc, tb, limit=-200, compact=True)
            pending, seen = [report], set()
            while pending:
                item = pending.pop()
                if id(item) in seen:
                    continue
                seen.add(id(item))
                frames = list(item.stack)
                while frames and frames[0].filename == "<string>":
                    frames.pop(0)
                item.stack[:] = [f for f in frames if f.filename != "<sandbox>"]
                pending.extend(x for x in (item.__cause__, item.__context__) if x is not None)
            sys.stderr.write("".join(report.format()))
        except Exception:
            traceback.print_exception(type(exc), exc, exc.__traceback__)
        sys.stderr.flush()

    with open(code_path, encoding="utf-8") as fh:
        source = fh.read()
    # Relative name in tracebacks; linecache finds the file through sys.path[0] (the working dir).
    display_name = os.path.basename(code_path)

    if mode == "run":
        module = types.ModuleType("__main__")
        module.__file__ = code_path
        module.__builtins__ = __builtins__
        sys.modules["__main__"] = module
        sys.argv = [display_name]
        try:
            exec(compile(source, display_name, "exec"), module.__dict__)
        except SystemExit:
            raise
        except BaseException as exc:
            print_user_traceback(exc)
            sys.exit(1)
        return

    results_path, tests_path = extra[0], extra[1]
    with open(tests_path, encoding="utf-8") as fh:
        tests = json.load(fh)
    out = open(results_path, "w", encoding="utf-8")

    def emit(record):
        out.write(json.dumps(record) + "\n")
        out.flush()

    module = types.ModuleType("solution")
    module.__file__ = code_path
    module.__builtins__ = __builtins__
    sys.modules["solution"] = module
    sys.argv = [display_name]
    try:
        exec(compile(source, display_name, "exec"), module.__dict__)
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            message = "the code called sys.exit(%r) while loading" % (exc.code,)
        else:
            message = describe(exc, display_name, source)
            print_user_traceback(exc)
        emit({"setup": False, "error": message})
        out.close()
        sys.exit(0)
    emit({"setup": True})
    for index, test in enumerate(tests):
        filename = "<test %d>" % index
        linecache.cache[filename] = (len(test), None, test.splitlines(True), filename)
        namespace = dict(module.__dict__)
        namespace["__name__"] = "__main__"
        try:
            exec(compile(test, filename, "exec"), namespace)
        except BaseException as exc:
            emit({"test": index, "ok": False, "error": describe(exc, filename, test)})
        else:
            emit({"test": index, "ok": True})
        sys.stdout.flush()
    out.close()


_sandbox_bootstrap()
""".replace("%(error_chars)d", str(_ERROR_CHARS))

# The `-c` stub: compile the bootstrap (argv[1]) under its own file name, so its frames can be told
# apart from user code that itself runs exec() on strings.
_STUB = "import sys; exec(compile(sys.argv[1], '<sandbox>', 'exec'))"


# --------------------------------------------------------------------------------------------------
# Parent-side process isolation (Linux)
# --------------------------------------------------------------------------------------------------

_CLONE_NEWNS = 0x00020000
_CLONE_NEWNET = 0x40000000
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18
_AT_FDCWD = -100
_AT_RECURSIVE = 0x8000
_MOUNT_ATTR_RDONLY = 0x1
_MOUNT_ATTR_NOSUID = 0x2
_PR_SET_PDEATHSIG = 1
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_CAP_LAST = 63
_CAPS_KEPT = frozenset({1, 2})  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: root keeps reading its files
_SYS_MOUNT_SETATTR = {"x86_64": 442, "aarch64": 442, "arm64": 442, "riscv64": 442, "ppc64le": 442, "s390x": 442}


class _MountAttr(ctypes.Structure):
    _fields_ = (
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    )


@dataclass
class _Libc:
    unshare: Any
    mount: Any
    prctl: Any
    syscall: Any
    mount_setattr_nr: int | None
    read_only: _MountAttr = field(default_factory=lambda: _MountAttr(_MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID, 0, 0, 0))
    writable: _MountAttr = field(default_factory=lambda: _MountAttr(0, _MOUNT_ATTR_RDONLY, 0, 0))


_LIBC: _Libc | None = None
_LIBC_LOADED = False


def _libc() -> _Libc | None:
    """libc entry points, resolved in the parent so the forked child does not call dlopen/dlsym."""
    global _LIBC, _LIBC_LOADED
    if _LIBC_LOADED:
        return _LIBC
    _LIBC_LOADED = True
    if not sys.platform.startswith("linux"):
        return None
    try:
        lib = ctypes.CDLL(None, use_errno=True)
        unshare = lib.unshare
        unshare.argtypes = (ctypes.c_int,)
        unshare.restype = ctypes.c_int
        mount = lib.mount
        mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p)
        mount.restype = ctypes.c_int
        prctl = lib.prctl
        prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
        prctl.restype = ctypes.c_int
        syscall = lib.syscall
        syscall.argtypes = (
            ctypes.c_long,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_size_t,
        )
        syscall.restype = ctypes.c_long
    except (OSError, AttributeError):
        return None
    _LIBC = _Libc(
        unshare=unshare,
        mount=mount,
        prctl=prctl,
        syscall=syscall,
        mount_setattr_nr=_SYS_MOUNT_SETATTR.get(platform.machine().lower()),
    )
    return _LIBC


def _make_preexec(workdir: str, timeout_s: float, memory_mb: int) -> Callable[[], None]:
    """Build the function run in the child between fork and exec. It must never raise."""
    libc = _libc()
    isolate = libc is not None and os.geteuid() == 0
    workdir_b = os.fsencode(workdir)
    root_b = b"/"
    cpu = math.ceil(timeout_s) + 1
    memory = memory_mb * 1024 * 1024
    limits = (
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT_BYTES, FILE_SIZE_LIMIT_BYTES),
        (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT, OPEN_FILES_LIMIT),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NPROC, PROCESS_LIMIT, PROCESS_LIMIT),
        # Last: the forked child still maps the whole parent, so this one must come after anything
        # that might allocate.
        (resource.RLIMIT_AS, memory, memory),
    )
    caps = tuple(cap for cap in range(_CAP_LAST + 1) if cap not in _CAPS_KEPT)
    attr_size = ctypes.sizeof(_MountAttr)
    read_only_addr = ctypes.addressof(libc.read_only) if libc is not None else 0
    writable_addr = ctypes.addressof(libc.writable) if libc is not None else 0
    sigkill = int(signal.SIGKILL)

    def preexec() -> None:
        with contextlib.suppress(OSError):
            os.setsid()
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, sigkill, 0, 0, 0)
        if libc is not None and isolate:
            libc.unshare(_CLONE_NEWNET)
            if libc.unshare(_CLONE_NEWNS) == 0:
                if (
                    libc.mount_setattr_nr is not None
                    and libc.mount(None, root_b, None, _MS_REC | _MS_PRIVATE, None) == 0
                    and libc.mount(workdir_b, workdir_b, None, _MS_BIND | _MS_REC, None) == 0
                    and libc.syscall(
                        libc.mount_setattr_nr,
                        _AT_FDCWD,
                        root_b,
                        _AT_RECURSIVE,
                        read_only_addr,
                        attr_size,
                    )
                    == 0
                ):
                    libc.syscall(
                        libc.mount_setattr_nr,
                        _AT_FDCWD,
                        workdir_b,
                        _AT_RECURSIVE,
                        writable_addr,
                        attr_size,
                    )
                # The working directory was resolved before the bind mount; enter the new one.
                with contextlib.suppress(OSError):
                    os.chdir(workdir)
            for cap in caps:
                libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
            libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        for which, soft, hard in limits:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(which, (soft, hard))

    return preexec


def _child_env(workdir: str) -> dict[str, str]:
    return {
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONUTF8": "1",
    }


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------


class _Capture:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> bool:
        """Keep the chunk; True when the stream has now exceeded the limit."""
        room = self.limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
        self.total += len(chunk)
        self.tail += chunk
        if len(self.tail) > _TAIL_BYTES:
            del self.tail[: len(self.tail) - _TAIL_BYTES]
        return self.total > self.limit

    @property
    def truncated(self) -> bool:
        return self.total > self.limit

    def text(self) -> str:
        body = bytes(self.head).decode("utf-8", errors="replace")
        if self.truncated:
            body += f"\n[... output truncated: {self.total} bytes or more, limit {self.limit} ...]\n"
        return body


@dataclass
class _Run:
    result: SandboxResult
    records: list[dict[str, Any]] = field(default_factory=list)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _check_files(files: Mapping[str, str] | None, reserved: set[str]) -> list[tuple[str, str]]:
    checked: list[tuple[str, str]] = []
    for name, content in (files or {}).items():
        path = PurePosixPath(name)
        if not name or path.is_absolute() or ".." in path.parts or str(path) in (".", ""):
            raise ValueError(f"sandbox file name must be a relative path inside the sandbox: {name!r}")
        if str(path) in reserved or path.parts[0].startswith(".sandbox-"):
            raise ValueError(f"sandbox file name {name!r} is reserved")
        if not isinstance(content, str):
            raise TypeError(f"sandbox file {name!r}: content must be str")
        checked.append((str(path), content))
    return checked


def _make_workdir() -> str:
    return os.path.realpath(tempfile.mkdtemp(prefix="agentinstruct-sandbox-"))


def _prepare(workdir: str, entries: Sequence[tuple[str, str]]) -> None:
    for name, content in entries:
        target = os.path.join(workdir, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(content)


def _read_records(path: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
    except OSError:
        pass
    return records


def _validate(timeout_s: float, memory_mb: int, max_output_bytes: int) -> None:
    if not timeout_s > 0 or math.isinf(timeout_s):
        raise ValueError("timeout_s must be a positive, finite number of seconds")
    if memory_mb < MIN_MEMORY_MB:
        raise ValueError(f"memory_mb must be at least {MIN_MEMORY_MB}")
    if max_output_bytes < 0:
        raise ValueError("max_output_bytes must be >= 0")


async def _execute(
    code: str,
    *,
    mode: Literal["run", "tests"],
    stdin: str,
    timeout_s: float,
    memory_mb: int,
    max_output_bytes: int,
    files: Mapping[str, str] | None,
    tests: Sequence[str] = (),
) -> _Run:
    _validate(timeout_s, memory_mb, max_output_bytes)
    code_file = MAIN_FILE if mode == "run" else SOLUTION_FILE
    token = secrets.token_hex(8)
    results_file = f".sandbox-{token}-results.jsonl"
    tests_file = f".sandbox-{token}-tests.json"
    entries = _check_files(files, {code_file})
    entries.append((code_file, code))
    if mode == "tests":
        entries.append((tests_file, json.dumps(list(tests))))

    workdir = await asyncio.to_thread(_make_workdir)
    proc: asyncio.subprocess.Process | None = None
    try:
        await asyncio.to_thread(_prepare, workdir, entries)
        argv = [
            sys.executable,
            *_PYTHON_FLAGS,
            "-c",
            _STUB,
            _BOOTSTRAP,
            mode,
            workdir,
            os.path.join(workdir, code_file),
        ]
        if mode == "tests":
            argv += [os.path.join(workdir, results_file), os.path.join(workdir, tests_file)]
        stdin_data = stdin.encode("utf-8")
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin_data else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=workdir,
            env=_child_env(workdir),
            close_fds=True,
            preexec_fn=_make_preexec(workdir, timeout_s, memory_mb),
        )
        result = await _supervise(proc, stdin_data, timeout_s, max_output_bytes, started)
        records = _read_records(os.path.join(workdir, results_file)) if mode == "tests" else []
        return _Run(result=result, records=records)
    finally:
        if proc is not None and proc.returncode is None:
            _kill_group(proc.pid)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(proc.wait(), 5.0)
        await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)


async def _supervise(
    proc: asyncio.subprocess.Process,
    stdin_data: bytes,
    timeout_s: float,
    max_output_bytes: int,
    started: float,
) -> SandboxResult:
    stdout, stderr = proc.stdout, proc.stderr
    assert stdout is not None and stderr is not None
    out = _Capture(max_output_bytes)
    err = _Capture(max_output_bytes)
    reasons: list[KilledReason] = []

    def kill(reason: KilledReason) -> None:
        if not reasons:
            reasons.append(reason)
        if proc.returncode is None:
            _kill_group(proc.pid)

    async def pump(stream: asyncio.StreamReader, capture: _Capture) -> None:
        while chunk := await stream.read(65536):
            if capture.feed(chunk):
                kill("output")

    async def feed() -> None:
        if proc.stdin is None:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(stdin_data)
            await proc.stdin.drain()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
            proc.stdin.close()

    async def communicate() -> None:
        await asyncio.gather(feed(), pump(stdout, out), pump(stderr, err))
        await proc.wait()

    task = asyncio.ensure_future(communicate())
    try:
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            kill("timeout")
            try:
                await asyncio.wait_for(asyncio.shield(task), 5.0)
            except TimeoutError:
                # Something outside the process group still holds the pipes open.
                task.cancel()
                await proc.wait()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        _kill_group(proc.pid)
    duration = time.monotonic() - started
    exit_code = proc.returncode
    timed_out = bool(reasons) and reasons[0] == "timeout"
    reason: KilledReason | None = reasons[0] if reasons else None
    if reason is None and exit_code is not None:
        if exit_code == -signal.SIGXCPU:
            reason, timed_out = "timeout", True
        elif exit_code == -signal.SIGKILL:
            reason = "memory"  # not killed by us: the kernel's out-of-memory killer or the CPU hard limit
        elif exit_code != 0 and _ends_with_memory_error(bytes(err.tail)):
            reason = "memory"
    return SandboxResult(
        ok=exit_code == 0 and reason is None,
        exit_code=exit_code,
        stdout=out.text(),
        stderr=err.text(),
        timed_out=timed_out,
        killed_reason=reason,
        duration_s=round(duration, 4),
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
    )


def _ends_with_memory_error(tail: bytes) -> bool:
    lines = [line.strip() for line in tail.decode("utf-8", errors="replace").splitlines() if line.strip()]
    return bool(lines) and lines[-1].startswith("MemoryError")


async def run_python(
    code: str,
    *,
    stdin: str = "",
    timeout_s: float = 5.0,
    memory_mb: int = 512,
    max_output_bytes: int = 65536,
    files: dict[str, str] | None = None,
) -> SandboxResult:
    """Run ``code`` as ``__main__`` (file ``main.py``) in a fresh sandbox.

    ``files`` are written into the working directory first (relative paths; importable as modules).
    """
    run = await _execute(
        code,
        mode="run",
        stdin=stdin,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        max_output_bytes=max_output_bytes,
        files=files,
    )
    return run.result


async def run_tests(
    code: str,
    tests: list[str],
    *,
    timeout_s: float = 10.0,
    memory_mb: int = 512,
    max_output_bytes: int = 65536,
) -> TestRunResult:
    """Run ``code`` once, then each test snippet (Python with asserts), all in one sandboxed process.

    The code is loaded as module ``solution`` (so ``if __name__ == "__main__":`` blocks do not run,
    and tests may ``from solution import ...``). Each test runs in a copy of that module's namespace.
    Tests that never reported (timeout, crash, output limit) count as failed.
    """
    run = await _execute(
        code,
        mode="tests",
        stdin="",
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        max_output_bytes=max_output_bytes,
        files=None,
        tests=tests,
    )
    return _summarize(run, len(tests))


def _summarize(run: _Run, count: int) -> TestRunResult:
    sandbox = run.result
    setup_error: str | None = None
    setup_seen = False
    reported: dict[int, TestOutcome] = {}
    for record in run.records:
        if "setup" in record:
            setup_seen = True
            if not record.get("setup"):
                setup_error = str(record.get("error") or "the code failed to load")
        elif isinstance(record.get("test"), int) and 0 <= record["test"] < count:
            index = record["test"]
            ok = record.get("ok") is True
            reported[index] = TestOutcome(
                index=index, passed=ok, error=None if ok else str(record.get("error") or "failed")
            )
    if not setup_seen:
        setup_error = _abort_reason(sandbox, loading=True)
    why = f"not run: {setup_error if setup_error is not None else _abort_reason(sandbox, loading=False)}"
    outcomes = [reported.get(i) or TestOutcome(index=i, passed=False, error=why) for i in range(count)]
    passed = sum(1 for o in outcomes if o.passed)
    errors = [f"test {o.index}: {o.error}" for o in outcomes if not o.passed]
    return TestRunResult(
        passed=passed,
        failed=count - passed,
        errors=errors,
        setup_error=setup_error,
        all_passed=count > 0 and setup_error is None and passed == count,
        outcomes=outcomes,
        sandbox=sandbox,
    )


def _abort_reason(sandbox: SandboxResult, *, loading: bool) -> str:
    where = "while loading the code" if loading else "before the test finished"
    if sandbox.killed_reason == "timeout":
        return f"timed out {where}"
    if sandbox.killed_reason == "memory":
        return f"memory limit exceeded {where}"
    if sandbox.killed_reason == "output":
        return f"output limit exceeded {where}"
    last = [line for line in sandbox.stderr.splitlines() if line.strip()]
    detail = f": {last[-1].strip()[:_ERROR_CHARS]}" if last else ""
    return f"the sandbox process exited with code {sandbox.exit_code} {where}{detail}"
