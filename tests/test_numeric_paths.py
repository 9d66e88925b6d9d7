"""Every chapter and solution notebook runs, all its asserts holding, on
numeric paths other than this machine's native one.

A reader's laptop rounds differently: MKL picks other kernels on other CPUs,
ATen vectorizes tanh and the LSTM for the CPU it finds, and the thread count
changes the order of sums. The book build (tests/test_book.py) and the
Validator (tests/test_notebooks.py) run the notebooks on the native path;
here each path of PATHS runs them all again, the paths in parallel processes,
each kernel on one math thread. To run one path by hand:

    MKL_CBWR=COMPATIBLE OMP_NUM_THREADS=1 .venv/bin/python benchmarks/run.py
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

#: Other numeric paths: MKL's conditional-numerical-reproducibility branch that
#: every x86 CPU takes (it changes matrix products here), and ATen's portable
#: kernels without AVX2/AVX512 (they change tanh, sigmoid and the LSTM here).
PATHS = {
    "mkl-compatible": {"MKL_CBWR": "COMPATIBLE"},
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def runs(root, figures) -> dict[str, tuple[int, str]]:
    """Run benchmarks/run.py once per path, all paths at the same time."""
    started = {}
    for name, variables in PATHS.items():
        env = {**os.environ, **ONE_THREAD, **variables}
        env.pop("MPLBACKEND", None)
        started[name] = subprocess.Popen([sys.executable, str(root / "benchmarks" / "run.py")], cwd=root, env=env,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = {}
    for name, process in started.items():
        output, _ = process.communicate(timeout=1500)
        figures.append(f"numeric path {name}:")  # its fingerprint and times, for the log
        figures.extend("    " + line for line in output.splitlines() if not line.startswith("["))
        done[name] = (process.returncode, output)
    return done


@pytest.mark.parametrize("path", PATHS)
def test_every_notebook_holds_on_another_numeric_path(runs, path):
    returncode, output = runs[path]
    failed = [line for line in output.splitlines() if "FAILED" in line]
    assert returncode == 0, f"on {path} ({PATHS[path]}):\n" + "\n".join(failed) + "\n\n" + output[-6000:]
