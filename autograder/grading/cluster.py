"""Run grading jobs on a Dask distributed cluster (`grade --cluster ADDRESS`).

The coordinator stays on the instructor's machine: it makes the jobs, writes
the gradebook and the reports. The cluster only runs `jobs.run`, one job per
worker thread, each in a sandboxed kernel on that worker's machine; every
worker needs this package installed (the same version) and bubblewrap, as
on the instructor's machine (see the README). Workers are started with one
thread each (`dask worker ADDRESS --nthreads 1`): a job uses a core of its own.

- Every job is submitted with `pure=False` and a key of its own, so that no
  result is ever reused for another submission.
- No more jobs are in flight than the cluster has threads, and a job's
  deadline counts from when the scheduler reports it running.
- Every worker must run one thread and the coordinator's grading code, and
  have a working sandbox: `grade` checks them all before it starts.
- A worker that dies mid-job: the scheduler gives its job to another worker
  (up to `distributed.scheduler.allowed-failures` times, 3 by default); a job
  that still fails, or that passes its deadline, is submitted once more, then
  reported. A job past its deadline is cancelled and its worker restarted
  (which needs the worker's nanny, the default of `dask worker`).
- Dask runs jobs in daemonic worker processes: a job starts its kernel with
  `subprocess` (through jupyter_client), never with `multiprocessing`.
"""
from __future__ import annotations

import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any, Callable

from . import jobs, sandbox
from .jobs import Job, Outcome
from .pool import RETRIES, failed


def _run_on_worker(job: Job) -> Outcome:
    """`jobs.run` on a Dask worker, with scratch space in the worker's own folder."""
    from distributed import get_worker

    return jobs.run(job, jobs.station(Path(get_worker().local_directory) / "autograder"))


def _worker_problem(code: str) -> str | None:
    """Why a worker cannot grade here, or None: its sandbox, and its grading code."""
    if jobs.package_sha256() != code:
        return "its autograder code differs from the coordinator's (install the same version)"
    return sandbox.available()


class DaskCluster:
    """Jobs sent to the Dask scheduler at `address` (e.g. tcp://10.0.0.5:8786)."""

    def __init__(self, address: str, connect_timeout: float = 30):
        try:
            from distributed import Client
        except ImportError as error:  # the optional extra is not installed
            raise RuntimeError("--cluster needs Dask: pip install 'rnn-course-autograder[cluster]' "
                               "(or: pip install distributed)") from error
        self.client = Client(address, timeout=connect_timeout)
        self.flying: dict[Any, tuple[Job, int, float]] = {}  # future -> (job, attempts, submitted)

    def threads(self) -> int:
        return sum(self.client.nthreads().values())

    def check_workers(self, sandboxed: bool) -> dict[str, str]:
        """Workers that cannot grade, and why: none at all, more than one
        thread (two jobs of one process would share its sandbox user and the
        reference's random state), other grading code, no sandbox."""
        threads = self.client.nthreads()
        if not threads:
            return {"(cluster)": "it has no workers"}
        problems = {w: f"it runs {n} threads: start it with --nthreads 1" for w, n in threads.items() if n > 1}
        code = jobs.package_sha256()
        for worker, why in self.client.run(_worker_problem, code).items():
            if why and (sandboxed or "code" in why):
                problems.setdefault(worker, why)
        return problems

    def run(self, todo: list[Job], done: Callable[[Job, Outcome], None]) -> None:
        """Grade every job; `done(job, outcome)` is called here as each finishes."""
        queue: deque[tuple[Job, int]] = deque((job, 0) for job in todo)  # (job, failed attempts)
        flying = self.flying = {}  # future -> (job, attempts, started: None while it waits)
        checked = 0.0
        while queue or flying:
            threads = max(1, self.threads())
            while queue and len(flying) < threads:
                job, attempts = queue.popleft()
                future = self.client.submit(_run_on_worker, job, pure=False,
                                            key=f"grade-{job.student}-{uuid.uuid4().hex}")
                flying[future] = (job, attempts, None)
            time.sleep(0.2)
            if time.monotonic() - checked > 1.0:  # which jobs run now: their deadlines count from then
                checked = time.monotonic()
                running = {key for keys in self.client.processing().values() for key in keys}
                for future, (job, attempts, started) in list(flying.items()):
                    if started is None and future.key in running:
                        flying[future] = (job, attempts, checked)
            for future in list(flying):
                job, attempts, started = flying[future]
                why = None
                if future.status == "finished":
                    del flying[future]
                    done(job, future.result())
                    continue
                if future.status in ("error", "cancelled", "lost"):
                    why = "died"
                    error = future.exception() if future.status == "error" else None
                    if error is not None and type(error).__name__ != "KilledWorker":
                        why = f"{type(error).__name__}: {str(error)[:200]}"
                elif started is not None and time.monotonic() - started > job.deadline:
                    why = "hang"
                    self._stop(future)
                if why is None:
                    continue
                del flying[future]
                if attempts < RETRIES:
                    queue.appendleft((job, attempts + 1))
                else:
                    done(job, failed(job, why, attempts + 1))

    def _stop(self, future: Any) -> None:
        """Cancel a job that hangs and restart the worker running it (its kernel dies with it)."""
        try:
            busy = [w for w, keys in self.client.processing().items() if future.key in keys]
            future.cancel()
            if busy:
                self.client.restart_workers(busy)
        except Exception:  # the worker is gone already, or has no nanny to restart it
            pass

    def close(self) -> None:
        """Cancel what is still running (after Ctrl-C, say) and disconnect."""
        try:
            for future in self.flying:
                future.cancel()
        finally:
            self.client.close()
