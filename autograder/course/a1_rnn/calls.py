"""Assignment a1 (the vanilla RNN forward pass): how each graded part is called."""
from __future__ import annotations

import copy
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ...engine.runner.collect import Calls, Swap, Trial
from ..inputs import SHAPES, label, rnn_params, seeded

NUMPY_ONLY = "this part is NumPy only"


def cell_trials() -> list[Trial]:
    rng = seeded(7101)
    trials = []
    for b, _, i, h, _ in SHAPES:
        p = rnn_params(rng, i, h, 1)
        x_t, h_prev = rng.normal(size=(b, i)), rng.normal(scale=0.7, size=(b, h))
        trials.append(Trial(label(b, None, i, h, None),
                            (x_t, h_prev, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])))
    return trials


def forward_trials() -> list[Trial]:
    rng = seeded(7102)
    trials = []
    for k, (b, t, i, h, o) in enumerate(SHAPES):
        p = rnn_params(rng, i, h, o)
        x = rng.normal(size=(b, t, i))
        h0 = np.zeros((b, h)) if k == 1 else rng.normal(scale=0.7, size=(b, h))
        trials.append(Trial(label(b, t, i, h, o) + (", h0=0" if k == 1 else ""), (x, h0, p)))
    return trials


def module_trials() -> list[Trial]:
    torch.manual_seed(7103)
    specs = [  # (input_size, hidden_size, output_size, RNN keyword arguments, head bias)
        (1, 1, 1, {}, True), (3, 4, 2, {"batch_first": True}, True), (5, 2, 3, {"bias": False}, True),
        (2, 3, 1, {}, False), (4, 3, 2, {"num_layers": 2}, True), (2, 3, 2, {"nonlinearity": "relu"}, True),
        (2, 3, 2, {"bidirectional": True}, True),
    ]
    trials = []
    for n, (i, h, o, kwargs, head_bias) in enumerate(specs):
        rnn, head = nn.RNN(i, h, **kwargs), nn.Linear(h, o, bias=head_bias)
        extra = "".join(f", {k}={v!r}" for k, v in kwargs.items()) + ("" if head_bias else ", head without bias")
        trials.append(Trial(f"nn.RNN({i}, {h}{extra}) with nn.Linear({h}, {o})", (rnn, head)))
        if n in (1, 2):  # float64 modules: np.asarray and .numpy() of these share memory
            trials.append(Trial(f"nn.RNN({i}, {h}{extra}).double() with nn.Linear({h}, {o}).double()",
                                (copy.deepcopy(rnn).double(), copy.deepcopy(head).double())))
    return trials


def run_params(function: Callable, args: tuple) -> tuple[Any, list[str]]:
    """The returned dict, and which of its arrays share memory with the module's
    tensors (they would change as the module trains)."""
    rnn, head = args
    params = function(rnn, head)
    tensors = [p.detach().numpy() for p in (*rnn.parameters(), *head.parameters())]
    shared = sorted(str(key) for key, value in params.items()
                    if isinstance(value, np.ndarray) and any(np.shares_memory(value, t) for t in tensors)
                    ) if isinstance(params, dict) else []
    return params, shared


def xent_trials() -> list[Trial]:
    rng = seeded(7104)
    trials = []
    for b, t, _, _, o in SHAPES:
        logits = rng.normal(scale=3.0, size=(b, t, o))
        trials.append(Trial(label(b, t, None, None, o), (logits, rng.integers(0, o, size=(b, t)))))
    for scale in (1e3, 1e5):  # large logits: a naive softmax overflows
        logits = rng.normal(scale=scale, size=(3, 4, 5))
        trials.append(Trial(f"batch_size=3, seq_len=4, output_size=5, logits of size {scale:g}",
                            (logits, rng.integers(0, 5, size=(3, 4)))))
    return trials



CELL = Swap("rnn_cell_forward", ("x_t", "h_prev", "weight_ih", "weight_hh", "bias_ih", "bias_hh"))

CALLS: dict[str, Calls] = {
    "a1.rnn_cell_forward": Calls("rnn_cell_forward", cell_trials, hides_torch=NUMPY_ONLY),
    "a1.rnn_forward": Calls("rnn_forward", forward_trials, hides_torch=NUMPY_ONLY, swaps=(CELL,)),
    "a1.rnn_params_from_torch": Calls("rnn_params_from_torch", module_trials, run=run_params),
    "a1.sequence_cross_entropy": Calls("sequence_cross_entropy", xent_trials, hides_torch=NUMPY_ONLY),
}
