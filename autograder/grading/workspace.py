"""Grade a batch of submissions: the coordinator.

The workspace (default `grading/`) is an nbgrader course folder of its own:
`source/` (a copy of the assignment from solutions/), `release/`, `submitted/`,
`autograded/`, the gradebook, `executed/<student>/` (the executed notebook and
the result) and `reports/<assignment>/` with `grades.csv`, the LMS and
statistics exports and one feedback page per student. The instructor's tree
is only read.

This process, the coordinator, is the only one that writes there:
1. for each student it checks the submission and rebuilds the notebook to run
   from the release (the student's answer cells and extra cells, every given
   and test cell as released; hidden tests absent), as a `jobs.Job`;
2. an executor runs the jobs, N at a time (`pool.LocalPool`: worker
   processes on this machine; `cluster.DaskCluster`: a Dask cluster), each
   in its own sandboxed kernel; a worker that dies or hangs costs its job one
   retry;
3. as each outcome arrives, the scores go to nbgrader's gradebook
   (Formgrader and manual grading work as with `nbgrader autograde`) and the
   result to `executed/<student>/result.json`, so that an interrupted run
   resumes: `grade` again skips a submission graded before from the same
   notebook by the same grading (unless --force);
4. once every job is done, it writes the reports.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import nbformat

from .. import course
from . import gradebook, reports
from .intake import Found, find_submissions, student_id, unpack
from .jobs import Job, Outcome, package_sha256
from .notebooks import HIDDEN, ROOT, GradedPart, cell_timeout, graded_parts, nbgrader_meta, source_notebook
from .options import Options
from .reports import Result

WORKSPACE_CONFIG = '''\
"""nbgrader configuration of a grading workspace (written by `python -m autograder grade`)."""
c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "rnn-course"
c.CourseDirectory.db_url = {db_url!r}
'''

CHECK = re.compile(r"""check\(\s*["']([\w.]+)["']""")

#: Statuses that say the grading failed, not the submission: a resumed run grades these again.
GRADER_FAULTS = ("grader error", "worker failed", "timed out in the worker", "kernel did not start")


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


class Workspace:
    """An nbgrader course folder for grading one assignment, and its coordinator."""

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
        # (the parts themselves are looked up by the workers: the coordinator needs no torch)
        module = {course.assignments()[name.split(".")[0]] for name in self.checks.values()}
        self.kernel_module = module.pop() if len(module) == 1 else None
        self.executed = self.path / "executed"
        self.intake_notes: dict[str, list[str]] = {}  # student -> what preflight noted
        self.hashes: dict[str, str] = {}  # student -> the submitted file's hash, taken at intake
        self.skipped: list[str] = []  # students graded before from the same notebook, not graded again

    def _checks(self) -> dict[str, str]:
        """Test cell grade_id -> the part it grades, from its hidden tests."""
        found = {}
        for cell in self.source_nb.cells:
            meta = nbgrader_meta(cell)
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                names = [CHECK.search(m.group(0)) for m in HIDDEN.finditer(cell.source)]
                names = [n.group(1) for n in names if n]
                if len(names) != 1 or names[0].split(".")[0] not in course.assignments():
                    raise ValueError(f"test cell {meta.get('grade_id')} of {self.assignment} must have exactly "
                                     f"one hidden check(\"<part>\", ...) of a known assignment, found {names}")
                found[meta["grade_id"]] = names[0]
        return found

    def prepare(self) -> None:
        """Write the configuration, copy the source, create the gradebook and
        register the assignment in it (nbgrader's generate_assignment, run in
        this process: the coordinator has nbgrader imported anyway)."""
        from nbgrader.apps import NbGraderAPI
        from traitlets.config import Config

        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "nbgrader_config.py").write_text(
            WORKSPACE_CONFIG.format(root=str(self.path), db_url=self.db_url))
        target = self.path / "source" / self.assignment
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(self.source.parent, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        try:
            gradebook.create(self.db_url)
        except Exception as error:  # the database cannot be reached, or is not nbgrader's
            raise RuntimeError(f"the gradebook {self.db_url} cannot be opened: {error}") from error
        config = Config()
        config.CourseDirectory.root = str(self.path)
        config.CourseDirectory.course_id = "rnn-course"
        config.CourseDirectory.db_url = self.db_url
        done = NbGraderAPI(config=config).generate_assignment(self.assignment, force=True)
        if not done["success"]:
            tail = "\n".join(str(done.get("log", "") + done.get("error", "")).strip().splitlines()[-12:])
            raise RuntimeError(f"nbgrader generate_assignment failed in {self.path}:\n{tail}")
        self.__dict__.pop("released", None)  # generated anew just now
        self.__dict__.pop("files", None)
        if self.kernel_module is None:
            raise RuntimeError(f"the test cells of {self.assignment} check parts of several assignments")

    # --- intake: one job per student ----------------------------------------

    @functools.cached_property
    def grading_sha256(self) -> str:
        """What grades this assignment: its source notebook, the grading code and
        the settings that can change a grade (time and memory limits, the
        sandbox). A submission graded by anything else is graded again."""
        o = self.options
        settings = f"{self.cell_timeout} {o.student_timeout} {o.memory_gib} {o.sandbox}"
        digest = hashlib.sha256(self.source.read_bytes() + package_sha256().encode() + settings.encode())
        for name, content in sorted(data_files(self.source.parent).items()):
            digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
        return digest.hexdigest()

    def intake(self, found: Found) -> Result | Job:
        """A `Job` for the student's notebook, or the `Result` of a submission
        that cannot run (no notebook, unreadable, another assignment)."""
        if found.path is None:
            return Result(found.student, "no notebook", notes=[found.problem or ""])
        problem, notes = self.preflight(found.path)
        if problem:
            return Result(found.student, problem, notes=notes)
        self._hash(found)  # what is graded, even if the file changes meanwhile
        submitted = nbformat.read(found.path, as_version=4)
        self._submit(found.student, submitted)
        self.intake_notes[found.student] = notes
        (self.executed / found.student / "result.json").unlink(missing_ok=True)  # stale until this job's arrives
        return Job(student=found.student, assignment=self.kernel_module or "", checks=self.checks,
                   notebook=nbformat.writes(merge(self.released, submitted)),
                   points={p.grade_id: p.points for p in self.parts},
                   manual=[p.grade_id for p in self.parts if p.manual], cell_timeout=self.cell_timeout,
                   student_timeout=self.options.student_timeout, memory_gib=self.options.memory_gib,
                   sandbox=self.options.sandbox, deadline_seconds=self.options.job_deadline,
                   files=self.files)

    def _hash(self, found: Found) -> str:
        """The submitted file's hash, read once per run."""
        if found.student not in self.hashes:
            self.hashes[found.student] = file_sha256(found.path) if found.path and found.path.exists() else ""
        return self.hashes[found.student]

    def previous(self, found: Found) -> Result | None:
        """The saved result of this very submission, graded by this very grading,
        if there is one (and --force was not given); scores from the gradebook."""
        saved = self.executed / found.student / "result.json"
        if self.options.force or found.path is None or not saved.exists():
            return None
        try:
            result = Result(**json.loads(saved.read_text()))
        except (ValueError, TypeError):
            return None
        if (result.notebook_sha256, result.grading_sha256) != (self._hash(found), self.grading_sha256) \
                or result.status in GRADER_FAULTS:
            return None
        if result.graded:
            try:
                result.scores = self.read_scores(found.student)
            except Exception:  # not in this gradebook (deleted, or another --db-url): graded again
                return None
        return result

    # --- the run ---------------------------------------------------------------

    def grade_all(self, found: list[Found], execute: Callable[[list[Job], Callable[[Job, Outcome], None]], None],
                  progress: Callable[[Result], None] = lambda result: None) -> list[Result]:
        """Grade every student (skipping those graded before, see `previous`):
        the executor runs the jobs, and each outcome is recorded here as it arrives."""
        results: dict[str, Result] = {}
        jobs: list[Job] = []
        entries = {entry.student: entry for entry in found}
        for entry in found:
            earlier = self.previous(entry)
            if earlier is not None:
                self.skipped.append(entry.student)
                results[entry.student] = earlier
                progress(earlier)
                continue
            made = self.intake(entry)
            if isinstance(made, Job):
                jobs.append(made)
            else:
                results[entry.student] = self._save(made, entries[entry.student])
                progress(made)

        def done(job: Job, outcome: Outcome) -> None:
            result = self.record(job, outcome, entries[job.student])
            results[job.student] = result
            progress(result)

        execute(jobs, done)
        return [results[entry.student] for entry in found if entry.student in results]

    def record(self, job: Job, outcome: Outcome, entry: Found) -> Result:
        """One outcome into the workspace and the gradebook."""
        result = Result(job.student, outcome.status, scores=outcome.scores, notes=self.intake_notes.get(job.student, [])
                        + outcome.notes, messages=outcome.messages, worker=outcome.worker, seconds=outcome.seconds)
        if result.graded and outcome.executed is not None:
            executed = nbformat.reads(outcome.executed, as_version=4)
            folder = self.executed / job.student
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(folder / self.notebook_name, outcome.executed)
            scores = {grade_id: result.scores.get(grade_id) for grade_id in self.checks}
            gradebook.record(self.path, self.db_url, self.assignment, Path(self.notebook_name).stem,
                             job.student, executed, scores)
            result.scores = self.read_scores(job.student)
        return self._save(result, entry)

    def _save(self, result: Result, entry: Found) -> Result:
        """Keep the result beside the executed notebook, with the hashes that let a
        later run skip it and the student's LMS id for the gradebook export."""
        result.lms, result.lms_id = entry.lms, entry.lms_id
        result.notebook_sha256 = self._hash(entry)
        result.grading_sha256 = self.grading_sha256
        folder = self.executed / result.student
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(folder / "result.json", json.dumps(asdict(result)))
        return result

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

    @functools.cached_property
    def files(self) -> dict[str, bytes]:
        """The release's data files (what students get beside the notebook),
        read once per run: every kernel finds them in its working folder."""
        return data_files(self.path / "release" / self.assignment)

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
        """grades.csv and the feedback pages (`reports.write_reports`)."""
        return reports.write_reports(self.reports, self.assignment, self.parts, results,
                                     lambda student: self.executed / student / self.notebook_name)


def data_files(folder: Path) -> dict[str, bytes]:
    """Relative path -> content of the files of an assignment folder other than
    notebooks and hidden files (data the notebook reads by relative path)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and path.suffix != ".ipynb" and not any(p.startswith(".") for p in relative.parts):
            found[relative.as_posix()] = path.read_bytes()
    return found


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    """Whole or not at all: an interrupted run never leaves half a file that a resumed run would trust."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


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
