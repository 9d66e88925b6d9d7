"""Assignment a3 (gated cells): what is right for each graded part."""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from torch import nn

from ...engine.case import Case, Mistake
from ...engine.compare import compare_tensor, describe_type
from ...engine.runner import wire
from ...engine.runner.collect import Trial
from .. import reference as ref
from . import calls as a3_gated
from . import mistakes as m
from .calls import GATE_NAMES, RecallNet

A3_TOL = {"rtol": 1e-6, "atol": 1e-8}  # float64 tensors: "matches torch.nn to 1e-6"




def _compare_pair(got: Any, expected: tuple, names: tuple[str, str], what: str) -> str | None:
    if not isinstance(got, tuple) or len(got) != 2:
        return f"should return a tuple {what} but returned a {describe_type(got)}"
    wrong = [compare_tensor(n, g, e, **A3_TOL) for n, g, e in zip(names, got, expected)]
    if wrong[0] and wrong[1]:
        return f"{wrong[0]}; {names[1]} is wrong too"
    if wrong[0] or wrong[1]:
        return (wrong[0] or wrong[1]) + f"; {names[1] if wrong[0] else names[0]} is right"
    return None


def _compare_lstm_cell(got: Any, expected: tuple) -> str | None:
    return _compare_pair(got, expected, ("the new hidden state h", "the new cell state c"), "(h, c)")


def _explain_probes(passed: list[tuple[Trial, bool]]) -> str | None:
    """Name the gates whose probe fails, when some probes pass."""
    probes = {t.label.split("probe of the ")[1].split(" (")[0]: ok for t, ok in passed if t.label.startswith("probe")}
    wrong, right = [g for g, ok in probes.items() if not ok], [g for g, ok in probes.items() if ok]
    if wrong and right:
        return (f"Probing one gate at a time (the other gates held at 0 or 1 by large biases): "
                f"{', '.join(wrong)} differ{'s' if len(wrong) == 1 else ''}; {', '.join(right)} "
                f"match{'es' if len(right) == 1 else ''}")
    return None


def _compare_lstm_layer(got: Any, expected: tuple) -> str | None:
    if not isinstance(got, tuple) or len(got) != 2 or not isinstance(got[1], tuple) or len(got[1]) != 2:
        return f"should return (output, (h_n, c_n)) but returned a {describe_type(got)} of another form"
    return (compare_tensor("the output", got[0], expected[0], time_axis=1, **A3_TOL)
            or _compare_pair(got[1], expected[1], ("h_n", "c_n"), "(h_n, c_n)"))


def _explain_gru(passed: list[tuple[Trial, bool]]) -> str | None:
    """Which variant fails, and which probed gate."""
    notes = []
    for flag, name in (("True", "PyTorch's variant (reset_after=True)"), ("False", "Cho et al.'s (reset_after=False)")):
        results = [ok for t, ok in passed if t.label.endswith(f"reset_after={flag}") or f"reset_after={flag}," in t.label]
        if results and all(results):
            notes.append(f"{name} is right")
    probes = _explain_probes([(t, ok) for t, ok in passed])
    return "; ".join(notes + ([probes] if probes else [])) or None


def _compare_gru(got: Any, expected: torch.Tensor) -> str | None:
    return compare_tensor("the new hidden state h", got, expected, **A3_TOL)


# Part D is graded on properties, so its messages carry the hints themselves.
ORTHO_TOL, BIAS_TOL = 1e-5, 1e-6


def _untouched(name: str, param: torch.Tensor, hidden: int) -> str | None:
    """PyTorch's default U(-1/sqrt(H), 1/sqrt(H)) left in place?"""
    if float(param.abs().max()) <= hidden ** -0.5 and param.numel() >= 16:
        return (f"{name} looks untouched (PyTorch's default initialization): initialize every layer "
                f"and direction, including the _reverse parameters of a bidirectional LSTM")
    return None


def _check_orthogonal(name: str, blocks: tuple, hidden: int) -> str | None:
    for gate, q in zip(ref.LSTM_GATES, blocks):
        off = float((q.T @ q - torch.eye(hidden, dtype=q.dtype)).abs().max())
        if off > ORTHO_TOL:
            return (f"{name}: the {GATE_NAMES[gate]} block is not orthogonal (Q^T Q differs from the identity "
                    f"by up to {off:.2g}); apply nn.init.orthogonal_ to each (H, H) block, not to the whole matrix")
    if hidden > 1 and any(torch.allclose(q, torch.eye(hidden, dtype=q.dtype)) for q in blocks):
        return f"{name}: a block is the identity matrix: draw random orthogonal blocks (nn.init.orthogonal_)"
    if hidden > 1 and any(torch.equal(a, b) for k, a in enumerate(blocks) for b in blocks[k + 1:]):
        return f"{name}: two gate blocks are identical: draw a random orthogonal matrix for each block"
    return None


def _check_glorot(name: str, blocks: tuple, hidden: int) -> str | None:
    fan_in = blocks[0].shape[1]
    bound = ref.glorot_bound(fan_in, hidden)
    for gate, w in zip(ref.LSTM_GATES, blocks):
        largest = float(w.abs().max())
        spread = float(w.std()) if w.numel() > 1 else 0.0
        expected_spread = bound / np.sqrt(3.0)
        if largest > bound * (1 + 1e-6) or (w.numel() >= 200 and (
                largest < 0.9 * bound or abs(spread / expected_spread - 1) > 0.15)):
            return (f"{name}: the {GATE_NAMES[gate]} block does not look Glorot-uniform for a ({hidden}, {fan_in}) "
                    f"block: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) = sqrt(6 / ({fan_in} + {hidden})); "
                    f"its largest |w| is {largest / bound:.2f} a and its standard deviation "
                    f"{spread / expected_spread:.2f} times a / sqrt(3). Is nn.init.xavier_uniform_ applied to "
                    f"each block rather than the whole matrix?")
    return None


def _check_biases(got: dict, suffix: str, hidden: int) -> str | None:
    total = got["bias_ih" + suffix] + got["bias_hh" + suffix]  # (4H,): only the sum matters
    for gate, block in zip(ref.LSTM_GATES, total.split(hidden)):
        want = 1.0 if gate == "f" else 0.0
        if float((block - want).abs().max()) > BIAS_TOL:
            value = float(block.mean())
            if gate == "f" and abs(value - 2.0) < BIAS_TOL:
                return (f"bias_ih{suffix} + bias_hh{suffix} is 2 on the forget-gate rows: the two biases are "
                        f"added, so set the forget bias to 1 in only one of them")
            return (f"bias_ih{suffix} + bias_hh{suffix} should be 1 on the forget-gate rows (H:2H) and 0 "
                    f"elsewhere, but the {GATE_NAMES[gate]} rows are not {want:g}")
    return None


def _compare_init(got: Any, expected: dict) -> str | None:
    same_form = isinstance(got, dict) and set(got) == set(expected) \
        and got["hidden_size"] == expected["hidden_size"] \
        and all(isinstance(got[k], torch.Tensor) and got[k].shape == v.shape
                for k, v in expected.items() if k != "hidden_size")
    if not same_form:  # (and no work on sizes the grader did not choose)
        return ("the LSTM's parameters changed names or shapes: initialize the given tensors in place "
                "(under torch.no_grad(), with nn.init functions or .copy_/.fill_)")
    hidden = got["hidden_size"]
    for name, param in got.items():
        if name == "hidden_size" or name.startswith("bias"):
            continue
        blocks = param.split(hidden, dim=0)
        check_blocks = _check_orthogonal if name.startswith("weight_hh") else _check_glorot
        message = check_blocks(name, blocks, hidden)
        if message and name.startswith("weight_hh"):
            message = _untouched(name, param, hidden) or message
        if message:
            return message
    for name in got:
        if name.startswith("bias_ih"):
            message = _check_biases(got, name[len("bias_ih"):], hidden)
            if message:
                return message
    return None


def _compare_count(got: Any, expected: int) -> str | None:
    if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
        return f"should return an int but returned a {describe_type(got)}"
    if int(got) != expected:
        return f"the count is too {'large' if got > expected else 'small'}"
    return None


RECALL_TARGET = 0.95
MAX_HIDDEN, MAX_LAYERS = 256, 2  # larger RecallNets are not rebuilt: the grader measures each one itself


def _held_out() -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out sequences of Part F and their targets: made here, from a
    seed in no notebook, and never sent to the student's kernel."""
    return ref.recall_batch(2000, torch.Generator().manual_seed(730_517))


def rebuild_recall_net(got: Any) -> RecallNet | str:
    """The RecallNet described by what the kernel sent (settings and weights),
    or a message saying why it cannot be rebuilt."""
    if not isinstance(got, dict) or got.get("class") != "RecallNet":
        name = got.get("class") if isinstance(got, dict) else describe_type(got)
        return (f"the model should be the RecallNet that train_recall_model trained (the class given in "
                f"the notebook), not a {name}")
    kind, hidden, layers, state = (got.get(k) for k in ("kind", "hidden_size", "num_layers", "state"))
    if kind not in ("LSTM", "GRU") or type(hidden) is not int or type(layers) is not int \
            or not (1 <= hidden <= MAX_HIDDEN and 1 <= layers <= MAX_LAYERS):
        return (f"the RecallNet's settings are not usable: kind 'LSTM' or 'GRU', hidden_size from 1 to "
                f"{MAX_HIDDEN}, num_layers from 1 to {MAX_LAYERS}")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return "the RecallNet's weights did not come back as tensors"
    with torch.random.fork_rng():  # the random initial weights are overwritten: leave the global RNG alone
        torch.manual_seed(0)
        net = RecallNet(kind, hidden, layers)
    try:
        net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except (RuntimeError, KeyError, TypeError):
        return (f"the weights do not fit a RecallNet({kind!r}, {hidden}, {layers}): "
                f"return the RecallNet you trained, unchanged")
    return net.eval()


def held_out_recall_accuracy(model: nn.Module) -> float:
    """Accuracy on Part F's held-out sequences of a trained model, measured as
    grading measures it (rebuilt from its settings and weights): what
    tests/test_training_parts.py measures the reference by."""
    (sent,) = wire.unpack(*wire.pack([a3_gated.run_model(model, ())]))
    net = rebuild_recall_net(sent)
    if isinstance(net, str):
        raise ValueError(net)
    x, y = _held_out()
    return ref.accuracy(net, x, y)


def _compare_recall(got: Any, expected: Any) -> str | None:
    net = rebuild_recall_net(got)
    if isinstance(net, str):
        return net
    x, y = _held_out()
    acc = ref.accuracy(net, x, y)
    if acc < RECALL_TARGET:
        return (f"the accuracy on held-out sequences is {acc:.3f}; this part needs {RECALL_TARGET} "
                f"(chance is {1 / a3_gated.RECALL_SYMBOLS:.3f})")
    return None


def _layer_chain(args: tuple) -> list[tuple[tuple, Any]]:
    """The lstm_cell calls a correct lstm_layer makes, with their results."""
    x, weight_ih, weight_hh, bias_ih, bias_hh, state = args
    batch, hidden = x.shape[0], weight_hh.shape[1]
    if state is None:
        h, c = (torch.zeros(batch, hidden, dtype=x.dtype) for _ in "hc")
    else:
        h, c = state[0][0], state[1][0]
    calls = []
    for t in range(x.shape[1]):
        step = (x[:, t], (h, c), weight_ih, weight_hh, bias_ih, bias_hh)
        h, c = ref.lstm_cell(*step)
        calls.append((step, (h, c)))
    return calls


CASES: dict[str, Case] = {
    "a3.lstm_cell": Case(
        title="lstm_cell",
        reference=ref.lstm_cell,
        compare=_compare_lstm_cell,
        explain=_explain_probes,
        mistakes=(
            Mistake(m.lstm_swap_h_c, "h and c look swapped: return (h, c)"),
            Mistake(m.lstm_no_bias_hh, "the result matches a cell without bias_hh: add both biases"),
            Mistake(m.lstm_no_bias_ih, "the result matches a cell without bias_ih: add both biases"),
            Mistake(m.lstm_sigmoid_c, "the cell state looks squashed by a sigmoid: "
                    "c_t = f * c_prev + i * g, with no activation around it"),
            Mistake(m.lstm_no_tanh_c, "h matches o * c_t: apply tanh to the cell state, h = o * tanh(c_t)"),
            Mistake(m.lstm_sigmoid_g, "the candidate g looks like a sigmoid: g uses tanh, the gates i, f, o "
                    "the sigmoid"),
            Mistake(m.lstm_tanh_c_prev, "h seems to use the previous cell state: h = o * tanh(c_t), "
                    "with the new c_t"),
            Mistake(m.lstm_float32, "the result is float32: keep the inputs' float64 precision"),
            *(Mistake(m.lstm_gate_order(order), f"gate order: the result matches the stacked rows read as "
                      f"{', '.join(order)}; PyTorch stacks i, f, g, o (rows 0:H, H:2H, 2H:3H, 3H:4H)")
              for order in sorted({"".join(p) for p in itertools.permutations("ifgo")} - {"ifgo"})),
        ),
    ),
    "a3.lstm_layer": Case(
        title="lstm_layer",
        reference=ref.lstm_layer,
        compare=_compare_lstm_layer,
        chain=_layer_chain,
        mistakes=(
            Mistake(m.layer_ignores_state, "the result matches a layer that starts from zeros: "
                    "start from the given state (h_0, c_0) when it is not None"),
            Mistake(m.layer_state_not_carried, "every step seems to start from the initial state: "
                    "carry (h, c) from one step to the next"),
            Mistake(m.layer_c_not_carried, "the cell state seems to restart at every step: carry c as well as h"),
            Mistake(m.layer_outputs_c, "the output holds the cell states: output[:, t] is the hidden state h"),
            Mistake(m.layer_off_by_one, "the output looks shifted by one step: it holds h_1..h_T, "
                    "the state after each step"),
            Mistake(m.layer_no_layer_axis, "h_n and c_n have shape (num_layers, B, H) = (1, B, H), "
                    "as in torch.nn.LSTM"),
            Mistake(m.layer_swap_h_n_c_n, "h_n and c_n look swapped: return (output, (h_n, c_n))"),
        ),
    ),
    "a3.gru_cell": Case(
        title="gru_cell",
        reference=ref.gru_cell,
        compare=_compare_gru,
        explain=_explain_gru,
        mistakes=(
            Mistake(m.gru_reset_always_before, "with reset_after=True the result matches the reset gate applied "
                    "to h before the product: torch.nn.GRUCell computes r * (W_hn h + b_hn)"),
            Mistake(m.gru_reset_always_after, "with reset_after=False the result matches PyTorch's variant: "
                    "in Cho et al.'s, r multiplies h before the product, W_hn (r * h) + b_hn"),
            Mistake(m.gru_b_hn_outside_reset, "b_hn seems added outside the reset product: "
                    "PyTorch computes r * (W_hn h + b_hn)"),
            Mistake(m.gru_z_swapped, "the update looks reversed: h = (1 - z) * n + z * h_prev, "
                    "so z = 1 keeps the old state"),
            Mistake(m.gru_no_bias_hh, "the result matches a cell without bias_hh: add both biases"),
            Mistake(m.gru_no_bias_ih, "the result matches a cell without bias_ih: add both biases"),
            Mistake(m.gru_order_zrn, "gate order: the result matches rows read as z, r, n; "
                    "PyTorch stacks r, z, n"),
        ),
    ),
    "a3.init_lstm_": Case(
        title="init_lstm_",
        reference=ref.init_lstm_,
        compare=_compare_init,
        by_properties=True,
        mistakes=(
            Mistake(m.init_orthogonal_whole, "not to the whole matrix"),
            Mistake(m.init_identity, "a block is the identity matrix"),
            Mistake(m.init_glorot_whole, "applied to each block rather than the whole matrix"),
            Mistake(m.init_glorot_normal, "does not look Glorot-uniform"),
            Mistake(m.init_no_forget_bias, "the forget gate f rows are not 1"),
            Mistake(m.init_forget_bias_in_both, "set the forget bias to 1 in only one of them"),
            Mistake(m.init_output_bias, "the forget gate f rows are not 1"),
            Mistake(m.init_reverse_untouched, "including the _reverse parameters"),
        ),
    ),
    "a3.param_count": Case(
        title="param_count",
        reference=ref.param_count,
        compare=_compare_count,
        mistakes=(
            Mistake(m.count_one_bias, "the count matches one bias vector per gate: PyTorch keeps two, "
                    "bias_ih and bias_hh"),
            Mistake(m.count_first_layer_input_everywhere, "layers after the first read the previous layer's "
                    "output, of size H (2H when bidirectional), not the input"),
            Mistake(m.count_not_bidirectional, "a bidirectional layer has a second set of weights, "
                    "one per direction"),
            Mistake(m.count_later_layers_read_h, "after a bidirectional layer, the next layer reads both "
                    "directions' outputs: input size 2H, not H"),
            Mistake(m.count_gates_swapped, "the LSTM has 4 gate blocks (i, f, g, o) and the GRU 3 (r, z, n)"),
        ),
    ),
    "a3.trained_model": Case(
        title="the trained model",
        reference=None,
        compare=_compare_recall,
        by_properties=True,
        mistakes=(
            Mistake(m.recall_untrained, "this part needs 0.95"),
            Mistake(m.recall_rule, "the model should be the RecallNet that train_recall_model trained"),
            Mistake(m.recall_resized, "the weights do not fit a RecallNet"),
        ),
    ),
}
