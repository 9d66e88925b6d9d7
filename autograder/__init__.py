"""The RNN course's instructor package, in three layers (each imports only the ones before it):

- `autograder.engine`: the machinery shared by every assignment: the case
  model, comparisons, the trusted judge, and the untrusted runner that is
  mounted into a student's sandbox.
- `autograder.course`: one package per assignment (its calls, cases and known
  mistakes) and the reference code by topic; `check()` for hidden tests.
- `autograder.grading`: intake, workspace, sandbox, kernel session, jobs and
  their executors (local workers or a Dask cluster), gradebook, feedback,
  reports and the command line (`python -m autograder`).
"""
