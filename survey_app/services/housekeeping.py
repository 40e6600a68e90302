"""Forgetting what serves nothing any more: rate-limit windows long past, and staff sessions no
cookie can use. Every server process's settler runs it about once an hour (settler.py), and
`flask --app wsgi prune` runs it on request; the caller commits."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from survey_app.services.accounts import SessionPolicy, prune_staff_sessions
from survey_app.services.ratelimit import prune_rate_limits


@dataclass(frozen=True)
class Pruned:
    rate_limit_windows: int
    staff_sessions: int


def prune(config: Mapping[str, Any]) -> Pruned:
    """Delete rate-limit windows over a day old and sessions ended or expired over a day ago."""
    return Pruned(
        rate_limit_windows=prune_rate_limits(),
        staff_sessions=prune_staff_sessions(policy=SessionPolicy.from_config(config)),
    )
