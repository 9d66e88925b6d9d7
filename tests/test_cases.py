"""The hidden-test cases accept the reference and reject realistic wrong answers."""
from __future__ import annotations

import re

import numpy as np
import torch
import pytest

from autograder import mistakes as m
from autograder import reference as ref
from autograder.reference import tbptt_train as ref_tbptt
from autograder.cases import CASES, CheckFailure, check, failures
from autograder.compare import compare_array, compare_scalar


def not_implemented(*args):
    raise NotImplementedError()


def returns_none(*args):
    return None


# Mistakes beyond the case table's hint list, still rejected by the check.
EXTRA_MUTANTS = {
    "a1.rnn_cell_forward": [not_implemented, returns_none,
                            lambda x, h, wih, whh, bih, bhh: np.tanh(x @ wih.T + h @ whh.T + bih)],
    "a1.rnn_forward": [not_implemented, returns_none,
                       lambda x, h0, p: m.forward_off_by_one(x, h0, p)[0]],  # forgets to return ys
    "a1.rnn_params_from_torch": [not_implemented, m.params_no_validation],
    "a1.sequence_cross_entropy": [not_implemented, m.xent_naive_softmax,
                                  lambda logits, targets: np.float32(m.xent_naive_softmax(logits, targets))],
    "a2.rnn_backward": [not_implemented, returns_none, m.backward_no_output_path],
    "a2.numerical_gradient": [not_implemented, m.numgrad_not_restored],
    "a2.relative_error": [not_implemented, lambda a, b: float(np.abs(np.asarray(a) - b).max())],
    "a2.clip_grad_norm": [not_implemented, lambda grads, max_norm: None],
    "a2.tbptt_train": [not_implemented, m.tbptt_not_detached,
                       lambda *args: [torch.tensor(v) for v in ref_tbptt(*args)]],  # tensors, not floats
    "a2.jacobian_norms": [not_implemented, lambda x, h0, w_ih, w_hh, b: np.ones(x.shape[0] + 1)],
    "a3.lstm_cell": [not_implemented, returns_none,
                     lambda *args: tuple(t.numpy() for t in ref.lstm_cell(*args)),  # NumPy, not tensors
                     lambda *args: torch.stack(ref.lstm_cell(*args))],  # one tensor, not a tuple
    "a3.lstm_layer": [not_implemented, returns_none,
                      lambda x, *w: ref.lstm_layer(x, *w)[0],  # the output only
                      lambda x, w_ih, w_hh, b_ih, b_hh, state=None: ref.lstm_layer(x, w_ih, w_hh, b_ih, b_hh)],
    "a3.gru_cell": [not_implemented, returns_none,
                    lambda x, h, *w, reset_after=True: ref.gru_cell(x, h, *w, reset_after=True),
                    lambda x, h, *w, reset_after=True: ref.gru_cell(x, h, *w, reset_after=False)],
    "a3.init_lstm_": [not_implemented, returns_none, m.init_ih_untouched],  # returns_none: nothing changed
    "a3.param_count": [not_implemented,
                       lambda kind, i, h, *rest: {"RNN": 1, "LSTM": 4, "GRU": 3}[kind] * h * (i + h + 2),  # 1 layer
                       lambda *args: float(ref.param_count(*args))],  # a float, not an int
    "a3.trained_model": [None, lambda x: ref.recall_oracle(x)[:, :-1],  # only 5 classes
                         lambda x: torch.zeros(x.shape[0], 6),  # untrained: always class 0
                         lambda x: ref.recall_oracle(x).double().numpy()],  # NumPy logits
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_passes(name):
    assert failures(name, CASES[name].reference) == []
    assert check(name, CASES[name].reference) is None


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_part_has_at_least_two_known_mistakes(name):
    assert len(CASES[name].mistakes) >= 2


@pytest.mark.parametrize("name,mistake", [(n, mk) for n, c in sorted(CASES.items()) for mk in c.mistakes],
                         ids=lambda v: getattr(getattr(v, "function", None), "__name__", str(v)))
def test_known_mistake_is_rejected_with_its_hint(name, mistake):
    problems = failures(name, mistake.function)
    assert problems, f"{mistake.function.__name__} passed the hidden test of {name}"
    assert any(mistake.hint in p for p in problems), f"no trial names the mistake: {problems}"
    with pytest.raises(CheckFailure):
        check(name, mistake.function)


@pytest.mark.parametrize("name,mutant", [(n, f) for n, fs in sorted(EXTRA_MUTANTS.items()) for f in fs])
def test_other_wrong_answers_are_rejected(name, mutant):
    with pytest.raises(AssertionError):  # CheckFailure is an AssertionError: nbgrader scores it 0
        check(name, mutant)


def test_unimplemented_part_says_so():
    with pytest.raises(CheckFailure, match="not implemented yet"):
        check("a1.rnn_forward", not_implemented)


def test_overflowing_softmax_gets_the_stability_hint():
    with pytest.raises(CheckFailure, match="log-sum-exp"):
        check("a1.sequence_cross_entropy", m.xent_naive_softmax)


def test_student_cannot_change_the_inputs_of_later_trials():
    def vandal(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
        result = np.tanh(x_t @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh)
        weight_hh[...] = 0.0  # in-place damage to its own copy only
        return result
    assert failures("a1.rnn_cell_forward", vandal) == []


def flatten(value):
    """Every number inside a result: arrays, dicts, tuples and lists of them."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from flatten(item)
    else:
        yield from np.ravel(np.asarray(value, dtype=np.float64))


@pytest.mark.parametrize("name", sorted(CASES))
def test_messages_never_show_expected_values(name):
    case = CASES[name]
    for mk in case.mistakes:
        for trial, message in zip(case.trials(), failures(name, mk.function)):
            values = np.array(list(flatten(case.run(case.reference, trial.make()))))
            for value in values[:20]:
                for text in (f"{value:.3g}", f"{value:.4f}"):
                    if abs(value) > 1e-3 and len(text) > 3:
                        assert text not in message, f"{message!r} shows an expected value {text}"


def test_shape_grid_has_ones_and_odd_sizes():
    from autograder.cases import SHAPES
    assert (1, 1, 1, 1, 1) in SHAPES
    for axis in range(5):
        sizes = {s[axis] for s in SHAPES}
        assert 1 in sizes and any(v % 2 == 1 and v > 1 for v in sizes)


def test_compare_array_names_the_first_differing_step():
    expected = np.zeros((2, 4, 3))
    got = expected.copy()
    got[1, 2, 0] = 1.0
    message = compare_array("hs", got, expected, rtol=1e-7, atol=1e-9, time_axis=1)
    assert "t=3 (index 2) of 4" in message and "earlier steps match" in message


@pytest.mark.parametrize("got,needle", [
    (np.zeros((3, 2)), "shape (3, 2)"),
    (np.zeros((2, 3), dtype=np.float32), "dtype float32"),
    ([[0.0] * 3] * 2, "NumPy array but is a list"),
    (np.full((2, 3), np.nan), "inf or nan"),
])
def test_compare_array_explains_type_shape_dtype_and_nan(got, needle):
    assert needle in compare_array("h", got, np.zeros((2, 3)), rtol=1e-7, atol=1e-9)


def test_compare_scalar():
    assert compare_scalar("loss", 1.0, 1.0, rtol=1e-7, atol=0) is None
    assert "single number" in compare_scalar("loss", np.ones(3), 1.0, rtol=1e-7, atol=0)
    assert "Python float" in compare_scalar("loss", "1.0", 1.0, rtol=1e-7, atol=0)
    assert re.search(r"off by up to 5e\+06 times the tolerance", compare_scalar("loss", 1.5, 1.0, rtol=1e-7, atol=0))


def test_backward_diagnosis_points_at_the_recursion():
    """A backward pass right for one step but not for more is told so."""
    with pytest.raises(CheckFailure, match="right for sequences of one time step"):
        check("a2.rnn_backward", m.backward_no_output_path)
    for mistake in (m.backward_sum_not_mean, m.backward_h0_missing):  # wrong for one step already
        assert "right for sequences of one time step" not in failures("a2.rnn_backward", mistake)[0]


def test_lstm_probes_name_the_wrong_gate():
    """A cell that is wrong in one gate only is told which gate."""
    def tanh_forget_gate(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
        h, c = state
        i, f, g, o = (x @ weight_ih.T + h @ weight_hh.T + bias_ih + bias_hh).chunk(4, dim=1)
        c_new = torch.tanh(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c_new), c_new
    message = failures("a3.lstm_cell", tanh_forget_gate)[0]
    assert "forget gate f differs; input gate i, candidate g, output gate o match" in message


def test_gru_diagnosis_names_the_right_variant():
    message = failures("a3.gru_cell", m.gru_reset_always_before)[0]
    assert "Cho et al.'s (reset_after=False) is right" in message


def test_param_count_cannot_build_a_module():
    with pytest.raises(CheckFailure, match="do not build a module"):
        check("a3.param_count", lambda kind, *args: sum(
            p.numel() for p in getattr(torch.nn, kind)(*args[:2]).parameters()))
    assert torch.nn.LSTM(2, 3) is not None  # the modules are back afterwards


def test_layer_is_checked_with_a_correct_cell():
    """A gate-order slip in lstm_cell costs Part A only: Part B's check swaps in a correct cell."""
    scope = {"torch": torch, "lstm_cell": m.lstm_gate_order("ifog")}
    exec('''
def lstm_layer(x, weight_ih, weight_hh, bias_ih, bias_hh, state=None):
    B, T, _ = x.shape
    H = weight_hh.shape[1]
    h, c = (x.new_zeros(B, H), x.new_zeros(B, H)) if state is None else (state[0][0], state[1][0])
    outputs = []
    for t in range(T):
        h, c = lstm_cell(x[:, t], (h, c), weight_ih, weight_hh, bias_ih, bias_hh)
        outputs.append(h)
    return torch.stack(outputs, dim=1), (h[None], c[None])
''', scope)
    assert failures("a3.lstm_layer", scope["lstm_layer"]) == []
    assert scope["lstm_cell"].__name__ == "lstm_gate_order_ifog"  # put back afterwards
    assert failures("a3.lstm_cell", scope["lstm_cell"])
