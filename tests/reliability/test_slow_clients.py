"""Slow clients cannot starve the server `make run` starts.

Ten clients announce a 100 KiB body and send it a byte at a time for ~10 s. Meanwhile `/healthz`
and the front page must answer within a second, every time; then each slow client sends the rest
and gets its answer. The server is started exactly as `make run` starts it (its command is read
from the Makefile with `make -n`), so a change to what `make run` serves with is what is tested.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from tests.reliability.server import HOST, MakeRun, request

SLOW_CLIENTS = 10
BODY_BYTES = 100 * 1024
TRICKLE_SECONDS = 10.0
BYTE_EVERY_SECONDS = 0.1
PROBE_EVERY_SECONDS = 0.5
ANSWER_WITHIN_SECONDS = 1.0


class SlowUpload:
    """A POST whose headers announce BODY_BYTES and whose body then comes a byte at a time."""

    def __init__(self, port: int):
        self.socket = socket.create_connection((HOST, port), timeout=10)
        self.sent = 0
        self.socket.sendall(
            (
                f"POST /api/v1/responses HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {BODY_BYTES}\r\n\r\n"
            ).encode()
        )

    def trickle(self) -> None:
        self.socket.sendall(b" ")
        self.sent += 1

    def finish(self) -> str:
        """Send the rest of the body; the status line of the answer, or why there was none."""
        try:
            self.socket.sendall(b" " * (BODY_BYTES - self.sent))
            answer = self.socket.recv(200)
        except OSError as error:
            return f"connection broke: {error!r}"
        return answer.split(b"\r\n", 1)[0].decode(errors="replace") or "closed by the server"

    def close(self) -> None:
        self.socket.close()


def test_ten_slow_uploads_do_not_slow_down_health_checks_or_pages(tmp_path, figures):
    server = MakeRun(f"sqlite:///{tmp_path / 'survey.db'}", tmp_path / "server.log")
    server.set_up()
    uploads: list[SlowUpload] = []
    trickling = threading.Event()
    trickle_errors: list[str] = []

    def trickle() -> None:
        while trickling.is_set():
            for upload in uploads:
                try:
                    upload.trickle()
                except OSError as error:
                    trickle_errors.append(repr(error))
            time.sleep(BYTE_EVERY_SECONDS)

    slowest: dict[str, float] = {}
    failures: list[str] = []
    try:
        server.start()
        uploads.extend(SlowUpload(server.port) for _ in range(SLOW_CLIENTS))
        trickling.set()
        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        deadline = time.monotonic() + TRICKLE_SECONDS
        while time.monotonic() < deadline:
            for path in ("/healthz", "/"):
                started = time.monotonic()
                status = request(server.base_url, "GET", path, timeout=5.0).status
                took = time.monotonic() - started
                slowest[path] = max(slowest.get(path, 0.0), took)
                if status != 200 or took > ANSWER_WITHIN_SECONDS:
                    failures.append(f"GET {path}: {status or 'no answer'} after {took:.2f} s")
            time.sleep(PROBE_EVERY_SECONDS)
        trickling.clear()
        trickler.join(5)
        answers = [upload.finish() for upload in uploads]
    finally:
        trickling.clear()
        for upload in uploads:
            with contextlib.suppress(OSError):
                upload.close()
        server.stop()

    figures(
        f"{SLOW_CLIENTS} slow uploads held {TRICKLE_SECONDS:.0f} s: slowest "
        + ", ".join(f"{path} {took * 1000:.0f} ms" for path, took in slowest.items())
        + f"; then answered {sorted(set(answers))}"
    )
    assert not failures, f"answers slower than {ANSWER_WITHIN_SECONDS} s: {failures}"
    assert not trickle_errors, trickle_errors
    # Each slow client is answered (the app refuses a 100 KiB submission: 413) once it is done.
    assert all(answer.startswith("HTTP/1.1 4") for answer in answers), answers
