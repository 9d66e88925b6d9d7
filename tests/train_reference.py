"""Train the solution of a graded training part from several seeds and print,
one JSON line per seed, its held-out score and the CPU seconds it took.

    python tests/train_reference.py a3_gated 0 1 2 3 4
    python tests/train_reference.py a4_regularize 0 1 2 3 4

Run by tests/test_training_parts.py in one process per numeric path (the
path is chosen by environment variables, as in benchmarks/run.py). The
notebook's code cells run here in order up to the training function, test
cells skipped; the score comes from the hidden test's own held-out data.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from autograder.course.a3_gated import cases as a3_cases  # noqa: E402
from autograder.course.a4_regularize import cases as a4_cases  # noqa: E402
from autograder.grading.notebooks import nbgrader_meta, source_notebook  # noqa: E402


#: assignment -> (training function in its notebook, score of a trained model)
PARTS: dict[str, tuple[str, Callable[[torch.nn.Module], float]]] = {
    "a3_gated": ("train_recall_model", a3_cases.held_out_recall_accuracy),  # accuracy: higher is better
    "a4_regularize": ("train_char_model", a4_cases.held_out_bpc),  # bits per character: lower is better
}


def load_training_function(assignment: str) -> Callable:
    """Run the source notebook's code cells up to the one that defines the
    training function (test cells skipped) and return that function. The
    cells run in the notebook's folder, as in Jupyter: a4 reads its play
    from a file beside the notebook."""
    name, _ = PARTS[assignment]
    path = source_notebook(assignment)
    nb = nbformat.read(path, as_version=4)
    namespace: dict = {"__name__": "__main__"}
    here = os.getcwd()
    os.chdir(path.parent)
    try:
        for cell in nb.cells:
            meta = nbgrader_meta(cell)
            if cell.cell_type != "code" or (meta.get("grade") and not meta.get("solution")):
                continue
            exec(compile(cell.source, f"<{assignment}:{meta.get('grade_id', '?')}>", "exec"), namespace)
            if name in namespace:
                return namespace[name]
    finally:
        os.chdir(here)
    raise LookupError(f"{assignment}'s notebook defines no {name}")


def main() -> None:
    assignment, seeds = sys.argv[1], [int(s) for s in sys.argv[2:]]
    train = load_training_function(assignment)
    _, score = PARTS[assignment]
    for seed in seeds:
        start = time.process_time()
        model = train(seed=seed)
        seconds = time.process_time() - start
        print(json.dumps({"seed": seed, "score": score(model), "cpu_seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
