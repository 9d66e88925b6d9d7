"""Grading at course scale: workers that die or hang, runs that are interrupted and resumed.

(The Dask cluster is tested in test_grading.py, against the same fixtures graded by one worker.)
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from submissions import make_all
from test_grading import grade, read_rows

pytestmark = pytest.mark.slow

EXPECTED_TOTAL = {"right": "85", "half": "45"}


def write_class(root: Path, folder: Path, count: int) -> dict[str, str]:
    """`count` students, alternately all right and half right; student -> expected total."""
    made = make_all(root / "exercises/a1_rnn/a1_rnn.ipynb", root / "solutions/a1_rnn/a1_rnn.ipynb")
    expected = {}
    for k in range(count):
        kind = "right" if k % 2 == 0 else "half"
        target = folder / f"s{k}" / "a1_rnn.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(made[kind], target)
        expected[f"s{k}"] = EXPECTED_TOTAL[kind]
    return expected


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    return subprocess.Popen([sys.executable, "-m", "autograder", "grade", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def results_written(workspace: Path) -> list[Path]:
    return sorted(workspace.glob("executed/*/result.json"))


def wait_until(condition, seconds: float = 300) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.2)


def workers_of(pid: int) -> list[int]:
    """The grading worker processes the coordinator `pid` started."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def totals(work: Path) -> dict[str, str]:
    return {s: row["total"] for s, row in read_rows(work / "grading/reports/a1_rnn/grades.csv").items()}


def test_a_killed_worker_costs_its_submission_one_retry_and_loses_nothing(root, tmp_path):
    expected = write_class(root, tmp_path / "submissions", 6)
    run = start(["submissions", "--assignment", "a1_rnn", "--jobs", "2"], tmp_path)
    wait_until(lambda: len(results_written(tmp_path / "grading")) >= 1)
    busy = workers_of(run.pid)
    assert len(busy) == 2, busy
    os.kill(busy[0], signal.SIGKILL)
    output, _ = run.communicate(timeout=900)
    assert run.returncode == 0, output
    assert totals(tmp_path) == expected
    pids = {int(json.loads(p.read_text())["worker"].rsplit(":", 1)[1]) for p in results_written(tmp_path / "grading")}
    assert pids - set(busy), "a fresh worker should have taken the killed one's place"


def test_a_job_past_its_deadline_is_tried_once_more_then_reported(root, tmp_path):
    expected = write_class(root, tmp_path / "submissions", 2)
    sleepy = nbformat.read(tmp_path / "submissions/s0/a1_rnn.ipynb", as_version=4)
    sleepy.cells.insert(1, nbformat.v4.new_code_cell("import time\ntime.sleep(120)"))
    nbformat.write(sleepy, tmp_path / "submissions/s0/a1_rnn.ipynb")
    # (an honest a1 submission takes 4-6 s in a ready worker: 30 s leaves it a wide margin)
    done = grade(["submissions", "--assignment", "a1_rnn", "--jobs", "2", "--timeout", "150",
                  "--job-deadline", "30"], cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    rows = read_rows(tmp_path / "grading/reports/a1_rnn/grades.csv")
    assert rows["s0"]["status"] == "timed out in the worker", rows["s0"]
    assert "grading took longer than 30 s, 2 times" in rows["s0"]["notes"]
    assert rows["s1"]["total"] == expected["s1"] and rows["s1"]["status"] == "graded"
    page = (tmp_path / "grading/reports/a1_rnn/feedback/s0.html").read_text()
    assert "could not be graded" in page


def test_an_interrupted_run_resumes_and_skips_what_was_graded(root, tmp_path):
    expected = write_class(root, tmp_path / "submissions", 5)
    workspace = tmp_path / "grading"
    scratch_before = set(Path(tempfile.gettempdir()).glob("rnn-grading-*"))
    run = start(["submissions", "--assignment", "a1_rnn", "--jobs", "1"], tmp_path)
    wait_until(lambda: len(results_written(workspace)) >= 2)
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=120)
    assert run.returncode == 130 and "run the same command again" in output, output
    first = {p.parent.name: p.stat().st_mtime_ns for p in results_written(workspace)}
    assert 2 <= len(first) < 5, first
    left = set(Path(tempfile.gettempdir()).glob("rnn-grading-*")) - scratch_before
    assert not left and not list((workspace / "scratch").glob("*")), "the interrupted run left its scratch folders"

    again = grade(["submissions", "--assignment", "a1_rnn"], cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{len(first)} submissions were graded before" in again.stdout
    assert totals(tmp_path) == expected
    assert all(workspace.joinpath("executed", s, "result.json").stat().st_mtime_ns == t for s, t in first.items())

    changed = nbformat.read(tmp_path / "submissions/s1/a1_rnn.ipynb", as_version=4)
    changed.cells.append(nbformat.v4.new_markdown_cell("One more thought."))
    nbformat.write(changed, tmp_path / "submissions/s1/a1_rnn.ipynb")
    third = grade(["submissions", "--assignment", "a1_rnn"], cwd=tmp_path)
    assert "4 submissions were graded before" in third.stdout, third.stdout
    forced = grade(["submissions", "--assignment", "a1_rnn", "--force"], cwd=tmp_path)
    assert "graded before" not in forced.stdout and totals(tmp_path) == expected


def test_each_worker_has_a_sandbox_user_of_its_own(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("sandbox users are per worker only when grading runs as root")
    from autograder.grading.jobs import Station
    from autograder.grading.sandbox import scratch_base

    stations = [Station(scratch_base(tmp_path)) for _ in range(3)]
    try:
        uids = [s.uid for s in stations]
        assert len(set(uids)) == 3 and all(Station.UID_BASE <= u < Station.UID_BASE + Station.UID_SLOTS
                                           for u in uids)
        scratch = [stations[0].scratch() for _ in range(2)]
        assert scratch[0] != scratch[1], "every job gets a scratch folder of its own"
    finally:
        for s in stations:
            s.close()
    again = Station(scratch_base(tmp_path))  # the slots are free again
    assert again.uid in uids
    again.close()


def test_no_sandbox_grades_the_same_and_says_so(root, tmp_path):
    """--no-sandbox (trusted notebooks only) grades as the sandbox does, and every row says it was unconfined."""
    expected = write_class(root, tmp_path / "submissions", 2)
    done = grade(["submissions", "--assignment", "a1_rnn", "--no-sandbox", "--jobs", "1"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "UNCONFINED" in done.stderr
    assert totals(tmp_path) == expected
    rows = read_rows(tmp_path / "grading/reports/a1_rnn/grades.csv")
    assert all("graded WITHOUT a sandbox" in row["notes"] for row in rows.values())
