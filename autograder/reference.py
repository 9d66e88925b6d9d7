"""Reference implementations that the hidden tests compare student code with.

They are written independently of the solution cells in `solutions/` (a second
implementation, not a copy) and are tested against `torch.nn` in
`tests/test_reference.py`. Pure functions: NumPy and PyTorch only, no I/O.

Shapes follow the course notation (intro.md): B batch_size, T seq_len,
I input_size, H hidden_size, O output_size; sequences are batch-first.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: Keys of the parameter dictionary used by the NumPy RNN of assignment a1.
RNN_PARAM_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hy", "bias_y")


def rnn_cell_forward(
    x_t: np.ndarray,
    h_prev: np.ndarray,
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray,
    bias_hh: np.ndarray,
) -> np.ndarray:
    """One tanh RNN step. x_t: (B, I), h_prev: (B, H). Returns h_t: (B, H)."""
    a = np.einsum("hi,bi->bh", weight_ih, x_t) + np.einsum("hk,bk->bh", weight_hh, h_prev)  # (B, H)
    return np.tanh(a + (bias_ih + bias_hh))  # (B, H)


def rnn_forward(
    x: np.ndarray, h0: np.ndarray, params: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Run the RNN over a batch-first sequence.

    x: (B, T, I), h0: (B, H), params: the `RNN_PARAM_KEYS` arrays.
    Returns (hs, ys): hs (B, T, H) holds h_1..h_T and ys (B, T, O) the outputs
    y_t = W_hy h_t + b_y of every step.
    """
    seq_len = x.shape[1]
    states = []
    h = h0  # (B, H)
    for t in range(seq_len):
        h = rnn_cell_forward(
            x[:, t], h, params["weight_ih"], params["weight_hh"], params["bias_ih"], params["bias_hh"]
        )  # (B, H)
        states.append(h)
    hs = np.stack(states, axis=1)  # (B, T, H)
    ys = np.einsum("oh,bth->bto", params["weight_hy"], hs) + params["bias_y"]  # (B, T, O)
    return hs, ys


def rnn_params_from_torch(rnn: nn.RNN, head: nn.Linear) -> dict[str, np.ndarray]:
    """Copy a one-layer, unidirectional tanh `nn.RNN` and its `nn.Linear` head
    into the NumPy parameter dictionary (float64 arrays; zero biases where the
    module has none). Raises ValueError for an RNN the NumPy code cannot run."""
    if rnn.num_layers != 1 or rnn.bidirectional or rnn.nonlinearity != "tanh":
        raise ValueError("only a one-layer, unidirectional tanh RNN can be converted")
    state = dict(rnn.named_parameters())

    def copy(t: torch.Tensor) -> np.ndarray:
        return t.detach().to(torch.float64).cpu().numpy().copy()

    def bias(t: torch.Tensor | None, size: int) -> np.ndarray:
        return np.zeros(size, dtype=np.float64) if t is None else copy(t)

    return {
        "weight_ih": copy(state["weight_ih_l0"]),
        "weight_hh": copy(state["weight_hh_l0"]),
        "bias_ih": bias(state.get("bias_ih_l0"), rnn.hidden_size),
        "bias_hh": bias(state.get("bias_hh_l0"), rnn.hidden_size),
        "weight_hy": copy(head.weight),
        "bias_y": bias(head.bias, head.out_features),
    }


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities over the last axis, stable for any finite logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)  # (..., O), max entry is 0
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # (..., O)


def sequence_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean cross-entropy over batch and time.

    logits: (B, T, O) unnormalized scores; targets: (B, T) class indices.
    Returns the mean over all B*T steps of -log softmax(logits)[target].
    """
    logp = log_softmax(logits)  # (B, T, O)
    picked = np.take_along_axis(logp, targets[..., None].astype(np.int64), axis=-1)  # (B, T, 1)
    return float(-picked.mean())


# --- a2: backpropagation through time --------------------------------------------

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
