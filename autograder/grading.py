"""Grade a batch of submissions with nbgrader in a workspace outside the source tree.

The workspace (default `grading/`) is an nbgrader course folder of its own:
`source/` (a copy of the assignment from solutions/), `submitted/`,
`autograded/`, the gradebook, and `reports/<assignment>/` with `grades.csv`
and one feedback page per student. The instructor's tree is only read.
"""
from __future__ import annotations

import copy
import csv
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import feedback
from .intake import Found, find_submissions, student_id, unpack
from .notebooks import ROOT, GradedPart, cell_timeout, graded_parts, nbgrader_meta, source_notebook, tool_env

WORKSPACE_CONFIG = '''\
"""nbgrader configuration of a grading workspace (written by `python -m autograder grade`)."""
c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "rnn-course"
c.CourseDirectory.db_url = {db_url!r}
# Per-cell time limit: an endless loop fails its cell, and grading goes on.
c.Execute.timeout = {timeout}
c.Execute.error_on_timeout = {{
    "ename": "CellTimeoutError",
    "evalue": "this cell did not finish within {timeout} s (an endless loop, or far too slow)",
    "traceback": ["CellTimeoutError: this cell did not finish within {timeout} s "
                  "(an endless loop, or far too slow)"],
}}
# Test cells deleted by a student are put back before grading.
c.OverwriteCells.add_missing_cells = True
# Output on stderr (a warning printed by correct code, a progress bar) must not
# fail a test cell: a test cell fails only by raising, as a failed assert does.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\\s\\S]"
'''


MAX_SKIPPED_CELLS = 3  # cells that kill the kernel, skipped one by one before giving up

SKIPPED_CELL = (
    'raise RuntimeError("This cell stopped the Python kernel during grading (for example with os._exit, '
    'a crash in native code or running out of memory), so it was not run.")\n'
)

DIAGNOSIS = {
    "kernel died": "the Python kernel stopped (os._exit, a crash in native code, or out of memory) "
                   "and the cell responsible could not be skipped",
    "grading timed out": "the whole notebook took longer than the time allowed per submission",
    "grading failed": "nbgrader could not grade this notebook: see the workspace's logs",
}


def _skip_cell(nb: nbformat.NotebookNode, index: int) -> str | None:
    """Replace the student's code that killed the kernel by a cell that raises.
    A test cell cannot be changed (nbgrader restores it), so when the kernel died
    in a test, the student's code cell before it is skipped. Returns its name."""
    for i in range(index, -1, -1):
        cell, meta = nb.cells[i], nbgrader_meta(nb.cells[i])
        student_code = cell.cell_type == "code" and (meta.get("solution") or not meta)
        if student_code and cell.source != SKIPPED_CELL:
            cell.source = SKIPPED_CELL
            return meta.get("grade_id") or f"#{i}"
    return None


@dataclass
class Result:
    """What grading one student produced."""

    student: str
    status: str  # "graded", or why the submission could not be graded
    scores: dict[str, float | None] = field(default_factory=dict)  # grade_id -> points (None: not graded yet)
    notes: list[str] = field(default_factory=list)

    @property
    def graded(self) -> bool:
        return self.status == "graded"


@dataclass
class Options:
    """Settings of one grading run."""

    workspace: Path = Path("grading")
    db_url: str | None = None  # default: SQLite in the workspace
    cell_timeout: int | None = None  # seconds per cell; None: the notebook's own setting, else 30
    memory_gib: float = 4.0  # address-space limit of the grading process and its kernel
    student_timeout: int = 900  # seconds for one whole notebook


def _limit_memory(gib: float):
    def apply() -> None:
        limit = int(gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


class Workspace:
    """An nbgrader course folder for grading one assignment."""

    def __init__(self, assignment: str, options: Options, root: Path = ROOT):
        self.assignment = assignment
        self.options = options
        self.path = options.workspace.resolve()
        self.source = source_notebook(assignment, root)
        self.notebook_name = self.source.name
        self.db_url = options.db_url or f"sqlite:///{self.path / 'gradebook.db'}"
        self.reports = self.path / "reports" / assignment
        self.source_nb = nbformat.read(self.source, as_version=4)
        self.parts: list[GradedPart] = graded_parts(self.source_nb)
        self.cell_timeout: int = options.cell_timeout or cell_timeout(self.source_nb)

    def prepare(self) -> None:
        """Write the configuration, copy the source and register it in the gradebook."""
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "nbgrader_config.py").write_text(
            WORKSPACE_CONFIG.format(root=str(self.path), db_url=self.db_url, timeout=self.cell_timeout))
        target = self.path / "source" / self.assignment
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(self.source.parent, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        done = self._nbgrader(["generate_assignment", self.assignment, "--force"])
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-12:])
            raise RuntimeError(f"nbgrader generate_assignment failed in {self.path}:\n{tail}")

    def _nbgrader(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=self.path, env=tool_env(),
                              capture_output=True, text=True, **kwargs)

    # --- one student ---------------------------------------------------------

    def grade(self, found: Found) -> Result:
        """Check, submit, autograde and read back one student's notebook."""
        if found.path is None:
            return Result(found.student, "no notebook", notes=[found.problem or ""])
        problem, notes = self.preflight(found.path)
        if problem:
            return Result(found.student, problem, notes=notes)
        result = Result(found.student, "graded", notes=notes)
        nb = nbformat.read(found.path, as_version=4)
        for _attempt in range(MAX_SKIPPED_CELLS + 1):
            self._submit(found.student, nb)
            outcome = self._autograde(found.student)
            if outcome != "kernel died":
                break
            # The kernel died: find the cell that killed it, skip it, grade the rest.
            index = self._killer_cell(nb)
            skipped = _skip_cell(nb, index) if index >= 0 else None
            if skipped is None:
                break
            result.notes.append(f"the kernel died in cell {skipped}; it was skipped and the rest graded")
        if outcome != "graded":
            result.status = outcome
            result.notes.append(DIAGNOSIS.get(outcome, ""))
            return result
        result.scores = self.read_scores(found.student)
        result.notes += self._timeouts(self.autograded_path(found.student))
        return result

    def _autograde(self, student: str) -> str:
        """Run `nbgrader autograde` for one student in a memory-limited process."""
        try:
            done = self._nbgrader(
                ["autograde", self.assignment, "--student", student, "--force"],
                timeout=self.options.student_timeout, preexec_fn=_limit_memory(self.options.memory_gib))
        except subprocess.TimeoutExpired:
            return "grading timed out"
        log = done.stdout + done.stderr
        if done.returncode == 0 and self.autograded_path(student).exists():
            return "graded"
        return "kernel died" if ("DeadKernel" in log or "Kernel died" in log) else "grading failed"

    def _killer_cell(self, nb: nbformat.NotebookNode) -> int:
        """Index of the cell during which the kernel dies, run as nbgrader would
        (test cells as in the source), in a separate memory-limited process."""
        source_tests = {nbgrader_meta(c)["grade_id"]: c.source for c in self._source_copy().cells
                        if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")}
        probe = copy.deepcopy(nb)
        for cell in probe.cells:
            grade_id = nbgrader_meta(cell).get("grade_id")
            if grade_id in source_tests:
                cell.source = source_tests[grade_id]
        folder = self.path / "crashfinder"
        folder.mkdir(exist_ok=True)
        path = folder / self.notebook_name
        nbformat.write(probe, path)
        try:
            done = subprocess.run([sys.executable, "-m", "autograder.crashfinder", str(path),
                                   str(self.cell_timeout)], cwd=folder, env=tool_env(), text=True,
                                  capture_output=True, timeout=self.options.student_timeout,
                                  preexec_fn=_limit_memory(self.options.memory_gib))
            return int(done.stdout.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            return -1

    def _source_copy(self) -> nbformat.NotebookNode:
        return nbformat.read(self.path / "source" / self.assignment / self.notebook_name, as_version=4)

    def preflight(self, path: Path) -> tuple[str | None, list[str]]:
        """Return (problem, notes): a problem stops grading; notes are worth a look."""
        try:
            nb = nbformat.read(path, as_version=4)
            nbformat.validate(nb)
        except Exception as error:  # not JSON, not a notebook, truncated, ...
            return "unreadable", [f"not a valid notebook: {type(error).__name__}: {str(error)[:200]}"]
        submitted = {nbgrader_meta(c).get("grade_id"): c for c in nb.cells if nbgrader_meta(c).get("grade_id")}
        expected = [p.grade_id for p in self.parts]
        if submitted and not set(submitted) & set(expected):
            return "wrong assignment", [f"none of {self.assignment}'s graded cells is in {path.name}"]
        notes = []
        missing = [g for g in expected if g not in submitted]
        if missing:
            notes.append("cells deleted, put back for grading: " + ", ".join(missing))
        released = {nbgrader_meta(c).get("grade_id"): c.source for c in self._released().cells}
        edited = [g for g in expected if g in submitted and not self._is_answer(g)
                  and submitted[g].source.strip() != released.get(g, "").strip()]
        if edited:
            notes.append("test cells edited, restored for grading: " + ", ".join(edited))
        return None, notes

    def _is_answer(self, grade_id: str) -> bool:
        return any(p.grade_id == grade_id and p.manual for p in self.parts)

    def _released(self) -> nbformat.NotebookNode:
        return nbformat.read(self.path / "release" / self.assignment / self.notebook_name, as_version=4)

    def _submit(self, student: str, nb: nbformat.NotebookNode) -> None:
        folder = self.path / "submitted" / student / self.assignment
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / self.notebook_name)

    def autograded_path(self, student: str) -> Path:
        return self.path / "autograded" / student / self.assignment / self.notebook_name

    def read_scores(self, student: str) -> dict[str, float | None]:
        """Points per graded cell from the gradebook; None where a person must grade."""
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url) as gb:
            notebook = gb.find_submission_notebook(Path(self.notebook_name).stem, self.assignment, student)
            scores: dict[str, float | None] = {}
            for grade in notebook.grades:
                pending = grade.auto_score is None and grade.manual_score is None
                scores[grade.name] = None if pending else float(grade.score)
            return scores

    @staticmethod
    def _timeouts(graded: Path) -> list[str]:
        nb = nbformat.read(graded, as_version=4)
        timed_out = [nbgrader_meta(c).get("grade_id") or f"cell {i}" for i, c in enumerate(nb.cells)
                     if any(o.get("ename") == "CellTimeoutError" for o in c.get("outputs", []))]
        return ["time limit reached in: " + ", ".join(timed_out)] if timed_out else []

    # --- reports -------------------------------------------------------------

    def write_reports(self, results: list[Result]) -> Path:
        """grades.csv (one column per graded part) and one feedback page per student."""
        self.reports.mkdir(parents=True, exist_ok=True)
        feedback_dir = self.reports / "feedback"
        if feedback_dir.exists():
            shutil.rmtree(feedback_dir)
        feedback_dir.mkdir()
        csv_path = self.reports / "grades.csv"
        with csv_path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["student", *[p.grade_id for p in self.parts], "total", "max_total", "status", "notes"])
            for r in results:
                writer.writerow([r.student, *[_cell(r, p) for p in self.parts], _fmt(total(r)),
                                 _fmt(sum(p.points for p in self.parts)), status_text(r, self.parts), "; ".join(r.notes)])
        for r in results:
            graded = self.autograded_path(r.student)
            page = feedback_dir / f"{r.student}.html"
            if r.graded and graded.exists():
                page.write_text(feedback.render(nbformat.read(graded, as_version=4), self.assignment, r, self.parts))
            else:
                page.write_text(feedback.render_problem(self.assignment, r))
        return csv_path


def total(result: Result) -> float:
    return sum(v for v in result.scores.values() if v is not None)


def pending_manual(result: Result, parts: list[GradedPart]) -> list[str]:
    return [p.grade_id for p in parts if result.graded and result.scores.get(p.grade_id) is None]


def status_text(result: Result, parts: list[GradedPart]) -> str:
    pending = pending_manual(result, parts)
    text = f"graded, manual grading pending: {', '.join(pending)}" if pending else result.status
    return text + (" (see notes)" if result.graded and result.notes else "")


def _cell(result: Result, part: GradedPart) -> str:
    value = result.scores.get(part.grade_id)
    return "" if value is None else _fmt(value)


def _fmt(value: float) -> str:
    return f"{value:g}"


def collect(submissions: Path, notebook_name: str, workspace: Path) -> list[Found]:
    """Unpack a zip into the workspace if needed, then find one notebook per student."""
    if submissions.is_file() and submissions.suffix.lower() == ".zip":
        target = workspace / "intake" / submissions.stem
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        return find_submissions(unpack(submissions, target), notebook_name)
    if submissions.is_file() and submissions.suffix == ".ipynb":
        return [Found(student_id(submissions.stem, Path(notebook_name).stem), submissions)]
    if not submissions.is_dir():
        raise FileNotFoundError(f"{submissions} is neither a folder, a .zip nor a notebook")
    return find_submissions(submissions, notebook_name)


def summary_table(results: list[Result], parts: list[GradedPart]) -> str:
    """A plain-text table of the run for the terminal."""
    headers = ["student", *[p.grade_id.removeprefix("test_") for p in parts], "total", "status"]
    rows = [[r.student, *[_cell(r, p) or "-" for p in parts], _fmt(total(r)), status_text(r, parts)] for r in results]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])
