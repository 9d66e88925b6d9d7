"""Realistic wrong implementations of the graded functions ("mutants").

Each one is a mistake students make. The case table uses them twice: pytest
shows that the hidden test rejects every one of them, and `check()` compares a
failing student result with them to add a hint ("looks like weight_hh is
transposed"). They reuse the reference with one thing changed, so each differs
from a correct answer in exactly the way its name says. In the parts that hide
torch (`Case.hides_torch`) they are NumPy or plain Python, as a student's code
must be: the tests run them as students, with torch hidden.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import reference as ref


def _variant(step, name: str, **options):
    """`step` with some options fixed: one named wrong implementation."""
    def mistake(*args, **kwargs):
        return step(*args, **kwargs, **options)
    mistake.__name__ = name
    return mistake


# --- a1, part A: one RNN step ------------------------------------------------

def cell_missing_bias_hh(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    return ref.rnn_cell_forward(x_t, h_prev, weight_ih, weight_hh, bias_ih, np.zeros_like(bias_hh))


def cell_transposed_weight_hh(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    return ref.rnn_cell_forward(x_t, h_prev, weight_ih, weight_hh.T, bias_ih, bias_hh)


def cell_sigmoid(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    a = x_t @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh  # (B, H)
    return 1.0 / (1.0 + np.exp(-a))


def cell_no_activation(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    return x_t @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh


def cell_float32(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    return ref.rnn_cell_forward(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh).astype(np.float32)


# --- a1, part B: forward over a sequence -------------------------------------

def forward_off_by_one(x, h0, params):
    """Stores the state before each step: returns h_0..h_{T-1} instead of h_1..h_T."""
    hs, _ = ref.rnn_forward(x, h0, params)
    shifted = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)  # (B, T, H)
    return shifted, shifted @ params["weight_hy"].T + params["bias_y"]


def forward_ignores_h0(x, h0, params):
    return ref.rnn_forward(x, np.zeros_like(h0), params)


def forward_state_not_carried(x, h0, params):
    """Starts every step from h0 instead of the previous state."""
    steps = [ref.rnn_cell_forward(x[:, t], h0, params["weight_ih"], params["weight_hh"],
                                  params["bias_ih"], params["bias_hh"]) for t in range(x.shape[1])]
    hs = np.stack(steps, axis=1)  # (B, T, H)
    return hs, hs @ params["weight_hy"].T + params["bias_y"]


def forward_missing_output_bias(x, h0, params):
    return ref.rnn_forward(x, h0, {**params, "bias_y": np.zeros_like(params["bias_y"])})


def forward_transposed_weight_hh(x, h0, params):
    return ref.rnn_forward(x, h0, {**params, "weight_hh": params["weight_hh"].T})


def forward_sigmoid(x, h0, params):
    hs, h = [], h0
    for t in range(x.shape[1]):
        h = cell_sigmoid(x[:, t], h, params["weight_ih"], params["weight_hh"], params["bias_ih"], params["bias_hh"])
        hs.append(h)
    hs = np.stack(hs, axis=1)  # (B, T, H)
    return hs, hs @ params["weight_hy"].T + params["bias_y"]


# --- a1, part C: parameters from torch.nn.RNN --------------------------------

def params_transposed(rnn: nn.RNN, head: nn.Linear):
    params = ref.rnn_params_from_torch(rnn, head)
    return {k: (v.T.copy() if v.ndim == 2 else v) for k, v in params.items()}


def params_missing_bias_hh(rnn: nn.RNN, head: nn.Linear):
    params = ref.rnn_params_from_torch(rnn, head)
    return {**params, "bias_hh": np.zeros_like(params["bias_hh"])}


def params_float32(rnn: nn.RNN, head: nn.Linear):
    params = ref.rnn_params_from_torch(rnn, head)
    return {k: v.astype(np.float32) for k, v in params.items()}


def params_shared(rnn: nn.RNN, head: nn.Linear):
    """Right values, but for a float64 module the arrays are the module's own memory."""
    params = ref.rnn_params_from_torch(rnn, head)
    own = {"weight_ih": rnn.weight_ih_l0, "weight_hh": rnn.weight_hh_l0, "weight_hy": head.weight}
    return {**params, **{k: np.asarray(t.detach().numpy(), dtype=np.float64) for k, t in own.items()}}


def params_no_validation(rnn: nn.RNN, head: nn.Linear):
    """Converts any RNN, even ones the NumPy forward pass cannot run."""
    state = dict(rnn.named_parameters())
    hidden = rnn.hidden_size
    get = lambda name, size: (state[name].detach().double().numpy() if name in state else np.zeros(size))  # noqa: E731
    return {
        "weight_ih": get("weight_ih_l0", 0), "weight_hh": get("weight_hh_l0", 0),
        "bias_ih": get("bias_ih_l0", hidden), "bias_hh": get("bias_hh_l0", hidden),
        "weight_hy": head.weight.detach().double().numpy(),
        "bias_y": head.bias.detach().double().numpy() if head.bias is not None else np.zeros(head.out_features),
    }


# --- a1, part D: cross-entropy over a sequence --------------------------------

def xent_naive_softmax(logits, targets):
    """exp() of raw logits: overflows to inf/nan for large logits."""
    with np.errstate(all="ignore"):
        p = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)  # (B, T, O)
        picked = np.take_along_axis(p, targets[..., None], axis=-1)
        return float(-np.log(picked).mean())


def xent_sum_not_mean(logits, targets):
    return ref.sequence_cross_entropy(logits, targets) * targets.size


def xent_mean_over_batch_only(logits, targets):
    return ref.sequence_cross_entropy(logits, targets) * targets.shape[1]


def xent_softmax_over_time(logits, targets):
    """Normalizes over the time axis instead of the class axis."""
    logp = np.swapaxes(ref.log_softmax(np.swapaxes(logits, 1, 2)), 1, 2)  # (B, T, O)
    picked = np.take_along_axis(logp, targets[..., None], axis=-1)
    return float(-picked.mean())


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


backward_no_output_path = _variant(_bptt, "backward_no_output_path", flaw="no_output_path")
backward_transposed_weight_hh = _variant(_bptt, "backward_transposed_weight_hh", flaw="transposed_weight_hh")
backward_tanh_prime_of_a = _variant(_bptt, "backward_tanh_prime_of_a", flaw="tanh_prime_of_a")
backward_sum_not_mean = _variant(_bptt, "backward_sum_not_mean", flaw="sum_not_mean")
backward_last_step_only = _variant(_bptt, "backward_last_step_only", flaw="last_step_only")
backward_h0_missing = _variant(_bptt, "backward_h0_missing", flaw="h0_missing")
backward_tanh_of_h = _variant(_bptt, "backward_tanh_of_h", flaw="tanh_of_h")
backward_h0_without_weight = _variant(_bptt, "backward_h0_without_weight", flaw="h0_without_weight")
backward_recursion_transposed = _variant(_bptt, "backward_recursion_transposed", flaw="recursion_transposed")


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


clip_per_tensor = _variant(_clip, "clip_per_tensor", flaw="per_tensor")
clip_returns_clipped_norm = _variant(_clip, "clip_returns_clipped_norm", flaw="returns_clipped_norm")
clip_not_in_place = _variant(_clip, "clip_not_in_place", flaw="not_in_place")
clip_also_scales_up = _variant(_clip, "clip_also_scales_up", flaw="also_scales_up")


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


jacnorm_no_tanh_derivative = _variant(_jacobians, "jacnorm_no_tanh_derivative", flaw="no_tanh_derivative")
jacnorm_reversed_product = _variant(_jacobians, "jacnorm_reversed_product", flaw="reversed_product")
jacnorm_frobenius = _variant(_jacobians, "jacnorm_frobenius", flaw="frobenius")
jacnorm_off_by_one = _variant(_jacobians, "jacnorm_off_by_one", flaw="off_by_one")


def jacnorm_reversed_order(x, h0, weight_ih, weight_hh, bias):
    return _jacobians(x, h0, weight_ih, weight_hh, bias)[::-1].copy()


# --- a3: gated cells -----------------------------------------------------------

def _lstm_step(x, state, weight_ih, weight_hh, bias_ih, bias_hh, order: str = "ifgo", flaw: str = ""):
    """An LSTM step written out by hand, reading the stacked rows in `order`
    (PyTorch's is "ifgo") and with one `flaw`; with neither it is correct."""
    h, c = state  # (B, H) each
    pre = x @ weight_ih.T + h @ weight_hh.T  # (B, 4H)
    if bias_ih is not None:
        pre = pre + (0 if flaw == "no bias_ih" else bias_ih) + (0 if flaw == "no bias_hh" else bias_hh)
    blocks = dict(zip(order, pre.chunk(4, dim=1)))  # gate name -> (B, H)
    i, f, o = (torch.sigmoid(blocks[k]) for k in "ifo")  # (B, H) each
    g = torch.sigmoid(blocks["g"]) if flaw == "sigmoid g" else torch.tanh(blocks["g"])  # (B, H)
    c_new = f * c + i * g  # (B, H)
    if flaw == "sigmoid c":
        c_new = torch.sigmoid(c_new)
    h_new = o * (c_new if flaw == "no tanh c" else torch.tanh(c_new))  # (B, H)
    if flaw == "tanh c_prev":
        h_new = o * torch.tanh(c)
    return (c_new, h_new) if flaw == "swap h c" else (h_new, c_new)


def lstm_gate_order(order: str):
    """An LSTM cell that reads the stacked gate rows in the wrong order."""
    return _variant(_lstm_step, f"lstm_gate_order_{order}", order=order)


def _lstm_flawed(flaw: str):
    return _variant(_lstm_step, "lstm_" + flaw.replace(" ", "_"), flaw=flaw)


lstm_no_bias_hh = _lstm_flawed("no bias_hh")
lstm_no_bias_ih = _lstm_flawed("no bias_ih")
lstm_swap_h_c = _lstm_flawed("swap h c")
lstm_sigmoid_c = _lstm_flawed("sigmoid c")
lstm_no_tanh_c = _lstm_flawed("no tanh c")
lstm_sigmoid_g = _lstm_flawed("sigmoid g")
lstm_tanh_c_prev = _lstm_flawed("tanh c_prev")


def lstm_float32(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    h, c = ref.lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    return h.float(), c.float()


def _lstm_layer(x, weight_ih, weight_hh, bias_ih, bias_hh, state=None, flaw: str = ""):
    """A hand-written one-layer LSTM over x (B, T, I) with one `flaw`."""
    batch, hidden = x.shape[0], weight_hh.shape[1]
    zeros = torch.zeros(batch, hidden, dtype=x.dtype)
    h0, c0 = (zeros, zeros) if state is None or flaw == "ignores state" else (state[0][0], state[1][0])
    h, c, outputs = h0, c0, []
    for t in range(x.shape[1]):
        if flaw == "state not carried":
            h, c = h0, c0
        h, c = _lstm_step(x[:, t], (h, c), weight_ih, weight_hh, bias_ih, bias_hh)  # (B, H) each
        outputs.append(c if flaw == "outputs c" else h)
        if flaw == "c not carried":
            c = c0
    if flaw == "off by one":
        outputs = [h0] + outputs[:-1]
    output = torch.stack(outputs, dim=1)  # (B, T, H)
    if flaw == "no layer axis":
        return output, (h, c)
    h_n, c_n = h.unsqueeze(0), c.unsqueeze(0)  # (1, B, H) each
    return (output, (c_n, h_n)) if flaw == "swap h_n c_n" else (output, (h_n, c_n))


def _layer_flawed(flaw: str):
    return _variant(_lstm_layer, "layer_" + flaw.replace(" ", "_"), flaw=flaw)


layer_ignores_state = _layer_flawed("ignores state")
layer_state_not_carried = _layer_flawed("state not carried")
layer_c_not_carried = _layer_flawed("c not carried")
layer_outputs_c = _layer_flawed("outputs c")
layer_off_by_one = _layer_flawed("off by one")
layer_no_layer_axis = _layer_flawed("no layer axis")
layer_swap_h_n_c_n = _layer_flawed("swap h_n c_n")


def _gru_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh, reset_after=True, order="rzn", flaw=""):
    """A GRU step written out by hand with one `flaw`; correct when flaw is empty."""
    hidden = weight_hh.shape[1]
    b_ih = torch.zeros(3 * hidden, dtype=x.dtype) if bias_ih is None or flaw == "no bias_ih" else bias_ih
    b_hh = torch.zeros(3 * hidden, dtype=x.dtype) if bias_hh is None or flaw == "no bias_hh" else bias_hh
    gi = dict(zip(order, (x @ weight_ih.T + b_ih).chunk(3, dim=1)))  # gate -> (B, H)
    w_hh, bh = dict(zip(order, weight_hh.chunk(3, dim=0))), dict(zip(order, b_hh.chunk(3)))
    r = torch.sigmoid(gi["r"] + h @ w_hh["r"].T + bh["r"])  # (B, H)
    z = torch.sigmoid(gi["z"] + h @ w_hh["z"].T + bh["z"])  # (B, H)
    if flaw == "reset always before":
        reset_after = False
    if flaw == "reset always after":
        reset_after = True
    if flaw == "b_hn outside reset" and reset_after:
        n = torch.tanh(gi["n"] + r * (h @ w_hh["n"].T) + bh["n"])  # (B, H)
    elif reset_after:
        n = torch.tanh(gi["n"] + r * (h @ w_hh["n"].T + bh["n"]))  # (B, H)
    else:
        n = torch.tanh(gi["n"] + (r * h) @ w_hh["n"].T + bh["n"])  # (B, H)
    if flaw == "z swapped":
        return z * n + (1 - z) * h
    return (1 - z) * n + z * h  # (B, H)


def _gru_flawed(flaw: str = "", order: str = "rzn"):
    return _variant(_gru_step, "gru_" + (flaw.replace(" ", "_") or f"order_{order}"), order=order, flaw=flaw)


gru_reset_always_before = _gru_flawed("reset always before")
gru_reset_always_after = _gru_flawed("reset always after")
gru_b_hn_outside_reset = _gru_flawed("b_hn outside reset")
gru_z_swapped = _gru_flawed("z swapped")
gru_no_bias_hh = _gru_flawed("no bias_hh")
gru_no_bias_ih = _gru_flawed("no bias_ih")
gru_order_zrn = _gru_flawed(order="zrn")


def _initializer(flaw: str):
    """The course's LSTM initializer with one `flaw`."""
    def init(lstm):
        hidden = lstm.hidden_size
        with torch.no_grad():
            for name, param in lstm.named_parameters():
                if flaw == "reverse untouched" and name.endswith("_reverse"):
                    continue
                blocks = param.split(hidden, dim=0)
                if name.startswith("weight_hh"):
                    if flaw == "orthogonal whole":
                        nn.init.orthogonal_(param)
                    else:
                        for block in blocks:
                            nn.init.eye_(block) if flaw == "identity" else nn.init.orthogonal_(block)
                elif name.startswith("weight_ih"):
                    if flaw == "glorot whole":
                        nn.init.xavier_uniform_(param)
                    elif flaw == "ih untouched":
                        pass
                    else:
                        for block in blocks:
                            (nn.init.xavier_normal_ if flaw == "glorot normal" else nn.init.xavier_uniform_)(block)
                else:
                    param.zero_()
                    if flaw == "forget bias 1 in both" or name.startswith("bias_ih"):
                        blocks[3 if flaw == "output bias 1" else 1].fill_(0.0 if flaw == "no forget bias" else 1.0)
    init.__name__ = "init_" + flaw.replace(" ", "_")
    return init


init_orthogonal_whole = _initializer("orthogonal whole")
init_identity = _initializer("identity")
init_glorot_whole = _initializer("glorot whole")
init_glorot_normal = _initializer("glorot normal")
init_ih_untouched = _initializer("ih untouched")
init_no_forget_bias = _initializer("no forget bias")
init_forget_bias_in_both = _initializer("forget bias 1 in both")
init_output_bias = _initializer("output bias 1")
init_reverse_untouched = _initializer("reverse untouched")


def _formula(kind, input_size, hidden_size, num_layers, bidirectional, bias, later_input=None, biases=2):
    """The parameter count with one thing changeable: what later layers read, and how many biases."""
    dirs, gates = (2 if bidirectional else 1), ref.GATE_BLOCKS[kind]
    later = dirs * hidden_size if later_input is None else later_input
    return sum(dirs * gates * hidden_size * ((input_size if k == 0 else later) + hidden_size + biases * bias)
               for k in range(num_layers))


def count_one_bias(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True):
    return _formula(kind, input_size, hidden_size, num_layers, bidirectional, bias, biases=1)


def count_first_layer_input_everywhere(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True):
    return _formula(kind, input_size, hidden_size, num_layers, bidirectional, bias, later_input=input_size)


def count_later_layers_read_h(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True):
    return _formula(kind, input_size, hidden_size, num_layers, bidirectional, bias, later_input=hidden_size)


def count_not_bidirectional(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True):
    return _formula(kind, input_size, hidden_size, num_layers, False, bias)


def count_gates_swapped(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True):
    other = {"RNN": "RNN", "LSTM": "GRU", "GRU": "LSTM"}[kind]
    return _formula(other, input_size, hidden_size, num_layers, bidirectional, bias)


class MarkedSymbol(nn.Module):
    """A hand-written rule with no network and no training: reads the marked
    step's symbol off the input (perfect accuracy, and not what Part F asks)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ref.recall_oracle(x)


def _untrained_recall_net() -> nn.Module:
    """A RecallNet as built, never trained."""
    from .sandboxed.a3_gated import RecallNet

    with torch.random.fork_rng():  # importing this module leaves the global RNG alone
        torch.manual_seed(0)
        return RecallNet().eval()


def _resized_recall_net() -> nn.Module:
    """A trained-looking RecallNet whose weights do not fit its settings."""
    net = _untrained_recall_net()
    net.rnn.hidden_size = 12  # the settings say 12, the weights are 48 wide
    return net


recall_rule = MarkedSymbol()
recall_untrained = _untrained_recall_net()
recall_resized = _resized_recall_net()
