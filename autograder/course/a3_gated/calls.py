"""Assignment a3 (gated cells): how each graded part is called."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ...engine.runner.collect import Calls, Swap, Trial
from ..inputs import SHAPES, label, seeded, weights

# The recall task of Part F: which of SYMBOLS symbols stood at the marked step
# of a sequence of SEQ_LEN steps? (inputs: one-hot symbols and a marker channel)
RECALL_SYMBOLS, RECALL_SEQ_LEN = 6, 60


class RecallNet(nn.Module):
    """The model of Part F, given in the notebook: a gated recurrent layer
    (nn.LSTM or nn.GRU, batch-first) read by a linear head at the last step.
    The grader rebuilds it from its settings and weights in its own process."""

    def __init__(self, kind: str = "LSTM", hidden_size: int = 48, num_layers: int = 1):
        super().__init__()
        if kind not in ("LSTM", "GRU"):
            raise ValueError(f"kind must be 'LSTM' or 'GRU', not {kind!r}")
        self.kind = kind
        self.rnn = getattr(nn, kind)(RECALL_SYMBOLS + 1, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, RECALL_SYMBOLS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (n, T, H)
        return self.head(out[:, -1])  # (n, symbols)


SATURATE = 40.0  # a bias this large holds a gate at 0 or 1 to float64 precision


def tensors(rng: np.random.Generator, gates: int, input_size: int, hidden_size: int,
             bias: bool = True) -> tuple:
    """weight_ih (gates*H, I), weight_hh (gates*H, H), bias_ih, bias_hh (gates*H,) as
    float64 tensors, a bit larger than PyTorch's default so that gates differ."""
    rows = gates * hidden_size
    shapes = [(rows, input_size), (rows, hidden_size)] + [(rows,)] * 2
    made = [torch.from_numpy(weights(rng, shape, hidden_size) * 1.5) for shape in shapes]
    return tuple(made) if bias else (made[0], made[1], None, None)


def gate_label(b: int, i: int, h: int, extra: str = "") -> str:
    return label(b, None, i, h, None) + extra


def saturated(bias: torch.Tensor, hidden: int, gates: str, settings: dict[str, float]) -> torch.Tensor:
    """A copy of `bias` with the rows of the named gates pushed to +-SATURATE."""
    bias = bias.clone()
    for gate, sign in settings.items():
        k = gates.index(gate)
        bias[k * hidden:(k + 1) * hidden] += sign * SATURATE
    return bias


LSTM_PROBES = {  # gate under test -> the other gates held at 0 (-1) or 1 (+1)
    "f": {"i": -1, "o": +1},  # c_t = f * c_prev
    "i": {"g": +1, "o": +1},  # with c_prev = 0: c_t = i
    "g": {"i": +1, "o": +1},  # with c_prev = 0: c_t = g
    "o": {"f": +1, "i": -1},  # c_t = c_prev, h_t = o * tanh(c_prev)
}


GATE_NAMES = {"i": "input gate i", "f": "forget gate f", "g": "candidate g", "o": "output gate o",
              "r": "reset gate r", "z": "update gate z", "n": "candidate n"}


def lstm_cell_trials() -> list[Trial]:
    rng = seeded(7301)
    trials = []
    for b, _, i, h, _ in SHAPES:
        x, hc = torch.from_numpy(rng.normal(size=(b, i))), torch.from_numpy(rng.normal(scale=0.7, size=(b, h)))
        c = torch.from_numpy(rng.normal(scale=1.5, size=(b, h)))
        trials.append(Trial(gate_label(b, i, h), (x, (hc, c), *tensors(rng, 4, i, h))))
    x, state = torch.from_numpy(rng.normal(size=(3, 2))), tuple(torch.from_numpy(rng.normal(size=(3, 4))) for _ in "hc")
    trials.append(Trial(gate_label(3, 2, 4, ", bias_ih = bias_hh = None"), (x, state, *tensors(rng, 4, 2, 4, bias=False))))
    for gate, settings in LSTM_PROBES.items():  # last: explain() reads them
        w_ih, w_hh, b_ih, b_hh = tensors(rng, 4, 2, 3)
        x, state = torch.from_numpy(rng.normal(size=(4, 2))), tuple(torch.from_numpy(rng.normal(size=(4, 3))) for _ in "hc")
        if gate in "ig":  # c_prev = 0 takes the forget gate out
            state = (state[0], torch.zeros_like(state[1]))
        held = ", ".join(f"{k}={'1' if v > 0 else '0'}" for k, v in settings.items()) + (
            ", c_prev=0" if gate in "ig" else "")
        trials.append(Trial(f"probe of the {GATE_NAMES[gate]} (gates held at {held})",
                            (x, state, w_ih, w_hh, saturated(b_ih, 3, "ifgo", settings), b_hh)))
    return trials


def lstm_layer_trials() -> list[Trial]:
    rng = seeded(7302)
    trials = []
    for k, (b, t, i, h, _) in enumerate(SHAPES):
        x = torch.from_numpy(rng.normal(size=(b, t, i)))
        state = None if k % 2 else tuple(torch.from_numpy(rng.normal(scale=0.8, size=(1, b, h))) for _ in "hc")
        extra = ", state=None" if state is None else ", state given"
        trials.append(Trial(label(b, t, i, h, None) + extra, (x, *tensors(rng, 4, i, h), state)))
    x = torch.from_numpy(rng.normal(size=(2, 3, 2)))
    state = tuple(torch.from_numpy(rng.normal(size=(1, 2, 3))) for _ in "hc")
    trials.append(Trial(label(2, 3, 2, 3, None) + ", state given, no biases", (x, *tensors(rng, 4, 2, 3, bias=False), state)))
    return trials


GRU_PROBES = {"z": {"n": +1}, "n": {"z": -1}}  # h_t = (1 - z) + z * h_prev; h_t = n


def gru_trials() -> list[Trial]:
    rng = seeded(7303)
    trials = []
    for b, _, i, h, _ in SHAPES[1:] + SHAPES[:1]:  # hidden_size=1 later: there r*(W h) = W (r*h)
        for reset_after in (True, False):
            x, hp = torch.from_numpy(rng.normal(size=(b, i))), torch.from_numpy(rng.normal(scale=0.7, size=(b, h)))
            trials.append(Trial(gate_label(b, i, h, f", reset_after={reset_after}"),
                                (x, hp, *tensors(rng, 3, i, h), reset_after)))
    for reset_after in (True, False):
        x, hp = torch.from_numpy(rng.normal(size=(3, 2))), torch.from_numpy(rng.normal(size=(3, 4)))
        trials.append(Trial(gate_label(3, 2, 4, f", bias_ih = bias_hh = None, reset_after={reset_after}"),
                            (x, hp, *tensors(rng, 3, 2, 4, bias=False), reset_after)))
    for gate, settings in GRU_PROBES.items():
        for reset_after in (True, False):
            w_ih, w_hh, b_ih, b_hh = tensors(rng, 3, 2, 3)
            x, hp = torch.from_numpy(rng.normal(size=(4, 2))), torch.from_numpy(rng.normal(size=(4, 3)))
            held = ", ".join(f"{g}={'1' if v > 0 else '0'}" for g, v in settings.items())
            trials.append(Trial(f"probe of the {GATE_NAMES[gate]} (held: {held}), reset_after={reset_after}",
                                (x, hp, w_ih, w_hh, saturated(b_ih, 3, "rzn", settings), b_hh, reset_after)))
    return trials


def init_trials() -> list[Trial]:
    def build(seed: int, *args, **kwargs) -> Callable[[], tuple]:
        def make() -> tuple:
            torch.manual_seed(seed)
            return (nn.LSTM(*args, **kwargs),)
        return make
    specs = [((3, 5), {}), ((30, 40), {}), ((4, 6), {"num_layers": 2, "bidirectional": True}), ((1, 1), {}),
             ((7, 2), {"batch_first": True})]
    return [Trial(f"nn.LSTM({', '.join(map(str, a))}{''.join(f', {k}={v}' for k, v in kw.items())})",
                  build(7304 + n, *a, **kw)) for n, (a, kw) in enumerate(specs)]


def run_init(function: Callable, args: tuple) -> dict[str, torch.Tensor]:
    """Call the initializer on a fresh module; what counts is the module afterwards."""
    (lstm,) = args
    torch.manual_seed(7399)
    function(lstm)
    return {"hidden_size": lstm.hidden_size, **{n: p.detach().clone().double() for n, p in lstm.named_parameters()}}


def count_trials() -> list[Trial]:
    specs = [("RNN", 1, 1, 1, False, True), ("LSTM", 3, 5, 1, False, True), ("GRU", 3, 5, 1, False, True),
             ("RNN", 7, 4, 2, False, True), ("LSTM", 2, 6, 3, False, True), ("GRU", 5, 3, 2, True, True),
             ("LSTM", 4, 7, 2, True, True), ("RNN", 6, 5, 1, True, False), ("LSTM", 9, 2, 2, False, False),
             ("GRU", 1, 8, 1, False, True)]
    return [Trial(f"{k}(input_size={i}, hidden_size={h}, num_layers={n}, bidirectional={d}, bias={b})",
                  (k, i, h, n, d, b)) for k, i, h, n, d, b in specs]


def model_trials() -> list[Trial]:
    return [Trial("the model train_recall_model() returned", ())]


def run_model(model: Any, args: tuple) -> dict[str, Any]:
    """The trained model's settings and weights, for the grader to rebuild a
    RecallNet and measure it on held-out sequences that never enter the kernel."""
    if model is None:  # the notebook's training cell leaves None when Part F is not done
        raise NotImplementedError("train_recall_model did not return a model")
    rnn = getattr(model, "rnn", None)
    return {
        "class": type(model).__name__,
        "kind": getattr(model, "kind", None),
        "hidden_size": getattr(rnn, "hidden_size", None),
        "num_layers": getattr(rnn, "num_layers", None),
        "state": {str(k): v for k, v in model.state_dict().items()} if isinstance(model, nn.Module) else None,
    }


LSTM_CELL = Swap("lstm_cell", ("x", "state", "weight_ih", "weight_hh", "bias_ih", "bias_hh"))

#: What Parts A to C may not call: they build the cells from tensor operations.
READY_MADE = tuple(f"torch.{name}" for name in ("lstm_cell", "gru_cell", "rnn_tanh_cell", "lstm", "gru", "rnn_tanh",
                                                 "_VF")) + \
    tuple(f"torch.nn.{name}" for name in ("LSTMCell", "LSTM", "GRUCell", "GRU", "RNNCell", "RNN"))
OWN_CELLS = "this part builds the cell from tensor operations, not torch's recurrent functions or modules"

CALLS: dict[str, Calls] = {
    "a3.lstm_cell": Calls("lstm_cell", lstm_cell_trials, blocks=READY_MADE, blocks_why=OWN_CELLS),
    "a3.lstm_layer": Calls("lstm_layer", lstm_layer_trials, swaps=(LSTM_CELL,), blocks=READY_MADE,
                           blocks_why=OWN_CELLS),
    "a3.gru_cell": Calls("gru_cell", gru_trials, blocks=READY_MADE, blocks_why=OWN_CELLS),
    "a3.init_lstm_": Calls("init_lstm_", init_trials, run=run_init),
    "a3.param_count": Calls("param_count", count_trials,
                            hides_torch="the count must come from a formula, not from a module"),
    "a3.trained_model": Calls("model", model_trials, run=run_model),
}
