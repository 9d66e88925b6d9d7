"""Shared fixtures of the test suite, and long jobs run in the background.

The suite's longest work is independent of the rest: running every notebook
again on other numeric paths and training the reference solutions from
several seeds, each in processes of its own. Those processes start as soon
as the tests that read them are collected, at most MAX_BACKGROUND at a time,
so that they use the second core while the rest of the suite (mostly one
process at a time: the book build, grading) uses the first; their tests wait
for them.
"""
from __future__ import annotations

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


def pytest_collection_modifyitems(session, config, items) -> None:
    """Start the background jobs of the collected modules that declare some
    (a function `background_jobs(root) -> list[Job]`), longest first."""
    if config.option.collectonly:
        return
    modules = {item.module for item in items if hasattr(item.module, "background_jobs")}
    queue = [job for module in sorted(modules, key=lambda m: getattr(m, "BACKGROUND_ORDER", 9))
             for job in module.background_jobs(ROOT)]
    JOBS.update({job.name: job for job in queue})
    _run_queue(queue)


def background(name: str) -> tuple[int, str, str]:
    """The result of background job `name`, waiting for it if needed."""
    return JOBS[name].wait()


def pytest_sessionfinish(session, exitstatus) -> None:
    """Nothing started here outlives the run (stopped early, or its tests deselected by -x)."""
    for job in JOBS.values():
        job.cancelled = True
        if job.process is not None and job.process.poll() is None:
            job.process.kill()
