"""Assignment notebooks: find them, check their test cells, release them.

`solutions/<assignment>/<notebook>.ipynb` is the nbgrader source (solutions and
hidden tests); `exercises/` is generated from it with
`nbgrader generate_assignment` and never edited by hand.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

#: The repository root: the folder that holds solutions/ and exercises/.
ROOT = Path(__file__).resolve().parents[2]  # the course's folder
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S)


@dataclass(frozen=True)
class GradedPart:
    """One graded cell of an assignment notebook."""

    grade_id: str
    points: float
    manual: bool  # a written answer graded by hand, not by tests


def nbgrader_meta(cell: nbformat.NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def assignments(root: Path = ROOT) -> list[str]:
    """The assignment folders in solutions/, sorted (a1_rnn, a2_bptt, ...)."""
    return sorted(p.name for p in (root / "solutions").iterdir() if p.is_dir() and not p.name.startswith("."))


def source_notebook(assignment: str, root: Path = ROOT) -> Path:
    """The one main notebook of an assignment."""
    found = sorted((root / "solutions" / assignment).glob("*.ipynb"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one notebook in solutions/{assignment}, found {len(found)}")
    return found[0]


DEFAULT_CELL_TIMEOUT = 30  # seconds, nbgrader's own default


def cell_timeout(nb: nbformat.NotebookNode) -> int:
    """Seconds each cell may take. A notebook whose work takes longer (training
    a model) says so in its metadata: {"grading": {"cell_timeout": seconds}}."""
    return int(nb.metadata.get("grading", {}).get("cell_timeout", DEFAULT_CELL_TIMEOUT))


def graded_parts(nb: nbformat.NotebookNode) -> list[GradedPart]:
    """The graded cells of a notebook, in order."""
    parts = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade"):
            manual = bool(meta.get("solution")) or cell.cell_type == "markdown"
            parts.append(GradedPart(meta["grade_id"], float(meta.get("points", 0)), manual))
    return parts


def lint_test_cell(source: str) -> list[str]:
    """Problems of one autograded test cell: it must start with a one-line
    docstring, contain an assert (a cell that only evaluates to False would
    score full marks) and end in a statement, not a value (nbgrader reads a
    number left as the cell's value as partial credit)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return [f"does not parse: {error}"]
    problems = []
    body = tree.body
    first = body[0] if body else None
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)):
        problems.append("does not start with a one-line docstring")
    visible = ast.parse(HIDDEN.sub("", source))
    if not any(isinstance(node, ast.Assert) for node in ast.walk(visible)):
        problems.append("has no assert among its visible tests")
    if len(body) > 1 and isinstance(body[-1], ast.Expr) and not isinstance(body[-1].value, ast.Call):
        problems.append("ends in an expression, whose value nbgrader would read as partial credit")
    return problems


def lint(path: Path) -> list[str]:
    """Problems of a source notebook that would make grading wrong."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and cell.get("outputs"):
            problems.append(f"{path.name}: cell {meta.get('grade_id', cell.get('id'))} has stored outputs")
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            problems += [f"{path.name}: test cell {meta['grade_id']} {p}" for p in lint_test_cell(cell.source)]
            if "BEGIN HIDDEN TESTS" not in cell.source:
                problems.append(f"{path.name}: test cell {meta['grade_id']} has no hidden tests")
    if sum(p.points for p in graded_parts(nb)) != 100:
        problems.append(f"{path.name}: the points do not add up to 100")
    if not any(p.manual for p in graded_parts(nb)):
        problems.append(f"{path.name}: no manually graded answer")
    return problems


def tool_env() -> dict[str, str]:
    """Environment for nbgrader subprocesses: this interpreter's bin/ first on
    PATH (nbgrader runs `alembic` from PATH to create the gradebook), and one
    math thread per kernel: the course's models are small, and several
    threads competing with other work on a busy grading machine can make
    a training cell many times slower than on one thread."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    return env


def nbgrader(args: list[str], cwd: Path, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run one nbgrader command in `cwd`, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=tool_env(),
        capture_output=True, text=True, timeout=timeout,
    )


def release(assignment: str, root: Path = ROOT, release_root: Path | None = None) -> Path:
    """Generate the student version of `assignment` from solutions/ into
    `release_root`/exercises (default: the repository's own exercises/).
    Runs in a scratch copy, so no gradebook or log lands in the tree."""
    problems = lint(source_notebook(assignment, root))
    if problems:
        raise ValueError("cannot release " + assignment + ":\n  " + "\n  ".join(problems))
    target = (release_root or root) / "exercises" / assignment
    with tempfile.TemporaryDirectory() as scratch:
        course = Path(scratch)
        shutil.copytree(root / "solutions" / assignment, course / "solutions" / assignment,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")
        done = nbgrader(["generate_assignment", assignment, "--force", "--no-db"], cwd=course)
        if done.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment failed:\n{done.stdout}\n{done.stderr}")
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(course / "exercises" / assignment, target)
    return target
