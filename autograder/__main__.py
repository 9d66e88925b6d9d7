"""Entry point of `python -m autograder`."""
import sys

from .grading.cli import main

if __name__ == "__main__":  # not when a grading worker process imports this module
    sys.exit(main())
