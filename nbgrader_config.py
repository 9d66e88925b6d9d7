"""nbgrader configuration of the course repository (used by `python -m autograder release`).

Instructors write assignments in `solutions/` (solutions and hidden tests);
`exercises/` is generated from it and holds what students get. Grading runs in
a separate workspace (`python -m autograder grade`), which writes its own
configuration, so grading state never lands in this tree.
"""
c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.course_id = "rnn-course"
