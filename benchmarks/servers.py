"""Serving the app (or the bare baseline) under gunicorn on a free loopback port."""

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from benchmarks.databases import ROOT, app_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn(
    app: str, url: str, *, workers: int, log: Path, threads: int = 1, env: dict | None = None
) -> Iterator[str]:
    """Serve `app` ("wsgi:app" or "benchmarks.bare_app:app") with `workers` sync workers (or
    gthread workers of `threads` threads); yields the base URL. Stops the server (its process
    only) on exit."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(workers),
                "--worker-class",
                "sync" if threads <= 1 else "gthread",
                "--threads",
                str(max(threads, 1)),
                "--bind",
                f"127.0.0.1:{port}",
                "--backlog",
                "2048",
                app,
            ],
            cwd=ROOT,
            env={**app_env(url), **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early; see {log}:\n{log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2)
            return
        except urllib.error.HTTPError:
            return  # the bare app has no /healthz: any HTTP answer means it is serving
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within 60 s; see {log}")
