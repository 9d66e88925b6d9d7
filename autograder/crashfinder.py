"""Find the cell during which a notebook's kernel dies.

nbgrader gives no grade at all to a notebook whose kernel dies (`os._exit`, a
crash in native code, the out-of-memory killer). The grader runs this module in
a separate, memory-limited process to find that cell, so it can be skipped and
the rest of the notebook graded:

    python -m autograder.crashfinder NOTEBOOK TIMEOUT   -> prints the cell index, or -1
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError


def killer_cell(path: Path, timeout: int) -> int:
    """Index of the code cell during which the kernel died, or -1 if it never did."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, interrupt_on_timeout=True, allow_errors=True,
                            kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except DeadKernelError:
                return index
            except (CellExecutionError, CellTimeoutError):
                continue
            if not client.kc.is_alive():
                return index
    return -1


if __name__ == "__main__":
    print(killer_cell(Path(sys.argv[1]), int(sys.argv[2])))
