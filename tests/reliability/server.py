"""The real server for reliability tests: gunicorn in its own process group on 127.0.0.1, and a
minimal HTTP client that treats every transport failure as "not acknowledged, try again"."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
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


class Gunicorn:
    """`python -m gunicorn wsgi:app` with 2 sync workers, SURVEY_ENV=production, on a free port.

    It runs in a session (process group) of its own so that `kill()` can SIGKILL the master and
    every worker at once, as a power cut or the OOM killer would: no graceful shutdown, no
    atexit, transactions cut wherever they are. Always `stop()` in a finally block.
    """

    def __init__(self, database_url: str, log_path: Path, workers: int = 2):
        self.database_url = database_url
        self.log_path = log_path
        self.workers = workers
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, ready_within: float = 30.0) -> None:
        env = {
            **os.environ,
            "SURVEY_ENV": "production",
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": self.database_url,
            "SESSION_COOKIE_SECURE": "0",
            "TRUSTED_PROXIES": "0",
        }
        env.pop("FLASK_DEBUG", None)
        command = [
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
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.starts += 1
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}: {self.log()}")
            if get_status(self.base_url, "/healthz", timeout=1.0) == 200:
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gunicorn was not ready within {ready_within} s: {self.log()}")

    def kill(self) -> None:
        """SIGKILL the whole process group (master and workers) and reap the master."""
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
        # The group is the one gunicorn's master leads (start_new_session): ours alone.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"


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
    base_url: str, method: str, path: str, body: bytes | None = None, timeout: float = 10.0
) -> Reply:
    """One HTTP request on a new connection; a broken connection is Reply(0), never an error."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {"Content-Type": "application/json"} if body is not None else {}
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
