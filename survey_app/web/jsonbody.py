"""Strict JSON request bodies: clear 4xx errors for anything that is not one plain JSON object."""

import json
import re
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# JSON text can hold NUL only as this escape (a raw control character in a string is invalid).
_NUL_ESCAPE = "\\u0000"


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)  # in C; a duplicate shows as a shorter dict, then is named
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(f"the key {key!r} appears twice in one object")
            seen.add(key)
    return result


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _holds_nul(data: Any) -> bool:
    """Whether a string anywhere in `data` (keys included) holds NUL; no recursion, so that
    nesting as deep as the parser allowed cannot overflow the stack here."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object; raises 415 or 400 with a message a person understands.

    Duplicate keys, NaN/Infinity, invalid UTF-8, NUL in a string and absurd nesting are refused
    rather than guessed at. The size limit (MAX_CONTENT_LENGTH, 413) applies before this reads
    anything.
    """
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            "send the body as JSON with the header Content-Type: application/json"
        )
    body = request.get_data(cache=True)
    # A chunked body has no Content-Length: Werkzeug stops reading at the limit, so a body that
    # reached it was cut, and is refused as too large rather than as broken JSON.
    if request.content_length is None and len(body) >= current_app.config["MAX_CONTENT_LENGTH"]:
        raise RequestEntityTooLarge()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"the body is not valid UTF-8 (byte {error.start})") from None
    try:
        data = json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant
        )
    except _DuplicateKey as error:
        raise BadRequest(f"the JSON is ambiguous: {error}") from None
    except RecursionError:
        raise BadRequest("the JSON is nested too deeply") from None
    except ValueError as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object { … }")
    # PostgreSQL stores no NUL in text or JSON: refused here, by name, rather than a 500 there.
    if _NUL_ESCAPE in text and _holds_nul(data):
        raise BadRequest("the JSON contains a NUL character (\\u0000), which is not text")
    # Valid UTF-8 holds no surrogates: only a \uD800–\uDFFF escape can bring one in (then check).
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(
                "the JSON contains a lone surrogate (\\ud800…), which is not text"
            ) from None
    return data
