"""Grading: from a folder or LMS zip of submissions to grades, feedback and exports.

- `intake`: find each student's notebook (and LMS id) in what was handed in;
- `workspace`: the coordinator: an nbgrader course folder per run, one job per
  student, the gradebook and the saved results (resuming an interrupted run);
- `jobs`: grading one submission in a worker: `sandbox` (bubblewrap) and
  `session` (the kernel, driven from the worker), judged by `autograder.engine`;
- `pool` (worker processes on this machine) and `cluster` (Dask) run the jobs;
- `gradebook`, `reports`, `feedback`, `exports`: what the coordinator writes;
- `notebooks`: releasing assignments and reading their nbgrader metadata;
- `cli`: `python -m autograder`.
"""
