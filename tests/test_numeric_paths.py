"""Every chapter and solution notebook runs, all its asserts holding, on
numeric paths other than this machine's native one.

A reader's laptop rounds differently: MKL picks other kernels on other CPUs,
ATen vectorizes tanh and the LSTM for the CPU it finds, and the thread count
changes the order of sums. The book build (tests/test_book.py) and the
Validator (tests/test_notebooks.py) run the notebooks on the native path;
here each path of PATHS runs them all again, the paths in parallel processes
started in the background when this module is collected (tests/conftest.py),
each kernel on one math thread. To run one path by hand:

    MKL_CBWR=COMPATIBLE OMP_NUM_THREADS=1 .venv/bin/python benchmarks/run.py
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import Job, background

pytestmark = pytest.mark.slow

#: Other numeric paths: MKL's conditional-numerical-reproducibility branch that
#: every x86 CPU takes (it changes matrix products here), and ATen's portable
#: kernels without AVX2/AVX512 (they change tanh, sigmoid and the LSTM here).
PATHS = {
    "mkl-compatible": {"MKL_CBWR": "COMPATIBLE"},
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


BACKGROUND_ORDER = 0  # the longest jobs of the suite: started first


def background_jobs(root: Path) -> list[Job]:
    """benchmarks/run.py once per path, started when this module is collected."""
    jobs = []
    for name, variables in PATHS.items():
        env = {**os.environ, **ONE_THREAD, **variables}
        env.pop("MPLBACKEND", None)
        jobs.append(Job(f"numeric path {name}", [sys.executable, str(root / "benchmarks" / "run.py")], env, 3000))
    return jobs


@pytest.fixture(scope="module")
def runs(figures) -> dict[str, tuple[int, str]]:
    """Each path's exit code and output (stdout and stderr)."""
    done = {}
    for name in PATHS:
        code, out, err = background(f"numeric path {name}")
        output = out + err
        figures.append(f"numeric path {name}:")  # its fingerprint and times, for the log
        figures.extend("    " + line for line in output.splitlines() if not line.startswith("["))
        done[name] = (code, output)
    return done


@pytest.mark.parametrize("path", PATHS)
def test_every_notebook_holds_on_another_numeric_path(runs, path):
    returncode, output = runs[path]
    failed = [line for line in output.splitlines() if "FAILED" in line]
    assert returncode == 0, f"on {path} ({PATHS[path]}):\n" + "\n".join(failed) + "\n\n" + output[-6000:]
