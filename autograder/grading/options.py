"""The settings of one grading run (what `python -m autograder grade` was asked)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Options:
    """Settings of one grading run."""

    workspace: Path = Path("grading")
    db_url: str | None = None  # default: SQLite in the workspace
    cell_timeout: int | None = None  # seconds per cell; None: the notebook's own setting, else 30
    memory_gib: float = 4.0  # address-space limit of each process of the student's kernel
    student_timeout: int = 900  # seconds for one whole notebook and its grading calls
    sandbox: bool = True  # False only with --no-sandbox
    force: bool = False  # grade again what was graded before from the same notebook
    job_deadline: float | None = None  # seconds before a busy worker is taken to hang (None: jobs.Job.deadline)
