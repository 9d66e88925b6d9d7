"""Input generators shared by the assignments' graded calls.

Seeded, so the grader's process and the student's kernel build the very same
inputs: the grader runs its reference on them, the kernel the student's code.
"""
from __future__ import annotations

import numpy as np


def seeded(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def weights(rng: np.random.Generator, shape: tuple[int, ...], hidden_size: int) -> np.ndarray:
    """Uniform weights a bit larger than PyTorch's default, so tanh bends."""
    bound = 1.5 / np.sqrt(hidden_size)
    return rng.uniform(-bound, bound, size=shape)


def rnn_params(rng: np.random.Generator, input_size: int, hidden_size: int, output_size: int) -> dict:
    return {
        "weight_ih": weights(rng, (hidden_size, input_size), hidden_size),
        "weight_hh": weights(rng, (hidden_size, hidden_size), hidden_size),
        "bias_ih": weights(rng, (hidden_size,), hidden_size),
        "bias_hh": weights(rng, (hidden_size,), hidden_size),
        "weight_hy": weights(rng, (output_size, hidden_size), hidden_size),
        "bias_y": weights(rng, (output_size,), hidden_size),
    }


SHAPES = [(1, 1, 1, 1, 1), (2, 5, 3, 4, 2), (3, 7, 1, 2, 3), (1, 4, 2, 3, 1), (5, 3, 4, 1, 2), (4, 6, 5, 3, 7)]


def label(b: int, t: int | None, i: int | None, h: int | None, o: int | None) -> str:
    names = zip(("batch_size", "seq_len", "input_size", "hidden_size", "output_size"), (b, t, i, h, o))
    return ", ".join(f"{n}={v}" for n, v in names if v is not None)


