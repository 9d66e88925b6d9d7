"""Assignment a3: realistic wrong implementations of the graded functions (see `engine.case.Mistake`)."""
from __future__ import annotations

import torch
from torch import nn

from ...engine.case import variant
from .. import reference as ref


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
    return variant(_lstm_step, f"lstm_gate_order_{order}", order=order)


def _lstm_flawed(flaw: str):
    return variant(_lstm_step, "lstm_" + flaw.replace(" ", "_"), flaw=flaw)


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
    return variant(_lstm_layer, "layer_" + flaw.replace(" ", "_"), flaw=flaw)


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
    return variant(_gru_step, "gru_" + (flaw.replace(" ", "_") or f"order_{order}"), order=order, flaw=flaw)


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
    from .calls import RecallNet

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
