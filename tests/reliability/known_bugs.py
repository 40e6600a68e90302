"""Bugs the reliability tests found in the app that are not fixed yet.

Each name has strict-xfail tests (`xfail_if_known`) that start failing (XPASS) on the day its
fix lands: then delete the name here. The property-based tests skip the inputs of a listed bug
(`known_bug()`) so that they keep guarding everything else meanwhile; once a name is gone they
cover those inputs again.
"""

from datetime import UTC, datetime

import pytest

KNOWN_BUGS: dict[str, str] = {}

POSTGRES_ONLY = {"nul in codes"}
VERSION_LIMIT = {"postgresql": 2**31, "sqlite": 2**63}


def applies(name: str, backend: str) -> bool:
    return name in KNOWN_BUGS and (name not in POSTGRES_ONLY or backend == "postgresql")


def xfail_if_known(request, name: str, backend: str) -> None:
    """Mark the running test as a strict xfail while bug `name` is listed (and applies here)."""
    if applies(name, backend):
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"bug: {KNOWN_BUGS[name]}"))


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def known_bug(payload, backend: str) -> str | None:
    """The name of a listed bug that `payload` (a decoded request body) would hit, if any."""
    if not isinstance(payload, dict):
        return None
    if applies("surrogates", backend) and any(
        any("\ud800" <= c <= "\udfff" for c in text) for text in _strings(payload)
    ):
        return "surrogates"
    if applies("nul in codes", backend) and any(
        isinstance(payload.get(field), str) and "\x00" in payload[field]
        for field in ("unit", "questionnaire", "counter")
    ):
        return "nul in codes"
    version = payload.get("version")
    if (
        applies("huge version", backend)
        and isinstance(version, int)
        and version >= VERSION_LIMIT[backend]
    ):
        return "huge version"
    moment = payload.get("submitted_at")
    if applies("date overflow", backend) and isinstance(moment, str):
        try:
            parsed = datetime.fromisoformat(moment)
            if parsed.tzinfo is not None:
                parsed.astimezone(UTC)
        except OverflowError:
            return "date overflow"
        except ValueError:
            pass
    return None
