"""Grade one submission: the job that a worker runs, here or on another machine.

A `Job` is plain data: the notebook to run (already rebuilt from the release by
the coordinator), which part each test cell grades, the points, and the
limits. A worker runs it with `run(job, station)`:

1. the notebook runs in a sandboxed kernel (`autograder.grading.sandbox`),
   driven from this process; a cell that kills the kernel is skipped and the
   notebook run again;
2. for each graded part the kernel calls the student's function on the
   part's inputs and sends back plain data, read at once
   (`autograder.grading.session`), and this process judges it against the
   reference (`autograder.engine.judge`): whether a test cell raised in the
   kernel decides nothing;
3. the kernel is stopped, and with it every process the notebook started.

The `Outcome` goes back to the coordinator, the only process that writes the
gradebook and the reports. A worker keeps what it may reuse between jobs (its
sandbox user, its scratch folder, the kernel-side package) in a `Station`.
"""
from __future__ import annotations

import copy
import fcntl
import hashlib
import os
import socket
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .. import course
from ..engine import judge
from ..engine.runner import wire
from . import sandbox, session
from .notebooks import nbgrader_meta

MAX_RESTARTS = 3  # kernels that die (a cell skipped each time) before giving up
STARTUP_SECONDS = 120  # to start one kernel

SKIPPED_CELL = (
    'raise RuntimeError("This cell stopped the Python kernel during grading (for example with os._exit, '
    'a crash in native code or running out of memory), so it was not run.")\n'
)

DIAGNOSIS = {
    "kernel died": "the Python kernel stopped (os._exit, a crash in native code, or out of memory) "
                   "and the cell responsible could not be skipped",
    "kernel did not start": "the sandboxed kernel could not be started: see the notes",
}


@dataclass
class Job:
    """One submission to grade, as plain data (it may travel to another machine)."""

    student: str
    assignment: str  # the assignment's folder, e.g. "a1_rnn"
    notebook: str  # the notebook to run (JSON): the release with the student's answers
    checks: dict[str, str]  # test cell grade_id -> the part it grades ("a1.rnn_forward")
    points: dict[str, float]  # every graded cell's grade_id -> its points
    manual: list[str]  # graded cells a person grades
    cell_timeout: int
    student_timeout: int  # seconds for the whole notebook and its grading calls
    memory_gib: float
    sandbox: bool = True
    deadline_seconds: float | None = None  # None: the default below
    files: dict[str, bytes] = field(default_factory=dict)  # the release's other files (data), by relative path

    @property
    def deadline(self) -> float:
        """Seconds after which a worker still busy with this job is taken to hang:
        by default the notebook's own time, plus starting its kernels, plus a margin."""
        if self.deadline_seconds is not None:
            return self.deadline_seconds
        return self.student_timeout + (MAX_RESTARTS + 1) * 2 * STARTUP_SECONDS + 60


@dataclass
class Outcome:
    """What grading one submission produced, sent back to the coordinator."""

    status: str  # "graded", or why the submission could not be graded
    scores: dict[str, float | None] = field(default_factory=dict)  # grade_id -> points (None: a person grades)
    messages: dict[str, str | None] = field(default_factory=dict)  # test grade_id -> verdict (None: passed)
    notes: list[str] = field(default_factory=list)
    executed: str | None = None  # the executed notebook (JSON)
    worker: str = ""  # host and process that graded it
    seconds: float = 0.0


class Station:
    """What one worker keeps between jobs: its own sandbox user (so that one
    student's processes never count against another's limit), its folder
    (a fresh scratch folder in it for every job), and the kernel-side package
    of each assignment. One per thread: two jobs never share one."""

    UID_BASE, UID_SLOTS = 61000, 512  # sandbox users 61000..61511, one per worker of a machine
    LOCKS = Path("/run/rnn-course-sandbox-users")  # root's own: no other user can plant or hold a lock

    def __init__(self, root: Path):
        self.root = root  # a fresh folder of this station's own (`sandbox.scratch_base`), removed by close()
        self.uid = self._claim_uid()
        self.packages: dict[str, Path] = {}
        self.jobs = 0
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def _claim_uid(self) -> int:
        """A sandbox uid no other worker of this machine holds (root only: an
        unprivileged sandbox maps every student to the grader's own user)."""
        if os.geteuid() != 0:
            return sandbox.NOBODY
        self.LOCKS.mkdir(mode=0o700, exist_ok=True)
        info = self.LOCKS.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
            raise RuntimeError(f"{self.LOCKS} must be a folder of root's that only root can write")
        for slot in range(self.UID_SLOTS):
            fd = os.open(self.LOCKS / f"{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self._lock = fd  # held while this worker lives
            return self.UID_BASE + slot
        raise RuntimeError(f"more than {self.UID_SLOTS} grading workers on one machine")

    def scratch(self) -> Path:
        """A scratch folder for the next job, never used before: nothing a
        student leaves behind (a file that cannot be deleted) reaches the next."""
        self.jobs += 1
        return self.root / f"k{self.jobs}"

    def package(self, assignment: str) -> Path:
        if assignment not in self.packages:
            self.packages[assignment] = sandbox.kernel_package(self.root / f"p-{assignment}", assignment)
        return self.packages[assignment]

    def close(self) -> None:
        sandbox.remove(self.root)
        if hasattr(self, "_lock"):
            os.close(self._lock)
            del self._lock


_stations = threading.local()


def station(preferred: Path | None = None) -> Station:
    """This thread's station (a Dask worker's), made on first use with its folder in `preferred`."""
    if getattr(_stations, "here", None) is None:
        _stations.here = Station(sandbox.scratch_base(preferred or Path(tempfile.gettempdir())))
    return _stations.here


def package_sha256() -> str:
    """A hash of the grading code (every module of `autograder`): a Dask worker
    must grade with the same code as the coordinator."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def warm(assignment: str, here: Station) -> None:
    """Do before the first job what every job of `assignment` needs: the
    kernel-side package, the cases and the reference's results."""
    here.package(assignment)
    for name in course.part_names(assignment):
        part = course.part(name)
        part.expected, part.replay_tables  # noqa: B018 (computed once, kept)


def run(job: Job, here: Station) -> Outcome:
    """Grade one submission at `here`; a fault of the grader itself becomes a status, never an exception."""
    start = time.monotonic()
    outcome = Outcome("graded", worker=here.name)
    try:
        executed = _run(nbformat.reads(job.notebook, as_version=4), job, here, outcome)
        if outcome.status == "graded":
            outcome.executed = nbformat.writes(executed)
    except Exception as error:  # a fault of the grader: this submission is reported, the others graded
        outcome.status = "grader error"
        outcome.notes.append(f"{type(error).__name__}: {str(error)[:300]}")
    if not job.sandbox:
        outcome.notes.append("graded WITHOUT a sandbox (--no-sandbox)")
    outcome.seconds = time.monotonic() - start
    return outcome


def _settings(job: Job, here: Station) -> session.Settings:
    limits = sandbox.Limits(memory_gib=job.memory_gib, cpu_seconds=job.student_timeout)
    return session.Settings(scratch=here.scratch(), package=here.package(job.assignment), limits=limits,
                            sandbox=job.sandbox, cell_timeout=job.cell_timeout, uid=here.uid,
                            startup_timeout=STARTUP_SECONDS, files=job.files)


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


def _run(nb: nbformat.NotebookNode, job: Job, here: Station, outcome: Outcome) -> nbformat.NotebookNode:
    """Run the notebook and collect every part, restarting the kernel (with
    the killing cell skipped) when it dies; fills the outcome's messages and scores."""
    settings = _settings(job, here)
    deadline = time.monotonic() + job.student_timeout
    pending = list(job.checks.items())  # (test grade_id, part) still to collect
    timed_out: list[str] = []
    run = nb
    for _attempt in range(MAX_RESTARTS + 1):
        run = copy.deepcopy(nb)
        kernel = _start(run, settings, outcome)
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
                    outcome.status = "kernel died"
                    outcome.notes.append(DIAGNOSIS["kernel died"])
                    return run
                outcome.notes.append(f"the kernel died in cell {skipped}; it was skipped and the rest graded")
                continue
            while pending:
                grade_id, name = pending[0]
                part = course.part(name)
                if time.monotonic() > deadline:
                    outcome.messages[grade_id] = (f"{part.case.title}: not graded, the time allowed "
                                                  f"per submission ({job.student_timeout} s) ran out")
                    pending.pop(0)
                    continue
                grader_dir = sandbox.GRADER_DIR if job.sandbox else str(settings.package)  # --no-sandbox: no mount
                code = session.collect_code(job.assignment, name, part.replay_tables, grader_dir)
                status, outputs = kernel.call(code, job.cell_timeout)
                pending.pop(0)
                outcome.messages[grade_id] = _verdict(part, status, outputs, job.cell_timeout)
                if status == "dead":
                    break  # a new kernel for the parts after this one
            if not pending:
                break
        finally:
            kernel.close()
            sandbox.remove(settings.scratch)
    for grade_id, name in pending:
        outcome.messages[grade_id] = f"{course.part(name).case.title}: not graded, the kernel kept dying"
    if timed_out:
        outcome.notes.append("time limit reached in: " + ", ".join(dict.fromkeys(timed_out)))
    for grade_id, points in job.points.items():
        if grade_id in job.manual:
            outcome.scores[grade_id] = None
        else:
            outcome.scores[grade_id] = points if outcome.messages.get(grade_id) is None else 0.0
    return run


def _start(run: nbformat.NotebookNode, settings: session.Settings, outcome: Outcome) -> session.Kernel | None:
    """A started kernel, trying twice (a machine busy with another sandbox's
    teardown can refuse once); None, with the reason noted, if it fails."""
    for attempt in range(2):
        kernel = None
        try:
            kernel = session.Kernel(run, settings)
            return kernel.__enter__()
        except Exception as error:  # bwrap refused, the kernel never answered, the scratch folder is broken, ...
            if kernel is not None:
                kernel.close()
            if attempt == 1:
                outcome.status = "kernel did not start"
                outcome.notes.append(f"{type(error).__name__}: {str(error)[:300]}")
            time.sleep(3)
    return None


def _verdict(part: judge.Part, status: str, outputs: list, cell_timeout: int) -> str | None:
    """The message for one part (None: passed), from what its call sent back."""
    title, function = part.case.title, part.calls.function
    if status == "dead":
        return (f"{title}: the Python kernel stopped while the grader called {function} "
                f"(os._exit, a crash in native code, or out of memory)")
    if status == "timeout":
        return f"{title}: the grader's calls of {function} did not finish within {cell_timeout} s"
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
        return judge.summary(part, judge.judge(part, outcomes))
    except Exception as error:  # a result no comparison foresaw: not graded as right
        return f"{title}: the result could not be judged ({type(error).__name__})"
