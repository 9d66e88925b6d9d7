"""Shared fixtures of the test suite, and long jobs run in the background.

The suite's longest work is independent of the rest: building the book,
running every notebook again on other numeric paths and training the
reference solutions from several seeds, each in processes of its own. The
jobs that the selected tests need start as soon as collection ends, at most
MAX_BACKGROUND at a time, so that they use the second core while the rest of
the suite (mostly one process at a time: grading) uses the first; their
tests wait for them. A test module declares its jobs with a function
`background_jobs(root, items) -> list[Job]`, given its selected tests, so
that `pytest -m "not paths"` (make test) starts none of the numeric-path
jobs and `pytest -m paths` (make test-paths) starts only those.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))  # tests/submissions.py
FIGURES: list[str] = []
MAX_BACKGROUND = 2
#: Folders that background jobs write into, removed when the run ends.
TEMPORARY: list[Path] = []


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def figures() -> list[str]:
    """Lines of measured figures (execution times, scores of reference runs)
    that the run prints at its end, whether the tests pass or fail: figures
    to read, never asserted as times."""
    return FIGURES


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("measured figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


# --- background jobs ---------------------------------------------------------------

@dataclass
class Job:
    """A command run in the background; `wait()` gives (returncode, stdout, stderr)."""

    name: str
    command: list[str]
    env: dict[str, str]
    timeout: float
    done: threading.Event = field(default_factory=threading.Event)
    result: tuple[int, str, str] = (-1, "", "not started")
    process: subprocess.Popen | None = None
    cancelled: bool = False

    def run(self) -> None:
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            try:
                if self.cancelled:
                    raise OSError("the test run ended first")
                process = self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=out,
                                                          stderr=err, text=True)
                try:
                    code = process.wait(timeout=self.timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    code = process.wait()
                    err.write(f"\n{self.name}: killed after {self.timeout:.0f} s")
            except OSError as error:
                code = -1
                err.write(f"{self.name} could not start: {error}")
            out.seek(0)
            err.seek(0)
            self.result = (code, out.read(), err.read())
        self.done.set()

    def wait(self) -> tuple[int, str, str]:
        self.done.wait()
        return self.result


JOBS: dict[str, Job] = {}


def _run_queue(queue: list[Job]) -> None:
    limit = threading.Semaphore(MAX_BACKGROUND)

    def one(job: Job) -> None:
        with limit:
            job.run()

    for job in queue:
        threading.Thread(target=one, args=(job,), daemon=True, name=job.name).start()


def _order(module) -> int:
    """A module's BACKGROUND_ORDER: its jobs start in this order, 0 first."""
    return getattr(module, "BACKGROUND_ORDER", 9)


def pytest_collection_modifyitems(session, config, items) -> None:
    """Tests that wait for a background job run last, the longest jobs' last
    of all, so that the rest of the suite runs while the jobs do."""
    def waits(item) -> tuple[int, int]:
        if not hasattr(item.module, "background_jobs"):
            return (0, 0)
        return (1, -_order(item.module))
    items.sort(key=waits)  # stable: the order within each group is kept


def pytest_collection_finish(session) -> None:
    """Start the background jobs that the selected tests need (after -m and -k
    have deselected the others), longest first."""
    if session.config.option.collectonly:
        return
    by_module: dict = {}
    for item in session.items:
        if hasattr(item.module, "background_jobs"):
            by_module.setdefault(item.module, []).append(item)
    queue = [job for module in sorted(by_module, key=_order)
             for job in module.background_jobs(ROOT, by_module[module])]
    JOBS.update({job.name: job for job in queue})
    _run_queue(queue)


def temporary_folder(prefix: str) -> Path:
    """A new folder for a background job's output, removed when the run ends."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    TEMPORARY.append(folder)
    return folder


def background(name: str) -> tuple[int, str, str]:
    """The result of background job `name`, waiting for it if needed."""
    return JOBS[name].wait()


def pytest_sessionfinish(session, exitstatus) -> None:
    """Nothing started here outlives the run (stopped early, or its tests deselected by -x)."""
    for job in JOBS.values():
        job.cancelled = True
        if job.process is not None and job.process.poll() is None:
            job.process.kill()
            job.process.wait()
    for folder in TEMPORARY:
        shutil.rmtree(folder, ignore_errors=True)
