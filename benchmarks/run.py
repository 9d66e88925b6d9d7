"""Run every chapter and solution notebook; print how long each took and
whether all of its cells (and so all of its asserts) ran.

    python benchmarks/run.py                  (or: make bench)
    python benchmarks/run.py --only 03_bptt   (the notebooks whose path contains 03_bptt)
    MKL_CBWR=COMPATIBLE python benchmarks/run.py          (another numeric path)
    ATEN_CPU_CAPABILITY=default python benchmarks/run.py  (and another)

Each notebook runs top to bottom in a fresh kernel, which inherits this
process's environment: that is how a numeric path set by an environment
variable reaches the notebook's code. The times are figures to compare with
the budgets of DESIGN.md (chapter <= 90 s, solution notebook <= 60 s on a
2-core CPU); nothing here asserts a time. The exit code is 1 if any notebook
failed, so `tests/test_numeric_paths.py` can use this script as it is.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
BUDGET = {"chapter": 90.0, "solution": 60.0}
#: Environment variables that choose a numeric path (kernels, rounding, threads).
PATH_VARIABLES = ("MKL_CBWR", "ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def notebooks(only: str | None) -> list[tuple[str, Path]]:
    """(kind, path) of every chapter and solution notebook, or of those whose
    path contains `only`."""
    found = [("chapter", p) for p in sorted((ROOT / "chapters").glob("*.md"))]
    found += [("solution", p) for p in sorted((ROOT / "solutions").rglob("*.ipynb"))
              if ".ipynb_checkpoints" not in p.parts]
    return [(kind, p) for kind, p in found if only is None or only in str(p.relative_to(ROOT))]


def execute(path: Path) -> tuple[float, str | None]:
    """Run one notebook in a fresh kernel started in its folder. Returns the
    seconds it took (kernel start included) and None, or the error that
    stopped it."""
    nb = jupytext.read(path) if path.suffix == ".md" else nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
        error = None
    except CellExecutionError as failure:
        cell = str(failure).split("------------------")[1].strip() if "----" in str(failure) else ""
        error = f"{failure.ename}: {failure.evalue}\n    in the cell:\n    " + cell[-1500:].replace("\n", "\n    ")
    return time.perf_counter() - start, error


def fingerprint() -> str:
    """A few results whose last digits depend on the numeric path (a matrix
    product through MKL, ATen's vectorized tanh and LSTM), to show in the log
    which path ran."""
    import torch

    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 128, generator=gen), torch.randn(128, 256, generator=gen)
    lstm = torch.nn.LSTM(8, 16)
    with torch.no_grad():
        out, _ = lstm(torch.randn(20, 4, 8, generator=gen))
    values = [(a @ b).sum(), torch.tanh(3 * a).sum(), out.sum()]
    return " ".join(f"{v.item():.9g}" for v in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run only the notebooks whose path contains this text")
    args = parser.parse_args()
    chosen = notebooks(args.only)
    if not chosen:
        print(f"no notebook matches {args.only!r}")
        return 1
    setting = " ".join(f"{name}={os.environ[name]}" for name in PATH_VARIABLES if name in os.environ)
    print(f"numeric path: {setting or 'native'}; fingerprint {fingerprint()}", flush=True)
    print(f"{'kind':9} {'notebook':45} {'seconds':>8} {'budget':>7}  outcome", flush=True)
    failures = 0
    for kind, path in chosen:
        seconds, error = execute(path)
        failures += error is not None
        flag = "" if seconds <= BUDGET[kind] else " (over budget)"
        outcome = "ok" if error is None else f"FAILED {error}"
        print(f"{kind:9} {str(path.relative_to(ROOT)):45} {seconds:8.1f} {BUDGET[kind]:7.0f}  "
              f"{outcome}{flag}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
