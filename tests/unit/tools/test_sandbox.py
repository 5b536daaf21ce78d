from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from agentinstruct.tools.sandbox import run_python, run_tests

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox targets Linux")


async def test_normal_run() -> None:
    result = await run_python("import sys\nprint('hello', 6 * 7)\nprint(__name__, sys.argv[0])")
    assert result.ok and result.exit_code == 0
    assert result.stdout == "hello 42\n__main__ main.py\n"
    assert result.stderr == ""
    assert not result.timed_out and result.killed_reason is None
    assert 0 < result.duration_s < 5


async def test_stdin_is_passed() -> None:
    result = await run_python("import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))", stdin="1 2 3\n4")
    assert result.ok and result.stdout == "10\n"
    no_input = await run_python("input()")
    assert not no_input.ok and "EOFError" in no_input.stderr


async def test_exception_gives_traceback() -> None:
    result = await run_python("def f():\n    raise ValueError('bad value')\n\nf()\n")
    assert not result.ok and result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert 'File "main.py", line 2, in f' in result.stderr
    assert "ValueError: bad value" in result.stderr
    assert "<sandbox>" not in result.stderr
    assert result.killed_reason is None


async def test_sys_exit_code() -> None:
    result = await run_python("import sys\nprint('bye')\nsys.exit(3)")
    assert not result.ok and result.exit_code == 3 and result.stdout == "bye\n"


async def test_environment_is_minimal_and_hashing_deterministic() -> None:
    code = "import os\nprint(sorted(os.environ))\nprint(hash('agentinstruct'))"
    first = await run_python(code)
    second = await run_python(code)
    assert first.ok and first.stdout == second.stdout
    assert "'PATH'" not in first.stdout
    assert "PYTHONHASHSEED" in first.stdout


async def test_infinite_loop_times_out() -> None:
    result = await run_python("print('start')\nwhile True:\n    pass\n", timeout_s=1.0)
    assert result.timed_out and result.killed_reason == "timeout"
    assert not result.ok
    assert result.stdout == "start\n"
    assert result.duration_s < 1.0 + 1.5


async def test_sleeping_process_times_out() -> None:
    result = await run_python("import time\ntime.sleep(30)", timeout_s=0.5)
    assert result.timed_out and result.killed_reason == "timeout" and result.duration_s < 2.5


async def test_memory_bomb_is_stopped() -> None:
    result = await run_python("chunks = []\nwhile True:\n    chunks.append(bytearray(50_000_000))\n", memory_mb=128)
    assert not result.ok
    assert result.killed_reason == "memory"
    assert "MemoryError" in result.stderr


async def test_huge_output_is_truncated_and_killed() -> None:
    result = await run_python("while True:\n    print('x' * 1000)\n", max_output_bytes=10_000, timeout_s=5.0)
    assert not result.ok
    assert result.killed_reason == "output"
    assert result.stdout_truncated
    assert "output truncated" in result.stdout
    assert len(result.stdout) < 10_000 + 200
    assert result.duration_s < 4


async def test_network_is_blocked() -> None:
    connections = 0

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        code = (
            "import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
            "s.settimeout(2)\n"
            f"s.connect(('127.0.0.1', {port}))\n"
            "print('connected')\n"
        )
        result = await run_python(code)
        assert not result.ok
        assert "connected" not in result.stdout
        assert "PermissionError" in result.stderr or "OSError" in result.stderr
        dns = await run_python("import socket\nsocket.getaddrinfo('example.com', 80)")
        assert not dns.ok
        await asyncio.sleep(0.1)
        assert connections == 0
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces are only created when running as root")
async def test_network_namespace_has_only_loopback() -> None:
    result = await run_python("print(open('/proc/net/dev').read())")
    assert result.ok
    interfaces = re.findall(r"^\s*([\w.-]+):", result.stdout, re.M)
    assert interfaces == ["lo"]


@pytest.mark.parametrize(
    "code",
    [
        "import subprocess\nsubprocess.run(['echo', 'hi'])",
        "import os\nos.system('echo hi')",
        "import os\nos.execv('/bin/echo', ['echo', 'hi'])",
        "import os\nos.fork()",
        "import os\nos.posix_spawn('/bin/echo', ['echo'], {})",
        "import _posixsubprocess\n_posixsubprocess.fork_exec()",
        "import ctypes",
        "import os\nos.kill(1, 0)",
        "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))",
    ],
)
async def test_process_creation_and_escapes_are_blocked(code: str) -> None:
    result = await run_python(code)
    assert not result.ok
    assert "hi" not in result.stdout
    assert "PermissionError" in result.stderr or "ImportError" in result.stderr


async def test_subprocess_module_can_still_be_imported() -> None:
    result = await run_python("import subprocess, platform, uuid, threading, asyncio\nprint('ok')")
    assert result.ok and result.stdout == "ok\n"


async def test_files_stay_in_the_temporary_directory(tmp_path: Path) -> None:
    outside = tmp_path / "escape.txt"
    code = (
        "import os\n"
        "open('note.txt', 'w').write('inside')\n"
        "os.makedirs('sub/dir')\n"
        "open('sub/dir/x.txt', 'w').write('deep')\n"
        "print(os.getcwd())\n"
        "print(sorted(os.listdir('.')))\n"
        "print(open('helper.py').read().strip())\n"
        "import helper\n"
        "print(helper.VALUE)\n"
        "try:\n"
        f"    open({str(outside)!r}, 'w').write('escaped')\n"
        "    print('WROTE OUTSIDE')\n"
        "except OSError as exc:\n"
        "    print('blocked', type(exc).__name__)\n"
    )
    result = await run_python(code, files={"helper.py": "VALUE = 41 + 1\n"})
    assert result.ok, result.stderr
    lines = result.stdout.splitlines()
    workdir = Path(lines[0])
    assert lines[1] == "['helper.py', 'main.py', 'note.txt', 'sub']"
    assert lines[3] == "42"
    assert lines[4].startswith("blocked")
    assert not await asyncio.to_thread(outside.exists)
    assert not await asyncio.to_thread(workdir.exists)


async def test_files_argument_is_validated() -> None:
    with pytest.raises(ValueError):
        await run_python("pass", files={"../escape.py": "x"})
    with pytest.raises(ValueError):
        await run_python("pass", files={"/abs.py": "x"})
    with pytest.raises(ValueError):
        await run_python("pass", files={"main.py": "x"})


async def test_concurrent_runs() -> None:
    results = await asyncio.gather(*(run_python(f"print({i} * 2)") for i in range(4)))
    assert [r.stdout for r in results] == [f"{i * 2}\n" for i in range(4)]


async def test_cancellation_kills_the_run() -> None:
    task = asyncio.create_task(run_python("import time\ntime.sleep(30)", timeout_s=30))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)


SOLUTION = """
def add(a, b):
    return a + b


class Stack:
    def __init__(self):
        self.items = []

    def push(self, x):
        self.items.append(x)

    def pop(self):
        return self.items.pop()


if __name__ == "__main__":
    print(input())
"""


async def test_run_tests_all_pass() -> None:
    tests = [
        "assert add(1, 2) == 3",
        "s = Stack()\ns.push(1)\nassert s.pop() == 1",
        "from solution import add as plus\nassert plus(2, 2) == 4",
    ]
    result = await run_tests(SOLUTION, tests)
    assert result.all_passed, result.errors
    assert (result.passed, result.failed, result.errors, result.setup_error) == (3, 0, [], None)
    assert result.sandbox.ok


async def test_run_tests_reports_failures() -> None:
    tests = [
        "assert add(1, 2) == 3",
        "assert add(2, 2) == 5",
        "Stack().pop()",
        "assert undefined_name",
        "def (:",
    ]
    result = await run_tests(SOLUTION, tests)
    assert not result.all_passed
    assert result.passed == 1 and result.failed == 4
    assert len(result.errors) == 4
    assert result.errors[0].startswith("test 1: AssertionError")
    assert "assert add(2, 2) == 5" in result.errors[0]
    assert "IndexError" in result.errors[1]
    assert "NameError" in result.errors[2]
    assert "SyntaxError" in result.errors[3]
    assert [o.passed for o in result.outcomes] == [True, False, False, False, False]


async def test_run_tests_setup_error() -> None:
    result = await run_tests("def broken(:\n    pass\n", ["assert True"])
    assert result.setup_error is not None and "SyntaxError" in result.setup_error
    assert not result.all_passed and result.passed == 0 and result.failed == 1
    crash = await run_tests("raise RuntimeError('boom at import')", ["assert True"])
    assert crash.setup_error is not None and "boom at import" in crash.setup_error


async def test_run_tests_without_tests_is_not_all_passed() -> None:
    result = await run_tests("x = 1", [])
    assert result.setup_error is None and result.passed == 0 and not result.all_passed


async def test_run_tests_timeout_keeps_finished_results() -> None:
    tests = ["assert add(1, 1) == 2", "while True:\n    pass", "assert True"]
    result = await run_tests(SOLUTION, tests, timeout_s=1.0)
    assert result.sandbox.timed_out
    assert result.passed == 1 and result.failed == 2
    assert "timed out" in result.errors[0]
    assert not result.all_passed
