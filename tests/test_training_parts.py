"""A correct solution of every graded training part passes, with margin, on
every numeric path and from every seed: a student must not lose points to
their CPU's rounding or to an unlucky seed.

The reference solution in solutions/ is trained from SEEDS on the native path
(`make test`) and on each path of tests/test_numeric_paths.py (marked
`paths`: `make test-paths`), one process per assignment and path, in the
background from the end of collection (tests/conftest.py). Every run must
beat the grading target by MARGINS[assignment] and take at most half the CPU
time the part allows. A score is higher-is-better
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
#: The native path and the others, each a parameter of the test.
ALL_PATHS = {"native": {}, **PATHS}
CASES = [pytest.param(assignment, path, id=f"{assignment}-{path}",
                      marks=[] if path == "native" else [pytest.mark.paths])
         for assignment in MARGINS for path in ALL_PATHS]


def background_jobs(root: Path, items: list) -> list[Job]:
    """tests/train_reference.py per selected assignment and path, started when collection ends."""
    jobs = []
    for item in items:
        assignment, path = item.callspec.params["assignment"], item.callspec.params["path"]
        env = {**os.environ, **ONE_THREAD, **ALL_PATHS[path]}
        command = [sys.executable, str(root / "tests" / "train_reference.py"), assignment, *map(str, SEEDS)]
        jobs.append(Job(f"training {assignment} {path}", command, env, 1200))
    return jobs


def measured(assignment: str, path: str, figures: list[str]) -> list[dict]:
    """One record per seed of the background training of `assignment` on `path`."""
    code, out, err = background(f"training {assignment} {path}")
    assert code == 0, f"{assignment} {path}: {err[-3000:]}"
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    for record in records:  # the figures, for the log
        figures.append(f"{assignment} {path:15} seed {record['seed']}: score {record['score']:.4f}, "
                       f"{record['cpu_seconds']:.1f} s CPU")
    return records


@pytest.mark.parametrize("assignment, path", CASES)
def test_reference_training_clears_the_target_with_margin(figures, assignment, path):
    target, margin, cpu_limit, higher_is_better = MARGINS[assignment]
    runs = measured(assignment, path, figures)
    assert [r["seed"] for r in runs] == list(SEEDS)

    def clears(score: float) -> bool:
        return score >= target + margin if higher_is_better else score <= target - margin
    close = [(r["seed"], round(r["score"], 4)) for r in runs if not clears(r["score"])]
    assert not close, f"{path}: reference runs within {margin} of the target {target} (or beyond it): {close}"
    slow = [(r["seed"], round(r["cpu_seconds"], 1)) for r in runs if r["cpu_seconds"] > cpu_limit / 2]
    assert not slow, f"{path}: reference runs using more than half of the {cpu_limit} s CPU allowed: {slow}"
