"""The views that take an uploaded file, and the request size limit that applies to them.

Request bodies are capped at MAX_CONTENT_LENGTH (64 KiB: a survey response is a few KiB); the
views marked `@accepts_upload` (CSV imports, questionnaire YAML) take up to
UPLOAD_MAX_CONTENT_LENGTH (2 MiB) instead. The limit is set per request before anything reads the
body: Flask runs URL value preprocessors before the `before_request` functions, among them
Flask-WTF's CSRF check, which parses the form (and would stop at the 64 KiB limit) before the view
is called. A larger body is a 413 naming the limit that applied (web/__init__.py).
"""

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, request

UPLOAD_MARKER = "accepts_upload"


def accepts_upload(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view as taking an uploaded file: its requests may be UPLOAD_MAX_CONTENT_LENGTH
    long. Put it directly below the route decorator (the function the route registers)."""
    setattr(view, UPLOAD_MARKER, True)
    return view


def init_uploads(app: Flask) -> None:
    """Raise the request size limit for the views marked `@accepts_upload`."""

    @app.url_value_preprocessor
    def _upload_limit(endpoint: str | None, _values: dict[str, Any] | None) -> None:
        view = current_app.view_functions.get(endpoint) if endpoint else None
        if getattr(view, UPLOAD_MARKER, False):
            request.max_content_length = current_app.config["UPLOAD_MAX_CONTENT_LENGTH"]


def describe_size(size: int) -> str:
    """A byte count as people say it: "2 MiB", "64 KiB"."""
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size:,} bytes"
