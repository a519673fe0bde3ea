"""Running it locally: commands follow the stack `bin/run` runs, and stopping that stack is a success."""

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from cms.store.local import free_port
from tests.cacheops.conftest import listening

PRINT_STACK = "from django.conf import settings; print(settings.CACHEOPS_BACKEND, settings.MOMENTO_LOCAL)"
# What the test process itself may carry and would otherwise decide the answer.
STACK_NAMES = ("CACHEOPS_BACKEND", "MOMENTO_LOCAL", "AIRTIME_STACK_ENV", "DJANGO_SETTINGS_MODULE")


def command_env(**extra: str) -> dict[str, str]:
    """The environment of a developer's shell: none of the stack's settings, plus `extra`."""
    env = {name: value for name, value in os.environ.items() if name not in STACK_NAMES}
    return env | {"DJANGO_SETTINGS_MODULE": "cms.settings", "LOG_LEVEL": "WARNING"} | extra


def shell(env: dict[str, str], code: str) -> str:
    """What `manage.py shell -c code` started in `env` prints."""
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def stack_seen(env: dict[str, str]) -> str:
    """What a manage.py command started in `env` takes for the catalog cache."""
    return shell(env, PRINT_STACK).strip()


def stack_file(tmp_path: Path, pid: int) -> Path:
    path = tmp_path / "stack.env"
    path.write_text(
        f"# Written by bin/run\nAIRTIME_STACK_PID={pid}\nCACHEOPS_BACKEND='momento'\nMOMENTO_LOCAL='127.0.0.1:7781'\n"
    )
    return path


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_command_reaches_the_running_stack(tmp_path):
    path = stack_file(tmp_path, os.getpid())

    assert stack_seen(command_env(AIRTIME_STACK_ENV=str(path))) == "momento 127.0.0.1:7781"


def test_a_variable_set_in_the_environment_wins_over_the_stack_file(tmp_path):
    path = stack_file(tmp_path, os.getpid())

    seen = stack_seen(command_env(AIRTIME_STACK_ENV=str(path), CACHEOPS_BACKEND="redis"))

    assert seen == "redis 127.0.0.1:7781"


def test_the_file_of_a_stack_that_died_is_ignored(tmp_path):
    path = stack_file(tmp_path, dead_pid())

    assert stack_seen(command_env(AIRTIME_STACK_ENV=str(path))) == "redis"


def test_the_test_settings_never_read_the_stack_file(tmp_path):
    path = stack_file(tmp_path, os.getpid())

    seen = stack_seen(command_env(AIRTIME_STACK_ENV=str(path), DJANGO_SETTINGS_MODULE="tests.settings"))

    assert seen == "redis"


def _interruptible() -> None:
    """Ctrl-C as a terminal delivers it, even when this suite was started with SIGINT ignored (a background job),
    which a shell could not trap."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def stack(tmp_path):
    """Start bin/run on free ports, a SQL file and a stack file of its own; stop it if a test did not."""
    ports = {"WEB_PORT": free_port(), "DYNAMODB_PORT": free_port(), "MOMENTO_PORT": free_port()}
    env = command_env(
        AIRTIME_STACK_ENV=str(tmp_path / "stack.env"),
        CACHEOPS_BACKEND="momento",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DYNAMODB_DATA=str(tmp_path / "dynamodb"),
        REDIS_URL=settings.REDIS_URL,
        **{name: str(port) for name, port in ports.items()},
    )
    for name in ("MOMENTO_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)
    started = []

    def start() -> subprocess.Popen:
        # A session of its own, as a terminal gives `make run`: a signal to its group reaches nothing else.
        proc = subprocess.Popen(
            ["bin/run"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=_interruptible,
        )
        started.append(proc)
        return proc

    start.env = env
    yield start, tmp_path / "stack.env", ports
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=60)


def wait_for_file(proc: subprocess.Popen, path: Path) -> None:
    for _ in range(1200):
        if path.exists():
            return
        if proc.poll() is not None:
            pytest.fail(f"bin/run ended at start:\n{proc.stdout.read()}")
        time.sleep(0.1)
    pytest.fail("bin/run wrote no stack file within two minutes")


@pytest.mark.parametrize(
    "stop",
    [
        pytest.param(lambda proc: os.killpg(proc.pid, signal.SIGINT), id="ctrl-c to the process group"),
        pytest.param(lambda proc: proc.send_signal(signal.SIGTERM), id="sigterm"),
    ],
)
def test_stopping_the_stack_stops_its_servers_removes_its_file_and_succeeds(stack, stop):
    start, path, ports = stack
    proc = start()
    wait_for_file(proc, path)
    described = path.read_text()

    stop(proc)
    output, _ = proc.communicate(timeout=120)

    assert proc.returncode == 0, output
    assert f"MOMENTO_LOCAL='127.0.0.1:{ports['MOMENTO_PORT']}'" in described
    assert f"DYNAMODB_ENDPOINT_URL='http://127.0.0.1:{ports['DYNAMODB_PORT']}'" in described
    assert "CACHEOPS_BACKEND='momento'" in described
    assert "stopped dynamodb" in output and "stopped momento" in output
    assert not path.exists()
    assert not listening(ports["DYNAMODB_PORT"]) and not listening(ports["MOMENTO_PORT"])


def test_a_stack_that_cannot_start_fails_and_leaves_no_file(stack):
    start, path, ports = stack
    holder = subprocess.Popen([sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(ports["DYNAMODB_PORT"])])
    try:
        for _ in range(100):
            if listening(ports["DYNAMODB_PORT"]):
                break
            time.sleep(0.1)
        proc = start()
        output, _ = proc.communicate(timeout=120)
    finally:
        holder.terminate()
        holder.wait(timeout=10)

    assert proc.returncode == 1, output
    assert f"port {ports['DYNAMODB_PORT']} is already in use" in output
    assert not path.exists()


def web_wait(proc: subprocess.Popen, port: int) -> None:
    """Wait until the stack serves the admin: its content is in place by then."""
    for _ in range(1800):
        if listening(port):
            return
        if proc.poll() is not None:
            pytest.fail(f"bin/run ended at start:\n{proc.stdout.read()}")
        time.sleep(0.1)
    pytest.fail("bin/run did not start the web server")


def make_run_in_a_terminal(env: dict[str, str]) -> tuple[int, int]:
    """`make run` started as a shell's job in a terminal of its own: (its pid, the terminal)."""
    pid, terminal = pty.fork()
    if pid == 0:
        os.chdir(settings.BASE_DIR)
        _interruptible()
        os.execvpe("make", ["make", "--no-print-directory", "run"], env)
    return pid, terminal


def read_until(terminal: int, output: bytearray, done, seconds: float) -> None:
    """Collect what the terminal shows until `done()` or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        if select.select([terminal], [], [], 0.2)[0]:
            try:
                output.extend(os.read(terminal, 65536))
            except OSError:
                return


RENAME = (
    "from dataclasses import replace; from cms.store import programs as p; first = next(p.programs_stream())[0]; "
    "p.program_update(replace(first, title='次回も残る題名'), old_slug=first.slug)"
)
TITLES = "from cms.store import programs as p; print(sorted(x.title for x, _ in p.programs_stream()))"


def ctrl_c(pid: int, terminal: int, output: bytearray) -> int | None:
    """Type Ctrl-C in the terminal of `make run` (pid); its exit status, or None if it still runs two minutes on
    (then its session is killed)."""
    os.write(terminal, b"\x03")  # what Ctrl-C types
    ended = []

    def finished() -> bool:
        if not ended:
            waited, status = os.waitpid(pid, os.WNOHANG)
            if waited:
                ended.append(status)
        return bool(ended)

    read_until(terminal, output, finished, 120)  # returns early once the terminal closes
    deadline = time.monotonic() + 120
    while not finished() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not finished():
        os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return None
    return os.waitstatus_to_exitcode(ended[0])


def test_ctrl_c_in_the_terminal_ends_make_run_with_status_0_and_the_next_run_has_its_edits(stack):
    start, path, ports = stack
    env = start.env
    pid, terminal = make_run_in_a_terminal(env)
    output = bytearray()
    try:
        read_until(terminal, output, lambda: path.exists() and listening(ports["WEB_PORT"]), 180)
        assert listening(ports["WEB_PORT"]), output.decode(errors="replace")
        shell(env, RENAME)
        before = shell(env, TITLES)
    finally:
        status = ctrl_c(pid, terminal, output)
    first_output = output.decode(errors="replace")

    assert status == 0, first_output
    assert "Error" not in first_output and "Interrupt" not in first_output, first_output
    assert not path.exists()

    proc = start()
    web_wait(proc, ports["WEB_PORT"])
    after = shell(env, TITLES)
    proc.send_signal(signal.SIGTERM)
    second_output, _ = proc.communicate(timeout=120)

    assert proc.returncode == 0, second_output
    assert "次回も残る題名" in before and after == before
    seeded = re.compile(r"items written|件を.*書き込みました")
    assert seeded.search(first_output) and not seeded.search(second_output)  # the demo went in once
