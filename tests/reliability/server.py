"""The real server for reliability tests: a server process (gunicorn, or what `make run` serves
with) in its own process group on 127.0.0.1, and a minimal HTTP client that treats every
transport failure as "not acknowledged, try again"."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"

# How much to multiply the load by: 1 in `make test`; e.g. RELIABILITY_SCALE=10 for a long run.
SCALE = max(1, int(os.environ.get("RELIABILITY_SCALE", "1")))


def free_port() -> int:
    """A port nobody listens on now (the kernel picks it; gunicorn rebinds it with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Server:
    """A server process on a free port of 127.0.0.1, built by `command()` and `environment()`.

    It runs in a session (process group) of its own so that `kill()` can SIGKILL the server and
    every process it started at once, as a power cut or the OOM killer would: no graceful
    shutdown, no atexit, transactions cut wherever they are. Always `stop()` in a finally block.
    """

    name = "server"

    def __init__(self, log_path: Path):
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        raise NotImplementedError

    def start(self, ready_within: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=REPO,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.starts += 1
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}: {self.log()}"
                )
            if get_status(self.base_url, "/healthz", timeout=1.0) == 200:
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} was not ready within {ready_within} s: {self.log()}")

    def kill(self) -> None:
        """SIGKILL the whole process group (e.g. master and workers) and reap its leader."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=10)
        # Workers are in the same group and were killed with it; wait until the port is free.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _accepts(self.port):
            time.sleep(0.02)

    def stop(self) -> None:
        """Terminate gracefully if running, and make sure nothing of ours is left behind."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        self.kill()  # any worker that outlived its master, too

    def _signal_group(self, signum: int) -> None:
        # The group is the one the server leads (start_new_session): ours alone.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"


class Gunicorn(Server):
    """`python -m gunicorn wsgi:app` with 2 sync workers, SURVEY_ENV=production."""

    name = "gunicorn"

    def __init__(self, database_url: str, log_path: Path, workers: int = 2):
        super().__init__(log_path)
        self.database_url = database_url
        self.workers = workers

    def environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "SURVEY_ENV": "production",
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": self.database_url,
            "SESSION_COOKIE_SECURE": "0",
            "TRUSTED_PROXIES": "0",
            # The load is many clients on one key; these tests are about losing nothing.
            "API_KEY_SUBMISSIONS_PER_MINUTE": "1000000",
        }
        env.pop("FLASK_DEBUG", None)
        return env

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"{HOST}:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            "sync",
            "--timeout",
            "30",
            "--graceful-timeout",
            "2",
            "--chdir",
            str(REPO),
            "wsgi:app",
        ]


@contextlib.contextmanager
def running_gunicorn(database_url: str, log_path: Path) -> Iterator[Gunicorn]:
    server = Gunicorn(database_url, log_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((HOST, port)) == 0


@dataclass(frozen=True)
class Reply:
    status: int  # 0 when the server could not be reached or the connection broke
    body: bytes = b""

    def json(self):
        return json.loads(self.body)


def request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One HTTP request on a new connection; a broken connection is Reply(0), never an error."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {
        **({"Content-Type": "application/json"} if body is not None else {}),
        **(headers or {}),
    }
    try:
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        return Reply(answer.status, answer.read())
    except (OSError, http.client.HTTPException):
        return Reply(0)
    finally:
        connection.close()


def get_status(base_url: str, path: str, timeout: float = 5.0) -> int:
    return request(base_url, "GET", path, timeout=timeout).status


def make_run_commands(**variables: str) -> list[str]:
    """The shell commands `make run` runs with these make variables, in order (`make -n`)."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", *(f"{k}={v}" for k, v in variables.items())],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


def split_command(line: str) -> tuple[dict[str, str], list[str]]:
    """A shell command line's leading NAME=value assignments, and the command itself."""
    words = shlex.split(line)
    assignments = {}
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        assignments[name] = value
    return assignments, words


class MakeRun(Server):
    """The server exactly as `make run` starts it (its last command, read with `make -n`), with
    the venv running the tests, on `database_url` (set up by `make run`'s own setup command with
    no demo data) and a key from the environment instead of the instance folder's."""

    name = "make run's server"

    def __init__(self, database_url: str, log_path: Path):
        super().__init__(log_path)
        lines = make_run_commands(
            HOST=HOST, PORT=str(self.port), DEMO_RESPONSES="0", VENV=sys.prefix
        )
        self.setup_line = next(line for line in lines if " --app wsgi setup " in line)
        self.serve_line = lines[-1]
        self.database_url = database_url

    def _environment_of(self, line: str) -> tuple[dict[str, str], list[str]]:
        assignments, command = split_command(line)
        outside = {k: v for k, v in os.environ.items() if k not in ("SURVEY_ENV", "FLASK_DEBUG")}
        return {
            **outside,
            **assignments,
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": "test-secret",
        }, command

    def environment(self) -> dict[str, str]:
        return self._environment_of(self.serve_line)[0]

    def command(self) -> list[str]:
        return self._environment_of(self.serve_line)[1]

    def set_up(self) -> None:
        """Run `make run`'s setup command (migrations, questionnaires) on the database."""
        env, command = self._environment_of(self.setup_line)
        done = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"{self.setup_line} failed: {done.stdout}{done.stderr}")
