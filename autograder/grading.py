"""Grade a batch of submissions: each notebook runs in a sandbox, verdicts are made here.

The workspace (default `grading/`) is an nbgrader course folder of its own:
`source/` (a copy of the assignment from solutions/), `release/`, `submitted/`,
`autograded/`, the gradebook, and `reports/<assignment>/` with `grades.csv`
and one feedback page per student. The instructor's tree is only read.

For each student, in order:
1. the notebook to run is rebuilt from the release: the student's answer
   cells and extra cells, every given and test cell as released (edits and
   deletions undone, hidden tests absent);
2. it runs in a sandboxed kernel (`autograder.sandbox`), driven from here;
   a cell that kills the kernel is skipped and the notebook run again;
3. for each graded part the kernel calls the student's function on the
   part's inputs and sends back plain data, read at once
   (`autograder.session`), and this process judges it against the
   reference (`autograder.cases.judge`): whether a test cell raised in the
   kernel decides nothing;
4. the kernel is stopped, and with it every process the notebook started;
5. scores go to nbgrader's gradebook (Formgrader and manual grading work as
   with `nbgrader autograde`), and, once every student is done, this process
   writes the reports.
"""
from __future__ import annotations

import copy
import csv
import functools
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import cases, feedback, gradebook, sandbox, session
from .intake import Found, find_submissions, student_id, unpack
from .notebooks import HIDDEN, ROOT, GradedPart, cell_timeout, graded_parts, nbgrader_meta, source_notebook, tool_env
from .sandboxed import wire

WORKSPACE_CONFIG = '''\
"""nbgrader configuration of a grading workspace (written by `python -m autograder grade`)."""
c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "rnn-course"
c.CourseDirectory.db_url = {db_url!r}
'''

MAX_RESTARTS = 3  # kernels that die (a cell skipped each time) before giving up

SKIPPED_CELL = (
    'raise RuntimeError("This cell stopped the Python kernel during grading (for example with os._exit, '
    'a crash in native code or running out of memory), so it was not run.")\n'
)
CHECK = re.compile(r"""check\(\s*["']([\w.]+)["']""")

DIAGNOSIS = {
    "kernel died": "the Python kernel stopped (os._exit, a crash in native code, or out of memory) "
                   "and the cell responsible could not be skipped",
    "kernel did not start": "the sandboxed kernel could not be started: see the notes",
}


@dataclass
class Result:
    """What grading one student produced."""

    student: str
    status: str  # "graded", or why the submission could not be graded
    scores: dict[str, float | None] = field(default_factory=dict)  # grade_id -> points (None: not graded yet)
    notes: list[str] = field(default_factory=list)
    messages: dict[str, str | None] = field(default_factory=dict)  # test grade_id -> verdict (None: passed)

    @property
    def graded(self) -> bool:
        return self.status == "graded"


@dataclass
class Options:
    """Settings of one grading run."""

    workspace: Path = Path("grading")
    db_url: str | None = None  # default: SQLite in the workspace
    cell_timeout: int | None = None  # seconds per cell; None: the notebook's own setting, else 30
    memory_gib: float = 4.0  # address-space limit of each process of the student's kernel
    student_timeout: int = 900  # seconds for one whole notebook and its grading calls
    sandbox: bool = True  # False only with --no-sandbox


def merge(release: nbformat.NotebookNode, submitted: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook to run: the release, with the student's answers in its
    answer cells and the student's own extra cells where they put them. Given
    and test cells are the released ones whatever the student did to them
    (edited, deleted, metadata changed); no output is kept."""
    released_ids = {nbgrader_meta(c).get("grade_id") for c in release.cells} - {None}
    answers: dict[str, nbformat.NotebookNode] = {}
    extras: dict[str | None, list] = {}
    last: str | None = None
    for cell in submitted.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in released_ids:
            answers.setdefault(grade_id, cell)
            last = grade_id
        elif cell.cell_type in ("code", "markdown"):
            extra = (nbformat.v4.new_code_cell if cell.cell_type == "code" else nbformat.v4.new_markdown_cell)(
                str(cell.get("source", "")))
            extras.setdefault(last, []).append(extra)
    merged = nbformat.v4.new_notebook(metadata=copy.deepcopy(release.metadata))
    merged.cells = list(extras.get(None, []))
    for cell in release.cells:
        cell = copy.deepcopy(cell)
        meta = nbgrader_meta(cell)
        answer = answers.get(meta.get("grade_id"))
        if meta.get("solution") and answer is not None and answer.cell_type == cell.cell_type:
            cell.source = str(answer.get("source", ""))
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        merged.cells.append(cell)
        merged.cells.extend(extras.get(meta.get("grade_id"), []))
    for index, cell in enumerate(merged.cells):
        cell["id"] = f"cell-{index}"
    return merged


def _skip_cell(nb: nbformat.NotebookNode, index: int) -> str | None:
    """Replace the student's code that killed the kernel by a cell that raises.
    When the kernel died in a given or test cell, the student's code cell
    before it is skipped. Returns its name."""
    for i in range(index, -1, -1):
        cell, meta = nb.cells[i], nbgrader_meta(nb.cells[i])
        student_code = cell.cell_type == "code" and (meta.get("solution") or not meta)
        if student_code and cell.source != SKIPPED_CELL:
            cell.source = SKIPPED_CELL
            return meta.get("grade_id") or f"#{i}"
    return None


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
        self.checks = self._checks()
        module = {cases.module_for(name) for name in self.checks.values()}
        self.kernel_module = module.pop() if len(module) == 1 else None

    def _checks(self) -> dict[str, str]:
        """Test cell grade_id -> the part it grades, from its hidden tests."""
        found = {}
        for cell in self.source_nb.cells:
            meta = nbgrader_meta(cell)
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                names = [CHECK.search(m.group(0)) for m in HIDDEN.finditer(cell.source)]
                names = [n.group(1) for n in names if n]
                if len(names) != 1 or names[0] not in cases.CASES:
                    raise ValueError(f"test cell {meta.get('grade_id')} of {self.assignment} must have exactly "
                                     f"one hidden check(\"<part>\", ...) of a known part, found {names}")
                found[meta["grade_id"]] = names[0]
        return found

    def prepare(self) -> None:
        """Write the configuration, copy the source, register it in the gradebook,
        and stage the kernel-side package."""
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "nbgrader_config.py").write_text(
            WORKSPACE_CONFIG.format(root=str(self.path), db_url=self.db_url))
        target = self.path / "source" / self.assignment
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(self.source.parent, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        done = self._nbgrader(["generate_assignment", self.assignment, "--force"])
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-12:])
            raise RuntimeError(f"nbgrader generate_assignment failed in {self.path}:\n{tail}")
        self.__dict__.pop("released", None)  # generated anew just now
        if self.kernel_module is None:
            raise RuntimeError(f"the test cells of {self.assignment} check parts of several assignments")
        self.package = sandbox.kernel_package(self.path / "kernel-package", self.kernel_module)

    def _nbgrader(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=self.path, env=tool_env(),
                              capture_output=True, text=True, **kwargs)

    # --- one student ---------------------------------------------------------

    def grade(self, found: Found, index: int = 0) -> Result:
        """Check, run, judge and record one student's notebook."""
        if found.path is None:
            return Result(found.student, "no notebook", notes=[found.problem or ""])
        problem, notes = self.preflight(found.path)
        if problem:
            return Result(found.student, problem, notes=notes)
        result = Result(found.student, "graded", notes=notes)
        submitted = nbformat.read(found.path, as_version=4)
        self._submit(found.student, submitted)
        nb = merge(self.released, submitted)
        executed = self._run(nb, result, self.path / "scratch" / f"k{index}")
        if result.graded:
            self._record(found.student, executed, result)
        return result

    def _settings(self, scratch: Path) -> session.Settings:
        limits = sandbox.Limits(memory_gib=self.options.memory_gib, cpu_seconds=self.options.student_timeout)
        return session.Settings(scratch=scratch, package=self.package, limits=limits,
                                sandbox=self.options.sandbox, cell_timeout=self.cell_timeout)

    def _run(self, nb: nbformat.NotebookNode, result: Result, scratch: Path) -> nbformat.NotebookNode:
        """Run the notebook and collect every part, restarting the kernel (with
        the killing cell skipped) when it dies; fills result.messages."""
        deadline = time.monotonic() + self.options.student_timeout
        pending = list(self.checks.items())  # (test grade_id, part) still to collect
        timed_out: list[str] = []
        for _attempt in range(MAX_RESTARTS + 1):
            run = copy.deepcopy(nb)
            kernel = self._start(run, scratch, result)
            if kernel is None:
                return run
            try:
                died_at = None
                for index, cell in enumerate(run.cells):
                    if cell.cell_type != "code":
                        continue
                    if time.monotonic() > deadline:
                        break
                    status = kernel.run_cell(index)
                    if status == "timeout":
                        timed_out.append(nbgrader_meta(cell).get("grade_id") or f"cell {index}")
                    if status == "dead":
                        died_at = index
                        break
                if died_at is not None:
                    skipped = _skip_cell(nb, died_at)
                    if skipped is None:
                        result.status = "kernel died"
                        result.notes.append(DIAGNOSIS["kernel died"])
                        return run
                    result.notes.append(f"the kernel died in cell {skipped}; it was skipped and the rest graded")
                    continue
                while pending:
                    grade_id, part = pending[0]
                    if time.monotonic() > deadline:
                        result.messages[grade_id] = (f"{cases.CASES[part].title}: not graded, the time allowed "
                                                     f"per submission ({self.options.student_timeout} s) ran out")
                        pending.pop(0)
                        continue
                    status, outputs = kernel.call(
                        session.collect_code(self.kernel_module, part, cases.replay_tables(part)),
                        self.cell_timeout)
                    pending.pop(0)
                    result.messages[grade_id] = self._verdict(part, status, outputs)
                    if status == "dead":
                        break  # a new kernel for the parts after this one
                if not pending:
                    break
            finally:
                kernel.close()
                sandbox.remove(scratch)
        for grade_id, part in pending:
            result.messages[grade_id] = f"{cases.CASES[part].title}: not graded, the kernel kept dying"
        if timed_out:
            result.notes.append("time limit reached in: " + ", ".join(dict.fromkeys(timed_out)))
        for part in self.parts:
            if part.manual:
                result.scores[part.grade_id] = None
            else:
                result.scores[part.grade_id] = part.points if result.messages.get(part.grade_id) is None else 0.0
        return run

    def _start(self, run: nbformat.NotebookNode, scratch: Path, result: Result) -> session.Kernel | None:
        """A started kernel, trying twice (a machine busy with another sandbox's
        teardown can refuse once); None, with the reason noted, if it fails."""
        for attempt in range(2):
            kernel = session.Kernel(run, self._settings(scratch))
            try:
                return kernel.__enter__()
            except Exception as error:  # bwrap refused, the kernel never answered, ...
                kernel.close()
                if attempt == 1:
                    result.status = "kernel did not start"
                    result.notes.append(f"{type(error).__name__}: {str(error)[:300]}")
                time.sleep(3)
        return None

    def _verdict(self, part: str, status: str, outputs: list) -> str | None:
        """The message for one part (None: passed), from what its call sent back."""
        title, function = cases.CASES[part].title, cases.calls_for(part).function
        if status == "dead":
            return (f"{title}: the Python kernel stopped while the grader called {function} "
                    f"(os._exit, a crash in native code, or out of memory)")
        if status == "timeout":
            return f"{title}: the grader's calls of {function} did not finish within {self.cell_timeout} s"
        sent = session.read_result(outputs)
        if sent is None:
            return f"{title}: the grader's calls of {function} sent nothing back"
        try:
            outcomes = wire.unpack(*sent)
        except wire.WireError as error:
            return f"{title}: what came back from the calls of {function} is not plain data ({error})"
        except Exception:  # anything else a forged document may provoke
            return f"{title}: what came back from the calls of {function} is not plain data"
        try:
            return cases.summary(part, cases.judge(part, outcomes))
        except Exception as error:  # a result no comparison foresaw: not graded as right
            return f"{title}: the result could not be judged ({type(error).__name__})"

    def _record(self, student: str, executed: nbformat.NotebookNode, result: Result) -> None:
        """The executed notebook and the scores, into the workspace and the gradebook."""
        folder = self.path / "executed" / student
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(executed, folder / self.notebook_name)
        (folder / "result.json").write_text(json.dumps(result.__dict__))
        scores = {grade_id: result.scores[grade_id] for grade_id in self.checks}
        gradebook.record(self.path, self.db_url, self.assignment, Path(self.notebook_name).stem,
                         student, executed, scores)
        result.scores = self.read_scores(student)

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
        released = {nbgrader_meta(c).get("grade_id"): c.source for c in self.released.cells}
        edited = [g for g in expected if g in submitted and not self._is_answer(g)
                  and submitted[g].source.strip() != released.get(g, "").strip()]
        if edited:
            notes.append("test cells edited, restored for grading: " + ", ".join(edited))
        return None, notes

    def _is_answer(self, grade_id: str) -> bool:
        return any(p.grade_id == grade_id and p.manual for p in self.parts)

    @functools.cached_property
    def released(self) -> nbformat.NotebookNode:
        """The student version (written by prepare()), read once per run."""
        return nbformat.read(self.path / "release" / self.assignment / self.notebook_name, as_version=4)

    def _submit(self, student: str, nb: nbformat.NotebookNode) -> None:
        folder = self.path / "submitted" / student / self.assignment
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / self.notebook_name)

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

    # --- reports -------------------------------------------------------------

    def write_reports(self, results: list[Result]) -> Path:
        """grades.csv (one column per graded part) and one feedback page per
        student, written here, after every student's kernel has stopped."""
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
                                 _fmt(sum(p.points for p in self.parts)), status_text(r, self.parts),
                                 "; ".join(r.notes)])
        for r in results:
            executed = self.path / "executed" / r.student / self.notebook_name
            page = feedback_dir / f"{r.student}.html"
            if r.graded and executed.exists():
                page.write_text(self._feedback(r, nbformat.read(executed, as_version=4)))
            else:
                page.write_text(feedback.render_problem(self.assignment, r.student, r.status, r.notes))
        return csv_path

    def _feedback(self, r: Result, nb: nbformat.NotebookNode) -> str:
        verdicts = [feedback.PartVerdict(p.grade_id, r.scores.get(p.grade_id) or 0.0, p.points,
                                         r.messages.get(p.grade_id))
                    for p in self.parts if not p.manual]
        manual = [(p.grade_id, r.scores.get(p.grade_id), p.points) for p in self.parts if p.manual]
        return feedback.render(nb, self.assignment, r.student, total(r), sum(p.points for p in self.parts),
                               status_text(r, self.parts), r.notes, verdicts, manual)


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
