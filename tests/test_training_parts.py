"""A correct solution of every graded training part passes, with margin, on
every numeric path and from every seed: a student must not lose points to
their CPU's rounding or to an unlucky seed.

The reference solution in solutions/ is trained from SEEDS on the native path
and on each path of tests/test_numeric_paths.py, one process per path, in
the background from the start of the test run (tests/conftest.py). Every run must beat the grading target by MARGINS[assignment] and
take at most half the CPU time the part allows. A score is higher-is-better
(a3's accuracy) or lower-is-better (a4's bits per character).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import Job, background

from autograder.course.a3_gated.cases import RECALL_TARGET
from autograder.course.a4_regularize.cases import BPC_TARGET
from test_numeric_paths import ONE_THREAD, PATHS

pytestmark = pytest.mark.slow

SEEDS = (0, 1, 2, 3, 4)
#: assignment -> (grading target, margin every reference run must clear it by, CPU seconds allowed,
#: whether a higher score is better)
MARGINS = {"a3_gated": (RECALL_TARGET, 0.02, 60.0, True),
           "a4_regularize": (BPC_TARGET, 0.03, 60.0, False)}


BACKGROUND_ORDER = 1


def background_jobs(root: Path) -> list[Job]:
    """tests/train_reference.py per assignment and path, started when this module is collected."""
    jobs = []
    for assignment in MARGINS:
        for path, variables in {"native": {}, **PATHS}.items():
            env = {**os.environ, **ONE_THREAD, **variables}
            command = [sys.executable, str(root / "tests" / "train_reference.py"), assignment, *map(str, SEEDS)]
            jobs.append(Job(f"training {assignment} {path}", command, env, 1200))
    return jobs


@pytest.fixture(scope="module")
def measured(figures) -> dict[tuple[str, str], list[dict]]:
    """{(assignment, path): one record per seed}."""
    results = {}
    for assignment in MARGINS:
        for path in {"native": {}, **PATHS}:
            code, out, err = background(f"training {assignment} {path}")
            assert code == 0, f"{assignment} {path}: {err[-3000:]}"
            results[assignment, path] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            for record in results[assignment, path]:  # the figures, for the log
                figures.append(f"{assignment} {path:15} seed {record['seed']}: score {record['score']:.4f}, "
                               f"{record['cpu_seconds']:.1f} s CPU")
    return results


@pytest.mark.parametrize("assignment", MARGINS)
def test_reference_training_clears_the_target_with_margin_everywhere(measured, assignment):
    target, margin, cpu_limit, higher_is_better = MARGINS[assignment]
    runs = [(path, r) for (a, path), records in measured.items() if a == assignment for r in records]
    assert len(runs) == len(SEEDS) * (1 + len(PATHS))
    def clears(score: float) -> bool:
        return score >= target + margin if higher_is_better else score <= target - margin
    close = [(path, r["seed"], round(r["score"], 4)) for path, r in runs if not clears(r["score"])]
    assert not close, f"reference runs within {margin} of the target {target} (or beyond it): {close}"
    slow = [(path, r["seed"], round(r["cpu_seconds"], 1)) for path, r in runs if r["cpu_seconds"] > cpu_limit / 2]
    assert not slow, f"reference runs using more than half of the {cpu_limit} s CPU allowed: {slow}"
