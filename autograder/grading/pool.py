"""Run grading jobs on this machine: N worker processes, each grading one submission at a time.

Each worker is started once per run and keeps its imports (nbgrader, torch,
the cases), its sandbox user and its kernel-side package for every job it is
given; a job's only fixed cost is its kernel. The coordinator hands out one
job at a time to each idle worker and watches them:

- a worker that dies (killed, out of memory) or hangs past the job's deadline
  is replaced, and its job is given once more to a fresh worker;
- a job that fails twice gets a status that says so ("worker failed",
  "timed out in the worker"), and grading goes on.

Killing a worker kills its student's kernel with it (bwrap --die-with-parent).
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from . import sandbox

if TYPE_CHECKING:  # the coordinator starts its workers before it imports what grading needs
    from .jobs import Job, Outcome

RETRIES = 1  # a job whose worker died or hung is given once more
READY = "ready"  # what a worker says once it can take jobs
MAX_FAILED_STARTS = 3  # workers (per worker slot) that die before they are ready, before giving up


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def failed(job: Job, why: str, attempts: int) -> Outcome:
    """The outcome of a job that could not be graded by any worker."""
    from .jobs import Outcome

    status = "timed out in the worker" if why == "hang" else "worker failed"
    said = {"hang": f"grading took longer than {job.deadline:.0f} s",
            "died": "the grading worker stopped (killed, or out of memory)"}.get(why, f"the grading job failed ({why})")
    return Outcome(status, notes=[f"{said}, {attempts} times: see the grader's machine"])


def _serve(connection: multiprocessing.connection.Connection, folder: str, assignment: str | None) -> None:
    """A worker: grade jobs until told to stop (None) or the coordinator is gone,
    in `folder` (the pool's). It gets ready for `assignment` while the
    coordinator sets up the workspace."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    from . import jobs

    here = jobs.Station(Path(folder))
    try:
        if assignment:
            try:
                jobs.warm(assignment, here)
            except Exception:  # the first job will report it
                pass
        connection.send(READY)  # a job's deadline counts from here, not from the worker's start
        while True:
            try:
                job = connection.recv()
            except (EOFError, OSError):
                return
            if job is None:
                return
            connection.send(jobs.run(job, here))
    finally:
        here.close()


@dataclass(eq=False)
class _Worker:
    process: multiprocessing.Process
    connection: multiprocessing.connection.Connection
    folder: Path  # the worker's scratch folders live here; removed when it stops
    job: Job | None = None
    attempts: int = 0
    started: float = 0.0
    ready: bool = False


class LocalPool:
    """`workers` grading processes on this machine, started at once (they get
    ready for `assignment`, if given, before the first job arrives)."""

    def __init__(self, workers: int, scratch_root: Path, assignment: str | None = None):
        self.context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self.scratch_root, self.assignment = scratch_root, assignment  # workers' folders go in scratch_root
        self.workers = [self._spawn() for _ in range(max(1, workers))]

    def _spawn(self) -> _Worker:
        mine, theirs = self.context.Pipe()
        folder = sandbox.scratch_base(self.scratch_root)
        process = self.context.Process(target=_serve, args=(theirs, str(folder), self.assignment),
                                       name="autograder-worker", daemon=True)
        process.start()
        theirs.close()
        return _Worker(process, mine, folder)

    def run(self, todo: list[Job], done: Callable[[Job, Outcome], None]) -> None:
        """Grade every job; `done(job, outcome)` is called here, in this process, as each finishes."""
        queue: deque[tuple[Job, int]] = deque((job, 0) for job in todo)  # (job, failed attempts)
        failed_starts = 0
        while queue or any(w.job for w in self.workers):
            for worker in self.workers:
                if worker.ready and worker.job is None and queue:
                    worker.job, worker.attempts = queue.popleft()
                    worker.started = time.monotonic()
                    try:
                        worker.connection.send(worker.job)
                    except OSError:  # the worker died before it took the job: seen as dead below
                        pass
            multiprocessing.connection.wait([w.connection for w in self.workers] +
                                            [w.process.sentinel for w in self.workers], timeout=1.0)
            for worker in list(self.workers):
                if not worker.ready:  # starting: ready, or dead before it took any job (no job charged)
                    if self._receive(worker) == READY:
                        worker.ready = True
                    elif not worker.process.is_alive():
                        failed_starts += 1
                        if failed_starts > MAX_FAILED_STARTS * len(self.workers):
                            raise RuntimeError("the grading workers die as they start: run one submission "
                                               "with --jobs 1 to see why")
                        self._replace(worker)
                    continue
                if worker.job is None:
                    if not worker.process.is_alive():
                        self._replace(worker)
                    continue
                job, attempts = worker.job, worker.attempts
                outcome, why = self._receive(worker), None
                if outcome is None:
                    if not worker.process.is_alive():
                        why = "died"
                    elif time.monotonic() - worker.started > job.deadline:
                        why = "hang"
                if outcome is not None:
                    worker.job = None
                    done(job, outcome)
                elif why is not None:
                    self._replace(worker)
                    if attempts < RETRIES:
                        queue.appendleft((job, attempts + 1))
                    else:
                        done(job, failed(job, why, attempts + 1))

    @staticmethod
    def _receive(worker: _Worker):
        """What the worker sent, if anything (None: nothing yet, or it is gone)."""
        try:
            return worker.connection.recv() if worker.connection.poll() else None
        except (EOFError, OSError):
            return None

    def _replace(self, worker: _Worker) -> None:
        """Stop a worker (and so its kernel) and start a fresh one in its place."""
        _stop(worker)
        self.workers[self.workers.index(worker)] = self._spawn()

    def close(self) -> None:
        """Stop every worker: idle ones are told to, busy ones are killed."""
        for worker in self.workers:
            if worker.job is None and worker.process.is_alive():
                try:
                    worker.connection.send(None)
                except OSError:
                    pass
        for worker in self.workers:
            worker.process.join(timeout=5 if worker.job is None else 0)
            _stop(worker)


def _stop(worker: _Worker) -> None:
    if worker.process.is_alive():
        worker.process.kill()
    worker.process.join(timeout=10)
    worker.connection.close()
    sandbox.remove(worker.folder)  # what a killed worker could not remove itself
