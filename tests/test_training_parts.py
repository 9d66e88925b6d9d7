"""A correct solution of every graded training part passes, with margin, on
every numeric path and from every seed: a student must not lose points to
their CPU's rounding or to an unlucky seed.

The reference solution in solutions/ is trained from SEEDS on the native path
and on each path of tests/test_numeric_paths.py, one process per path, in
parallel. Every run must beat the grading target by MARGINS[assignment] and
take at most half the CPU time the part allows.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from autograder.cases import RECALL_TARGET
from test_numeric_paths import ONE_THREAD, PATHS

pytestmark = pytest.mark.slow

SEEDS = (0, 1, 2, 3, 4)
#: assignment -> (grading target, margin every reference run must clear it by, CPU seconds allowed)
MARGINS = {"a3_gated": (RECALL_TARGET, 0.02, 60.0)}


@pytest.fixture(scope="module")
def measured(root, figures) -> dict[tuple[str, str], list[dict]]:
    """{(assignment, path): one record per seed}, every path trained at once."""
    started = {}
    for assignment in MARGINS:
        for path, variables in {"native": {}, **PATHS}.items():
            env = {**os.environ, **ONE_THREAD, **variables}
            command = [sys.executable, str(root / "tests" / "train_reference.py"), assignment, *map(str, SEEDS)]
            started[assignment, path] = subprocess.Popen(command, cwd=root, env=env, text=True,
                                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results = {}
    for key, process in started.items():
        out, err = process.communicate(timeout=1200)
        assert process.returncode == 0, f"{key}: {err[-3000:]}"
        results[key] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        for record in results[key]:  # the figures, for the log
            figures.append(f"{key[0]} {key[1]:15} seed {record['seed']}: score {record['score']:.4f}, "
                  f"{record['cpu_seconds']:.1f} s CPU")
    return results


@pytest.mark.parametrize("assignment", MARGINS)
def test_reference_training_clears_the_target_with_margin_everywhere(measured, assignment):
    target, margin, cpu_limit = MARGINS[assignment]
    runs = [(path, r) for (a, path), records in measured.items() if a == assignment for r in records]
    assert len(runs) == len(SEEDS) * (1 + len(PATHS))
    low = [(path, r["seed"], round(r["score"], 4)) for path, r in runs if r["score"] < target + margin]
    assert not low, f"reference runs within {margin} of the target {target}: {low}"
    slow = [(path, r["seed"], round(r["cpu_seconds"], 1)) for path, r in runs if r["cpu_seconds"] > cpu_limit / 2]
    assert not slow, f"reference runs using more than half of the {cpu_limit} s CPU allowed: {slow}"
