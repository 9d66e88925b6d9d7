"""The grading machinery, the same for every assignment.

- `case`: the case model (what is right for a part, and its known mistakes);
- `compare`: comparisons that say in words what differs;
- `judge`: the trusted judge, in the grader's process;
- `runner/`: the untrusted runner, the only grader code mounted into a
  student's sandbox beside the assignment's calls (it knows no answer).

Nothing here names an assignment; `autograder.course` holds the assignments.
"""
