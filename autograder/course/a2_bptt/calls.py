"""Assignment a2 (backpropagation through time): how each graded part is called."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ...engine.runner.collect import Calls, Trial
from ..inputs import SHAPES, label, rnn_params, seeded

NUMPY_ONLY = "this part is NumPy only"


def forward_with_cache(x: np.ndarray, targets: np.ndarray, h0: np.ndarray, params: dict) -> dict:
    """The notebook's given forward pass (a1's model and mean cross-entropy),
    keeping what a backward pass needs: x (B, T, I), targets (B, T), h0 (B, H),
    params, hs (B, T, H) = h_1..h_T and ps (B, T, O) = softmax(y_t)."""
    h, hs = h0, []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ params["weight_ih"].T + params["bias_ih"]
                    + h @ params["weight_hh"].T + params["bias_hh"])  # (B, H)
        hs.append(h)
    hs = np.stack(hs, axis=1)  # (B, T, H)
    ys = hs @ params["weight_hy"].T + params["bias_y"]  # (B, T, O)
    shifted = ys - ys.max(axis=-1, keepdims=True)  # (B, T, O)
    ps = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)  # (B, T, O)
    return {"x": x, "targets": targets, "h0": h0, "params": params, "hs": hs, "ps": ps}


def backward_trials() -> list[Trial]:
    """Caches of the a2 forward pass; shortest sequences first, so the first
    failure tells whether one step already goes wrong or only the recursion."""
    rng = seeded(7201)
    trials = []
    # output_size >= 2: with one class the softmax is constant and every gradient is 0
    grid = sorted({(b, t, i, h, max(o, 2)) for b, t, i, h, o in [*SHAPES, (3, 1, 2, 3, 2)]},
                  key=lambda shape: (shape[1], shape))
    for b, t, i, h, o in grid:
        p = rnn_params(rng, i, h, o)
        x, h0 = rng.normal(size=(b, t, i)), rng.normal(scale=0.7, size=(b, h))
        targets = rng.integers(0, o, size=(b, t))
        cache = forward_with_cache(x, targets, h0, p)
        trials.append(Trial(label(b, t, i, h, o), (cache,)))
    return trials


def quadratic_trials() -> list[Trial]:
    """Loss functions that read an array: f() depends on every entry."""
    rng = seeded(7202)
    trials = []
    for shape in [(1,), (3,), (2, 3), (4, 1)]:
        weights = rng.normal(size=(5, int(np.prod(shape))))
        start = rng.normal(size=shape)

        def make(weights=weights, start=start):
            param = start.copy()
            return (lambda: float(np.sum(np.tanh(weights @ param.reshape(-1)) ** 2) + np.sum(param ** 3)), param)
        trials.append(Trial(f"a loss of an array of shape {shape}", make))
    return trials


def run_numerical(function: Callable, args: tuple) -> tuple[Any, np.ndarray]:
    """The gradient, and the array afterwards (it must be restored)."""
    f, param = args
    start = param.copy()
    grad = function(f, param)
    return grad, (param - start)


def relative_error_trials() -> list[Trial]:
    rng = seeded(7203)
    a = rng.normal(size=(3, 4))
    return [
        Trial("two different arrays", (a, rng.normal(size=(3, 4)))),
        Trial("two equal arrays", (a, a.copy())),
        Trial("nearly equal arrays", (a, a + 1e-7 * rng.normal(size=(3, 4)))),
        Trial("arrays of size 1e-9", (1e-9 * a, 1e-9 * (a + 0.1))),
        Trial("arrays of size 1e6", (1e6 * a, 1e6 * (a + 0.1))),
        Trial("two zero arrays", (np.zeros(3), np.zeros(3))),
    ]


def clip_trials() -> list[Trial]:
    rng = seeded(7204)
    shapes = [[(3, 4), (5,)], [(2,)], [(1, 1), (4, 3), (3,)]]
    trials = []
    for k, grad_shapes in enumerate(shapes):
        for max_norm in (0.5, 100.0):
            grads = [rng.normal(scale=1 + k, size=shape) for shape in grad_shapes]
            trials.append(Trial(f"gradients of shapes {grad_shapes}, max_norm={max_norm}", (grads, max_norm)))
    return trials


def run_clip(function: Callable, args: tuple) -> tuple[Any, list[np.ndarray]]:
    """The returned norm, and the gradient arrays afterwards (clipped in place)."""
    grads, max_norm = args
    return function(grads, max_norm), [g.copy() for g in grads]


def tbptt_trials() -> list[Trial]:
    specs = [(2, 7, 3, 4, 3, 3), (1, 5, 2, 3, 2, 1), (3, 6, 1, 2, 2, 10), (2, 8, 2, 5, 4, 4)]
    trials = []
    for n, (b, t, i, h, o, k) in enumerate(specs):
        def make(b=b, t=t, i=i, h=h, o=o, k=k, seed=7205 + n):
            torch.manual_seed(seed)
            rnn, head = nn.RNN(i, h, batch_first=True).double(), nn.Linear(h, o).double()
            optimizer = torch.optim.SGD([*rnn.parameters(), *head.parameters()], lr=0.5)
            x = torch.randn(b, t, i, dtype=torch.float64)
            return rnn, head, x, torch.randint(0, o, (b, t)), k, optimizer
        trials.append(Trial(label(b, t, i, h, o) + f", k={k}", make))
    return trials


def run_tbptt(function: Callable, args: tuple) -> tuple[Any, list[np.ndarray]]:
    """The returned losses, and the parameters after training."""
    rnn, head = args[0], args[1]
    losses = function(*args)
    return losses, [p.detach().numpy().copy() for p in (*rnn.parameters(), *head.parameters())]


def jacobian_trials() -> list[Trial]:
    rng = seeded(7206)
    trials = []
    for t, i, h, radius in [(1, 1, 1, 0.9), (6, 2, 3, 0.5), (8, 3, 4, 1.0), (5, 1, 5, 2.0), (9, 2, 2, 1.5)]:
        w_hh = rng.normal(size=(h, h))
        w_hh *= radius / max(abs(np.linalg.eigvals(w_hh)).max(), 1e-12)  # spectral radius `radius`
        args = (rng.normal(size=(t, i)), rng.normal(scale=0.5, size=h), rng.normal(size=(h, i)),
                w_hh, rng.normal(scale=0.3, size=h))
        trials.append(Trial(f"seq_len={t}, input_size={i}, hidden_size={h}, spectral radius {radius}", args))
    return trials



CALLS: dict[str, Calls] = {
    "a2.rnn_backward": Calls("rnn_backward", backward_trials, hides_torch=NUMPY_ONLY),
    "a2.numerical_gradient": Calls("numerical_gradient", quadratic_trials, run=run_numerical,
                                   hides_torch=NUMPY_ONLY),
    "a2.relative_error": Calls("relative_error", relative_error_trials, hides_torch=NUMPY_ONLY),
    "a2.clip_grad_norm": Calls("clip_grad_norm", clip_trials, run=run_clip, hides_torch=NUMPY_ONLY),
    "a2.tbptt_train": Calls("tbptt_train", tbptt_trials, run=run_tbptt),
    "a2.jacobian_norms": Calls("jacobian_norms", jacobian_trials, hides_torch=NUMPY_ONLY),
}
