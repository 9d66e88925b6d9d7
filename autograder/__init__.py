"""The RNN course's instructor package.

- `autograder.reference`: reference implementations (pure NumPy/PyTorch).
- `autograder.cases`: the hidden-test cases, one per graded part, and `check()`.
- `autograder.compare`: tolerant comparison that explains a mismatch in words.
- `python -m autograder`: release assignments and grade submissions.
"""
