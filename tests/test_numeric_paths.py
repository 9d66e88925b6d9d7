"""Every chapter and solution notebook runs, all its asserts holding, on
numeric paths other than this machine's native one.

A reader's laptop rounds differently: MKL picks other kernels on other CPUs,
ATen vectorizes tanh and the LSTM for the CPU it finds, and the thread count
changes the order of sums. The book build (tests/test_book.py) and the
Validator (tests/test_notebooks.py) run the notebooks on the native path;
here each path of PATHS runs them all again, the paths in parallel processes
started in the background when collection ends (tests/conftest.py), each
kernel on one math thread. These tests are marked `paths`: `make test-paths`
runs them (and CI, after `make test`). To run one path by hand:

    MKL_CBWR=COMPATIBLE OMP_NUM_THREADS=1 .venv/bin/python benchmarks/run.py
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import Job, background

pytestmark = [pytest.mark.slow, pytest.mark.paths]

#: Other numeric paths: MKL's conditional-numerical-reproducibility branch that
#: every x86 CPU takes (it changes matrix products here), and ATen's portable
#: kernels without AVX2/AVX512 (they change tanh, sigmoid and the LSTM here).
PATHS = {
    "mkl-compatible": {"MKL_CBWR": "COMPATIBLE"},
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


BACKGROUND_ORDER = 0  # the longest jobs of `make test-paths`: started first


def background_jobs(root: Path, items: list) -> list[Job]:
    """benchmarks/run.py once per selected path, started when collection ends."""
    jobs = []
    selected = {item.callspec.params["path"] for item in items}
    for name, variables in PATHS.items():
        if name not in selected:
            continue
        env = {**os.environ, **ONE_THREAD, **variables}
        env.pop("MPLBACKEND", None)
        jobs.append(Job(f"numeric path {name}", [sys.executable, str(root / "benchmarks" / "run.py")], env, 3000))
    return jobs


@pytest.mark.parametrize("path", PATHS)
def test_every_notebook_holds_on_another_numeric_path(figures, path):
    returncode, out, err = background(f"numeric path {path}")
    output = out + err
    figures.append(f"numeric path {path}:")  # its fingerprint and times, for the log
    figures.extend("    " + line for line in output.splitlines() if not line.startswith("["))
    failed = [line for line in output.splitlines() if "FAILED" in line]
    assert returncode == 0, f"on {path} ({PATHS[path]}):\n" + "\n".join(failed) + "\n\n" + output[-6000:]
