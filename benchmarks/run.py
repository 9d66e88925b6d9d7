"""Print how long each chapter and each solution notebook takes to execute.

    python benchmarks/run.py        (or: make bench)

Figures to compare with the budgets of DESIGN.md (chapter <= 90 s, solution
notebook <= 60 s on a 2-core CPU); nothing here asserts a time.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
BUDGET = {"chapter": 90.0, "solution": 60.0}


def execute(nb: nbformat.NotebookNode, cwd: Path) -> float:
    """Seconds to run a notebook top to bottom in a fresh kernel (kernel start included)."""
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return time.perf_counter() - start


def main() -> int:
    rows = []
    for path in sorted((ROOT / "chapters").glob("*.md")):
        rows.append(("chapter", path.relative_to(ROOT), execute(jupytext.read(path), path.parent)))
    for path in sorted((ROOT / "solutions").rglob("*.ipynb")):
        rows.append(("solution", path.relative_to(ROOT), execute(nbformat.read(path, as_version=4), path.parent)))
    print(f"{'kind':9} {'notebook':45} {'seconds':>8} {'budget':>7}")
    for kind, path, seconds in rows:
        flag = "" if seconds <= BUDGET[kind] else "  OVER BUDGET"
        print(f"{kind:9} {str(path):45} {seconds:8.1f} {BUDGET[kind]:7.0f}{flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
