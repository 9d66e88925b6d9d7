"""Shared fixtures of the test suite."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))  # tests/submissions.py


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
