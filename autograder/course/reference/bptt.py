"""Reference: backpropagation through time, gradient checks, clipping, truncation, Jacobians (a2).

Pure functions: NumPy and PyTorch only, no I/O, written independently of the
solution cells (a second implementation, not a copy) and tested against
`torch.nn` in `tests/test_reference.py`.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .rnn import RNN_PARAM_KEYS, log_softmax, rnn_forward, sequence_cross_entropy

#: Keys of the gradient dictionary of assignment a2: every parameter and h0.
GRAD_KEYS = (*RNN_PARAM_KEYS, "h0")


def rnn_forward_with_cache(
    x: np.ndarray, targets: np.ndarray, h0: np.ndarray, params: dict[str, np.ndarray]
) -> tuple[float, dict]:
    """The a1 model and loss, keeping what a backward pass needs.

    x: (B, T, I), targets: (B, T), h0: (B, H). Returns (loss, cache) where the
    loss is the mean cross-entropy over batch and time and the cache holds
    x, targets, h0, params, hs (B, T, H) = h_1..h_T and ps (B, T, O) = softmax(y_t).
    """
    hs, ys = rnn_forward(x, h0, params)  # (B, T, H), (B, T, O)
    ps = np.exp(log_softmax(ys))  # (B, T, O)
    loss = sequence_cross_entropy(ys, targets)
    return loss, {"x": x, "targets": targets, "h0": h0, "params": params, "hs": hs, "ps": ps}


def rnn_backward(cache: dict) -> dict[str, np.ndarray]:
    """Gradients of the mean cross-entropy with respect to every parameter and h0,
    computed by PyTorch's autograd in float64 from the inputs kept in the cache."""
    leaves = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in cache["params"].items()}
    h0 = torch.tensor(cache["h0"], dtype=torch.float64, requires_grad=True)
    x = torch.as_tensor(cache["x"], dtype=torch.float64)  # (B, T, I)
    h, states = h0, []
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ leaves["weight_ih"].T + leaves["bias_ih"]
                       + h @ leaves["weight_hh"].T + leaves["bias_hh"])  # (B, H)
        states.append(h)
    logits = torch.stack(states, dim=1) @ leaves["weight_hy"].T + leaves["bias_y"]  # (B, T, O)
    targets = torch.as_tensor(cache["targets"], dtype=torch.int64)
    loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    loss.backward()
    grads = {k: v.grad.numpy() for k, v in leaves.items()}
    grads["h0"] = h0.grad.numpy()
    return grads


def numerical_gradient(f, param: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences (f(p + eps) - f(p - eps)) / (2 eps) for every entry of
    `param`, which `f()` reads; each entry is restored after it is perturbed."""
    grad = np.zeros_like(param, dtype=np.float64)
    flat, out = param.reshape(-1), grad.reshape(-1)  # views
    for i in range(flat.size):
        kept = flat[i]
        flat[i] = kept + eps
        up = f()
        flat[i] = kept - eps
        down = f()
        flat[i] = kept
        out[i] = (up - down) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / max(||a|| + ||b||, 1e-12) with Frobenius norms: 0 for equal
    arrays, at most 1, and meaningful whatever the scale of the gradients."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12))


def clip_grad_norm(grads: list[np.ndarray], max_norm: float) -> float:
    """torch.nn.utils.clip_grad_norm_ on NumPy arrays: the arrays are scaled in
    place (tensors share their memory) and the norm before clipping is returned."""
    holders = [nn.Parameter(torch.empty(g.shape, dtype=torch.float64)) for g in grads]
    for holder, g in zip(holders, grads):
        holder.grad = torch.from_numpy(g)  # clip_grad_norm_ scales .grad, here the array's memory
    return float(nn.utils.clip_grad_norm_(holders, max_norm))


def tbptt_train(rnn: nn.RNN, head: nn.Linear, x: torch.Tensor, targets: torch.Tensor,
                k: int, optimizer: torch.optim.Optimizer) -> list[float]:
    """One pass of truncated BPTT over a batch-first sequence: chunks of k steps,
    one optimizer step per chunk, the state carried across chunks but detached.
    Returns the mean cross-entropy of every chunk, as floats."""
    losses, state = [], None
    for start in range(0, x.shape[1], k):
        out, state = rnn(x[:, start:start + k], state)  # (B, k, H), (1, B, H)
        logits = head(out)  # (B, k, O)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets[:, start:start + k].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        state = state.detach()
        losses.append(loss.item())
    return losses


def jacobian_norms(x: np.ndarray, h0: np.ndarray, weight_ih: np.ndarray,
                   weight_hh: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Spectral norms ||dh_T / dh_t||_2 for t = 0..T of one tanh RNN sequence
    (x: (T, I), h0: (H,), bias = bias_ih + bias_hh: (H,)). Returns (T + 1,);
    the last entry, dh_T/dh_T = identity, is 1. Computed by autograd."""
    xs = torch.as_tensor(x, dtype=torch.float64)
    w_ih, w_hh = torch.as_tensor(weight_ih, dtype=torch.float64), torch.as_tensor(weight_hh, dtype=torch.float64)
    b = torch.as_tensor(bias, dtype=torch.float64)

    def run(h: torch.Tensor, start: int) -> torch.Tensor:
        for t in range(start, xs.shape[0]):
            h = torch.tanh(w_ih @ xs[t] + w_hh @ h + b)  # (H,)
        return h

    states = [torch.as_tensor(h0, dtype=torch.float64)]  # h_0, then h_1..h_T
    with torch.no_grad():
        for t in range(xs.shape[0]):
            states.append(torch.tanh(w_ih @ xs[t] + w_hh @ states[-1] + b))  # (H,)
    norms = []
    for t in range(xs.shape[0]):
        jac = torch.autograd.functional.jacobian(lambda h, s=t: run(h, s), states[t])  # (H, H)
        norms.append(float(torch.linalg.matrix_norm(jac, ord=2)))
    return np.array(norms + [1.0])
