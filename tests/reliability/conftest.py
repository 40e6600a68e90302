"""Fixtures for the reliability tests, and the figures they print at the end of the run.

`tree` is the application tests' unit tree (P; P-W1 with counters Q1, Q2; P-C1 with Q1).
`figures(line)` records a line that is printed now (visible with -s) and again in the terminal
summary (always visible), so a plain `make test` shows sent/acknowledged/stored/... too.
"""

from collections.abc import Callable

import pytest

from tests.survey_app.conftest import (  # noqa: F401  (re-exported as fixtures here)
    Tree,
    api_client,
    tree,
)

_FIGURES: list[str] = []


@pytest.fixture
def figures(request) -> Callable[[str], None]:
    def record(line: str) -> None:
        line = f"{request.node.name}: {line}"
        print(line)
        _FIGURES.append(line)

    return record


def pytest_terminal_summary(terminalreporter) -> None:
    if _FIGURES:
        terminalreporter.section("reliability figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
