"""Shared fixtures of the test suite."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))  # tests/submissions.py
FIGURES: list[str] = []


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def figures() -> list[str]:
    """Lines of measured figures (execution times, scores of reference runs)
    that the run prints at its end, whether the tests pass or fail: figures
    to read, never asserted as times."""
    return FIGURES


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("measured figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
