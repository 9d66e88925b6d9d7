"""Time grading a1 submissions three ways, side by side in one run.

    python benchmarks/grading_speed.py                       (or: make bench)
    python benchmarks/grading_speed.py --students 4 --jobs-list 1,2 --keep

Builds N a1_rnn submissions in a fresh temporary folder (the release with the
solutions filled in; every third student leaves one part as released, i.e.
`raise NotImplementedError`) and times, wall clock:

- nbgrader:  one plain sequential `nbgrader autograde a1_rnn` in a fresh
             nbgrader course folder with default settings (source/ copied
             from solutions/a1_rnn; `nbgrader generate_assignment` is run
             beforehand and not timed: it is release work). Timed from the
             command's start to its exit.
- floor(W):  the same N submission notebooks executed bare with nbclient (no
             sandbox, no grading, no hidden tests) in W worker processes of a
             `ProcessPoolExecutor`; the pool is started inside the timed
             region, as our grader starts its workers inside its own run.
- ours(W):   `python -m autograder grade ... --jobs W` in a fresh workspace:
             its whole run (start-up, intake, its one generate_assignment,
             sandboxed grading, gradebook, reports).

Every contender's processes and kernels run with OMP_NUM_THREADS=1 and
MKL_NUM_THREADS=1 (what the grader's sandboxed kernels get), and the
venv's bin/ first on PATH. The targets (issue item 4, on 2 cores, 40
submissions): nbgrader / ours(2) >= 1.8 and ours(W) / floor(W) <= 1.2.
They are printed as met or not met; nothing asserts a time. The exit code is
0 unless a contender could not run at all.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import csv
import importlib.util
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the autograder package, whether installed or not
ASSIGNMENT = "a1_rnn"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
RELEASE = ROOT / "exercises" / ASSIGNMENT / NOTEBOOK
SOURCE = ROOT / "solutions" / ASSIGNMENT / NOTEBOOK
BIN = Path(sys.executable).parent
#: The same for all three contenders (the grader's sandbox sets these in its kernels).
COMMON_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SPEEDUP_TARGET = 1.8  # nbgrader / ours(2), at least
FLOOR_TARGET = 1.2  # ours(W) / floor(W), at most
TARGET_WORKERS = 2
TARGET_STUDENTS = 40


class BenchError(RuntimeError):
    """A contender could not run: the benchmark stops with this message."""


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_submissions_helpers():
    """tests/submissions.py, imported by path (test code, fine for a benchmark)."""
    path = ROOT / "tests" / "submissions.py"
    spec = importlib.util.spec_from_file_location("course_test_submissions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the submissions ------------------------------------------------------------

def build_submissions(count: int, folder: Path) -> dict[str, str | None]:
    """Write `count` students to folder/submissions/<student>/a1_rnn.ipynb and
    to the nbgrader course's folder/nbgrader/submitted/<student>/a1_rnn/.
    Returns student -> the part left undone (None: complete)."""
    helpers = load_submissions_helpers()
    release = nbformat.read(RELEASE, as_version=4)
    right = helpers.solution_code(nbformat.read(SOURCE, as_version=4))
    code = {k: v for k, v in right.items() if not k.startswith("answer_")}
    written = {k: helpers.ANSWER for k in right if k.startswith("answer_")}
    parts = list(code)
    plan: dict[str, str | None] = {}
    for i in range(count):
        student = f"student{i + 1:02d}"
        undone = parts[(i // 3) % len(parts)] if (i + 1) % 3 == 0 else None
        answers = {k: v for k, v in code.items() if k != undone}
        text = nbformat.writes(helpers.fill(release, {**answers, **written}))
        for target in (folder / "submissions" / student / NOTEBOOK,
                       folder / "nbgrader" / "submitted" / student / ASSIGNMENT / NOTEBOOK):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        plan[student] = undone
    return plan


# --- running and timing ---------------------------------------------------------

def _kill_group(proc: subprocess.Popen) -> None:
    """Stop the process group this script started for `proc` (its own session)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_timed(argv: list[str], cwd: Path, log: Path, timeout: float) -> tuple[float, int]:
    """Run a command (output to `log`), return (wall-clock seconds, exit code)."""
    with log.open("w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=dict(os.environ), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise BenchError(f"{' '.join(argv[:4])} ... took longer than {timeout:.0f} s; its output: {log}")
        except BaseException:
            _kill_group(proc)
            raise
        seconds = time.perf_counter() - start
    try:  # anything it left behind in its session (none expected) must not load the next run
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return seconds, code


def tail(log: Path, lines: int = 15) -> str:
    text = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return "\n    ".join(text[-lines:])


def nbgrader_command() -> list[str]:
    exe = BIN / "nbgrader"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nbgrader"]


def time_nbgrader(course: Path, count: int) -> tuple[float, float]:
    """(seconds of generate_assignment, untimed setup; seconds of autograde) in
    a fresh nbgrader course folder with default settings."""
    shutil.copytree(SOURCE.parent, course / "source" / ASSIGNMENT,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    log = course.parent / "nbgrader-generate.log"
    setup, code = run_timed([*nbgrader_command(), "generate_assignment", ASSIGNMENT], course, log, 600)
    if code != 0:
        raise BenchError(f"nbgrader generate_assignment failed (exit {code}):\n    {tail(log)}")
    log = course.parent / "nbgrader-autograde.log"
    seconds, code = run_timed([*nbgrader_command(), "autograde", ASSIGNMENT], course, log, 3600 + 300 * count)
    if code != 0:
        raise BenchError(f"nbgrader autograde failed (exit {code}):\n    {tail(log)}")
    return setup, seconds


def _execute_bare(path: str, timeout: int) -> tuple[float, int]:
    """In a floor worker: run one notebook in a fresh kernel started in its
    folder. Returns (seconds, cells that raised)."""
    from nbclient import NotebookClient

    start = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    errors = sum(any(o.get("output_type") == "error" for o in c.get("outputs", []))
                 for c in nb.cells if c.cell_type == "code")
    return time.perf_counter() - start, errors


def _quiet(log: str) -> None:
    """In a floor worker: its stderr, and so its kernels' (start-up warnings), to a log file."""
    os.dup2(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), 2)


def time_floor(notebooks: list[Path], workers: int, timeout: int, log: Path) -> tuple[float, list[float], int]:
    """Execute the notebooks bare over `workers` processes (spawned inside the
    timed region). Returns (seconds, seconds of each notebook, cells that raised in all)."""
    start = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_quiet, initargs=(str(log),)) as pool:
        done = list(pool.map(_execute_bare, [str(p) for p in notebooks], [timeout] * len(notebooks)))
    return time.perf_counter() - start, [s for s, _ in done], sum(errors for _, errors in done)


def time_ours(submissions: Path, workspace: Path, workers: int, count: int) -> tuple[float, int, Path]:
    """Our grader's whole run. Returns (seconds, exit code, its log)."""
    log = workspace.parent / f"{workspace.name}.log"
    argv = [sys.executable, "-m", "autograder", "grade", str(submissions), "--assignment", ASSIGNMENT,
            "--workspace", str(workspace), "--jobs", str(workers)]
    seconds, code = run_timed(argv, ROOT, log, 3600 + 300 * count)
    if not (workspace / "reports" / ASSIGNMENT / "grades.csv").exists():
        raise BenchError(f"python -m autograder grade --jobs {workers} wrote no grades.csv (exit {code}):\n"
                         f"    {tail(log)}")
    return seconds, code, log


# --- checking the grades --------------------------------------------------------

def expected_points() -> tuple[float, list[str]]:
    """(auto-graded points of a complete submission, the manually graded cells)."""
    from autograder.grading.notebooks import graded_parts

    parts = graded_parts(nbformat.read(SOURCE, as_version=4))
    return sum(p.points for p in parts if not p.manual), [p.grade_id for p in parts if p.manual]


def problems_of(totals: dict[str, tuple[float, bool]], plan: dict[str, str | None], full: float) -> list[str]:
    """totals: student -> (total points, manual grading pending)."""
    found = []
    for student, undone in plan.items():
        if student not in totals:
            found.append(f"{student}: not graded")
            continue
        points, pending = totals[student]
        if undone is None and (points != full or not pending):
            found.append(f"{student} (complete): {points:g} points, manual grading "
                         f"{'pending' if pending else 'NOT pending'}; expected {full:g} and pending")
        elif undone is not None and points >= full:
            found.append(f"{student} ({undone} undone): {points:g} points, expected fewer than {full:g}")
    return found


def check_ours(workspace: Path, plan: dict[str, str | None], full: float, manual: list[str]) -> list[str]:
    totals = {}
    with (workspace / "reports" / ASSIGNMENT / "grades.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["status"].startswith("graded"):
                totals[row["student"]] = (float(row["total"]), all(row.get(m, "") == "" for m in manual))
    return problems_of(totals, plan, full)


def check_nbgrader(course: Path, plan: dict[str, str | None], full: float) -> list[str]:
    """The same check on nbgrader's own gradebook (that it did the same work)."""
    from nbgrader.api import Gradebook

    totals = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in plan:
            try:
                nb = gb.find_submission_notebook(Path(NOTEBOOK).stem, ASSIGNMENT, student)
            except Exception:  # MissingEntry: not graded
                continue
            points = sum(g.manual_score if g.manual_score is not None else (g.auto_score or 0) for g in nb.grades)
            pending = any(g.auto_score is None and g.manual_score is None for g in nb.grades)
            totals[student] = (float(points), pending)
    return problems_of(totals, plan, full)


BAR = re.compile(r"(\d+)/(\d+) \[(?:(\d+):)?(\d+):(\d+)<")


def breakdown(workspace: Path, log: Path) -> str:
    """Where our run's time went, as far as its output says (a diagnostic):
    the progress bar's elapsed time (grading, 1 s resolution) and each job's
    seconds in its worker (results.json)."""
    text = ""
    bars = [m for m in BAR.finditer(log.read_text(errors="replace")) if m.group(1) == m.group(2)]
    if bars:
        h, m, sec = bars[-1].group(3, 4, 5)
        text += f"; grading phase {int(h or 0) * 3600 + int(m) * 60 + int(sec)} s by its progress bar"
    try:
        seconds = [r["seconds"] for r in json.loads((workspace / "reports" / ASSIGNMENT / "results.json").read_text())
                   if r.get("seconds")]
    except (OSError, ValueError, KeyError, TypeError):
        seconds = []
    if seconds:
        text += f"; one job {sum(seconds) / len(seconds):.2f} s on average in its worker"
    return text


def warn(who: str, problems: list[str]) -> None:
    for problem in problems[:10]:
        print(f"WARNING: {who} graded wrongly: {problem}", flush=True)
    if len(problems) > 10:
        print(f"WARNING: ... and {len(problems) - 10} more", flush=True)


# --- the run --------------------------------------------------------------------

def parse_jobs(text: str | None) -> list[int]:
    if text is None:
        return sorted({1, 2, cores()})
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise SystemExit(f"--jobs-list: expected numbers separated by commas, got {text!r}")
    if not values or min(values) < 1:
        raise SystemExit(f"--jobs-list: expected worker counts >= 1, got {text!r}")
    return values


def verdict(value: float, target: float, at_least: bool) -> str:
    met = value >= target if at_least else value <= target
    return "met" if met else "NOT MET"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=TARGET_STUDENTS, help="submissions (default 40)")
    parser.add_argument("--jobs-list", default=None,
                        help="worker counts, e.g. 1,2,4 (default: 1, 2 and all cores, deduplicated)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = parser.parse_args()
    if args.students < 1:
        parser.error("--students must be at least 1")
    worker_counts = parse_jobs(args.jobs_list)
    for name in (RELEASE, SOURCE):
        if not name.exists():
            print(f"missing {name.relative_to(ROOT)} (make release?)", file=sys.stderr)
            return 1

    os.environ.update(COMMON_ENV)
    os.environ["PATH"] = str(BIN) + os.pathsep + os.environ.get("PATH", "")
    n = args.students
    folder = Path(tempfile.mkdtemp(prefix="grading-speed-"))
    try:
        plan = build_submissions(n, folder)
        full, manual = expected_points()
        from autograder.grading.notebooks import cell_timeout

        timeout = cell_timeout(nbformat.read(SOURCE, as_version=4))
        undone = sum(u is not None for u in plan.values())
        print(f"grading speed: {n} {ASSIGNMENT} submissions ({n - undone} complete, {undone} with one part "
              f"left undone); this machine has {cores()} cores; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        print(f"every contender runs with {' '.join(f'{k}={v}' for k, v in COMMON_ENV.items())} and {BIN} first "
              f"on PATH; cell timeout {timeout} s; working in {folder}", flush=True)
        notebooks = [folder / "submissions" / s / NOTEBOOK for s in plan]

        # Warm the file cache (Python, torch, the kernel) so that the first timed run does not pay for it.
        time_floor(notebooks[:1], 1, timeout, folder / "floor-warmup.log")

        setup, nbgrader_s = time_nbgrader(folder / "nbgrader", n)
        print(f"nbgrader autograde (sequential): {nbgrader_s:.1f} s "
              f"(generate_assignment before it, not timed: {setup:.1f} s)", flush=True)
        warn("nbgrader", check_nbgrader(folder / "nbgrader", plan, full))

        floor: dict[int, float] = {}
        ours: dict[int, float] = {}
        for w in worker_counts:
            floor[w], each, errors = time_floor(notebooks, w, timeout, folder / f"floor-{w}.log")
            print(f"floor, {w} worker(s): {floor[w]:.1f} s; one notebook {sum(each) / n:.2f} s on average "
                  f"(kernel start included); {errors} cells raised (the parts left undone)", flush=True)
            workspace = folder / f"ours-{w}"
            ours[w], code, log = time_ours(folder / "submissions", workspace, w, n)
            print(f"ours, --jobs {w}: {ours[w]:.1f} s (exit {code}){breakdown(workspace, log)}", flush=True)
            if code != 0:
                print(f"WARNING: python -m autograder grade --jobs {w} exited {code}:\n    {tail(log)}", flush=True)
            warn(f"ours (--jobs {w})", check_ours(workspace, plan, full, manual))

        print()
        print(f"{n} submissions, {cores()} cores, load average now "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"nbgrader autograde, sequential: {nbgrader_s:8.1f} s  {nbgrader_s / n:6.2f} s/submission")
        head = (f"{'workers':>7} {'floor s':>8} {'s/sub':>6} {'ours s':>8} {'s/sub':>6} "
                f"{'nbgrader/ours':>13} {'ours/floor':>10} {'ours(1)/ours(W)':>15}")
        print(head)
        print("-" * len(head))
        for w in worker_counts:
            scaling = f"{ours[1] / ours[w]:15.2f}" if 1 in ours else f"{'-':>15}"
            print(f"{w:7d} {floor[w]:8.1f} {floor[w] / n:6.2f} {ours[w]:8.1f} {ours[w] / n:6.2f} "
                  f"{nbgrader_s / ours[w]:13.2f} {ours[w] / floor[w]:10.2f} {scaling}")
        print()
        print(f"targets (issue item 4: {TARGET_STUDENTS} submissions on {TARGET_WORKERS} cores):")
        if n != TARGET_STUDENTS or cores() != TARGET_WORKERS:
            print(f"  (this run: {n} submissions on {cores()} cores, so these are indications only)")
        w = TARGET_WORKERS if TARGET_WORKERS in ours else max(ours)
        ratio = nbgrader_s / ours[w]
        print(f"  nbgrader / ours({w})  >= {SPEEDUP_TARGET:.1f}: {ratio:5.2f}  "
              f"{verdict(ratio, SPEEDUP_TARGET, at_least=True)}")
        for w in worker_counts:
            ratio = ours[w] / floor[w]
            print(f"  ours({w}) / floor({w}) <= {FLOOR_TARGET:.1f}: {ratio:5.2f}  "
                  f"{verdict(ratio, FLOOR_TARGET, at_least=False)}")
        print("(floor: pool start-up counted; nbgrader: its own start counted, its generate_assignment not; "
              "ours: everything from start to exit)")
        return 0
    except BenchError as error:
        print(f"grading_speed: {error}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
