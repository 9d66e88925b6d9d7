"""The half of grading that runs beside the student's code, in the sandbox.

It calls the student's functions on each graded part's inputs and sends back
plain data. It knows no right answer: the grader judges in its own process
(`autograder.engine.judge`). Only these modules, the course's input
generators and the graded assignment's `calls` are mounted into a student's
sandbox (`autograder.grading.sandbox.kernel_package`).
"""
