"""Assignment a2: realistic wrong implementations of the graded functions (see `engine.case.Mistake`)."""
from __future__ import annotations

import numpy as np
from torch import nn

from ...engine.case import variant
from .. import reference as ref


# --- a2, part A: backward pass (a hand-written BPTT with one flaw each) --------

def _bptt(cache, flaw: str = ""):
    """Backpropagation through time written out by hand; `flaw` names one mistake."""
    x, targets, h0, p = cache["x"], cache["targets"], cache["h0"], cache["params"]
    hs, ps = cache["hs"], cache["ps"]
    B, T, _ = x.shape
    scale = 1.0 if flaw == "sum_not_mean" else 1.0 / (B * T)
    dy = ps.copy()  # (B, T, O)
    dy[np.arange(B)[:, None], np.arange(T)[None, :], targets] -= 1.0
    dy *= scale
    g = {k: np.zeros_like(v) for k, v in p.items()}
    g["weight_hy"] = np.einsum("bto,bth->oh", dy, hs)
    g["bias_y"] = dy.sum(axis=(0, 1))
    prev = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)  # (B, T, H): h_{t-1}
    dh_next = np.zeros_like(h0)  # gradient from step t + 1
    for t in reversed(range(T)):
        from_output = dy[:, t] @ p["weight_hy"]  # (B, H)
        if flaw == "no_output_path" and t < T - 1:
            from_output = 0.0
        dh = from_output + dh_next
        if flaw == "tanh_prime_of_a":
            a = np.arctanh(np.clip(hs[:, t], -0.999999, 0.999999))
            da = dh * (1 - a ** 2)
        elif flaw == "tanh_of_h":
            da = dh * (1 - np.tanh(hs[:, t]) ** 2)
        else:
            da = dh * (1 - hs[:, t] ** 2)  # (B, H)
        if flaw != "last_step_only" or t == T - 1:
            g["weight_ih"] += da.T @ x[:, t]
            g["weight_hh"] += (prev[:, t].T @ da) if flaw == "transposed_weight_hh" else da.T @ prev[:, t]
            g["bias_ih"] += da.sum(axis=0)
            g["bias_hh"] += da.sum(axis=0)
        dh_next = da @ (p["weight_hh"].T if flaw == "recursion_transposed" else p["weight_hh"])
        first_delta = da
    if flaw == "h0_missing":
        g["h0"] = np.zeros_like(h0)
    elif flaw == "h0_without_weight":
        g["h0"] = first_delta
    else:
        g["h0"] = dh_next
    return g


backward_no_output_path = variant(_bptt, "backward_no_output_path", flaw="no_output_path")
backward_transposed_weight_hh = variant(_bptt, "backward_transposed_weight_hh", flaw="transposed_weight_hh")
backward_tanh_prime_of_a = variant(_bptt, "backward_tanh_prime_of_a", flaw="tanh_prime_of_a")
backward_sum_not_mean = variant(_bptt, "backward_sum_not_mean", flaw="sum_not_mean")
backward_last_step_only = variant(_bptt, "backward_last_step_only", flaw="last_step_only")
backward_h0_missing = variant(_bptt, "backward_h0_missing", flaw="h0_missing")
backward_tanh_of_h = variant(_bptt, "backward_tanh_of_h", flaw="tanh_of_h")
backward_h0_without_weight = variant(_bptt, "backward_h0_without_weight", flaw="h0_without_weight")
backward_recursion_transposed = variant(_bptt, "backward_recursion_transposed", flaw="recursion_transposed")


# --- a2, part B: numerical gradient and relative error --------------------------

def numgrad_forward_difference(f, param, eps=1e-6):
    grad, flat = np.zeros_like(param), param.reshape(-1)
    base = f()
    for i in range(flat.size):
        kept = flat[i]
        flat[i] = kept + eps
        grad.reshape(-1)[i] = (f() - base) / eps
        flat[i] = kept
    return grad


def numgrad_not_restored(f, param, eps=1e-6):
    grad, flat = np.zeros_like(param), param.reshape(-1)
    for i in range(flat.size):
        flat[i] += eps
        up = f()
        flat[i] -= 2 * eps
        down = f()
        grad.reshape(-1)[i] = (up - down) / (2 * eps)
    return grad


def numgrad_half_step(f, param, eps=1e-6):
    return 2.0 * ref.numerical_gradient(f, param, eps)  # divides by eps, not 2 eps


def numgrad_on_copy(f, param, eps=1e-6):
    """Perturbs param.flatten(), a copy: f() never sees the change."""
    return ref.numerical_gradient(f, param.flatten(), eps).reshape(param.shape)


def relerr_second_denominator(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def relerr_no_denominator(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))


def relerr_max_denominator(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-12))


# --- a2, part C: clipping by global norm ----------------------------------------

def _clip(grads, max_norm, flaw: str):
    """Clipping by global norm in NumPy with one flaw (see the names below)."""
    total = float(np.sqrt(sum(float((g ** 2).sum()) for g in grads)))
    factor = max_norm / (total + 1e-6)
    for g in grads:
        own = max_norm / (float(np.sqrt((g ** 2).sum())) + 1e-6)
        scale = own if flaw == "per_tensor" else factor
        if scale < 1.0 or flaw == "also_scales_up":
            if flaw == "not_in_place":
                g = g * scale
            else:
                g *= scale
    if flaw == "returns_clipped_norm":
        return float(np.sqrt(sum(float((g ** 2).sum()) for g in grads)))
    return total


clip_per_tensor = variant(_clip, "clip_per_tensor", flaw="per_tensor")
clip_returns_clipped_norm = variant(_clip, "clip_returns_clipped_norm", flaw="returns_clipped_norm")
clip_not_in_place = variant(_clip, "clip_not_in_place", flaw="not_in_place")
clip_also_scales_up = variant(_clip, "clip_also_scales_up", flaw="also_scales_up")


# --- a2, part D: truncated BPTT -------------------------------------------------

def _tbptt(rnn, head, x, targets, k, optimizer, flaw: str):
    """Truncated BPTT with one flaw (see the functions below)."""
    losses, state = [], None
    for start in range(0, x.shape[1], k):
        out, state = rnn(x[:, start:start + k], None if flaw == "state_reset" else state)
        loss = nn.functional.cross_entropy(head(out).flatten(0, 1), targets[:, start:start + k].flatten())
        if flaw != "no_zero_grad":
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if flaw != "not_detached":
            state = state.detach()
        losses.append(loss.item())
    return losses


def tbptt_state_reset(rnn, head, x, targets, k, optimizer):
    """Starts every chunk from a zero state: nothing is carried across chunks."""
    return _tbptt(rnn, head, x, targets, k, optimizer, "state_reset")


def tbptt_not_detached(rnn, head, x, targets, k, optimizer):
    """Carries the state without detaching it: the second backward fails."""
    return _tbptt(rnn, head, x, targets, k, optimizer, "not_detached")


def tbptt_no_zero_grad(rnn, head, x, targets, k, optimizer):
    """Never clears the gradients: each step adds the previous chunks' gradients."""
    return _tbptt(rnn, head, x, targets, k, optimizer, "no_zero_grad")


def tbptt_whole_sequence(rnn, head, x, targets, k, optimizer):
    """Ignores k: one backward pass through the whole sequence."""
    out, _ = rnn(x)
    loss = nn.functional.cross_entropy(head(out).flatten(0, 1), targets.flatten())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return [loss.item()]


# --- a2, part E: Jacobian norms -----------------------------------------------

def _jacobians(x, h0, weight_ih, weight_hh, bias, flaw=""):
    hs = [h0]
    for t in range(x.shape[0]):
        hs.append(np.tanh(weight_ih @ x[t] + weight_hh @ hs[-1] + bias))
    J, norms = np.eye(len(h0)), [1.0]
    for t in range(x.shape[0] - 1, -1, -1):
        d = np.diag(1 - hs[t + 1] ** 2)
        if flaw == "no_tanh_derivative":
            step = weight_hh
        elif flaw == "off_by_one":
            step = np.diag(1 - hs[t] ** 2) @ weight_hh
        else:
            step = d @ weight_hh
        J = (step @ J) if flaw == "reversed_product" else (J @ step)
        norms.append(np.linalg.norm(J, "fro") if flaw == "frobenius" else np.linalg.norm(J, 2))
    return np.array(norms[::-1])


jacnorm_no_tanh_derivative = variant(_jacobians, "jacnorm_no_tanh_derivative", flaw="no_tanh_derivative")
jacnorm_reversed_product = variant(_jacobians, "jacnorm_reversed_product", flaw="reversed_product")
jacnorm_frobenius = variant(_jacobians, "jacnorm_frobenius", flaw="frobenius")
jacnorm_off_by_one = variant(_jacobians, "jacnorm_off_by_one", flaw="off_by_one")


def jacnorm_reversed_order(x, h0, weight_ih, weight_hh, bias):
    return _jacobians(x, h0, weight_ih, weight_hh, bias)[::-1].copy()
