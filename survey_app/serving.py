"""How `make run` serves the app (`flask --app wsgi serve`): waitress, with the settings below.

Waitress reads each request whole in its I/O thread (one `select` loop over every connection)
and only then hands it to a worker thread that runs the app. A client that sends its body
slowly holds a connection, never a thread: ten uploads trickled a byte at a time leave
`/healthz` answering in milliseconds (tests/reliability/test_slow_clients.py). Gunicorn's sync
workers, and the threads of its gthread worker, read the body themselves: two slow clients hold
two sync workers, and `/healthz` waits for them. Its gevent and eventlet workers read
asynchronously but need the standard library monkey-patched, and the app blocks where a patched
hub cannot see: a SQLite writer waits for its turn in `fcntl.flock` (write_turns.py), which
would stop every request of the process, and the settler is a thread of its own (settler.py).
In waitress's threads both work as under gunicorn: each thread takes its write turn through its
own descriptor, and the settler starts once per process on the first request.

One process serves, so the app's Python runs on one core at a time. Production puts nginx in
front of gunicorn's workers instead: nginx buffers each request whole before passing it on,
and the workers use every core.
"""

import logging
import sys
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import waitress
from flask import Flask

WAITRESS_SETTINGS: dict[str, Any] = {
    # Threads running the app. Its Python holds one lock, so more threads add no CPU; they let a
    # slow request (an export, an annual report) run beside quick ones, and let others go on
    # while one waits for the database (a write turn, PostgreSQL).
    "threads": 8,
    # Connections held at once (slow uploads, idle keep-alive); past it new connections wait in
    # the listen backlog. Each may buffer a body of up to max_request_body_size: the first
    # 512 KiB in memory, the rest in a temporary file.
    "connection_limit": 100,
    # A connection that sends nothing for channel_timeout seconds is closed (a stalled upload, an
    # idle keep-alive), looked for every cleanup_interval seconds.
    "channel_timeout": 30,
    "cleanup_interval": 5,
}


def serve(app: Flask, *, host: str, port: int) -> None:
    """Serve `app` on host:port until interrupted, printing one line per request. A body over
    the largest the app takes (an upload: UPLOAD_MAX_CONTENT_LENGTH; the app holds everything
    else to MAX_CONTENT_LENGTH itself) is refused with 413 before any of it is read."""
    logging.getLogger("waitress").setLevel(logging.INFO)  # "Serving on http://…"
    waitress.serve(
        AccessLog(app),
        host=host,
        port=port,
        max_request_body_size=app.config["UPLOAD_MAX_CONTENT_LENGTH"],
        **WAITRESS_SETTINGS,
    )


class AccessLog:
    """One line per request on standard output, as gunicorn's `--access-logfile -` prints it:
    client address, time, request line, status, response size, referrer, user agent."""

    def __init__(self, app: Callable):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        def logging_start_response(status: str, headers: list, exc_info=None):
            size = next((v for k, v in headers if k.lower() == "content-length"), "-")
            self.write(environ, status.split(" ", 1)[0], size)
            return start_response(status, headers, exc_info)

        return self.app(environ, logging_start_response)

    def write(self, environ: dict, status: str, size: str) -> None:
        target = environ.get("REQUEST_URI", "")  # as sent: still percent-encoded, one line
        when = datetime.now(UTC).astimezone().strftime("%d/%b/%Y:%H:%M:%S %z")
        line = (
            f"{environ.get('REMOTE_ADDR', '-')} - - [{when}] "
            f'"{environ.get("REQUEST_METHOD")} {target} {environ.get("SERVER_PROTOCOL")}" '
            f'{status} {size} "{environ.get("HTTP_REFERER", "-")}" '
            f'"{environ.get("HTTP_USER_AGENT", "-")}"\n'
        )
        with self.lock:
            sys.stdout.write(line)
            sys.stdout.flush()
