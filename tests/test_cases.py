"""The hidden-test cases accept the reference and reject realistic wrong answers."""
from __future__ import annotations

import re
import sys

import nbformat
import numpy as np
import torch
import pytest

from autograder import mistakes as m
from autograder import reference as ref
from autograder.reference import tbptt_train as ref_tbptt
from autograder.cases import CASES, CheckFailure, check, failures
from autograder.compare import compare_array, compare_scalar
from autograder.hiding import TorchHidden, torch_hidden
from autograder.notebooks import HIDDEN, nbgrader_meta, source_notebook
from submissions import TORCH_GRADIENTS, solution_code


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
                       lambda *args: float(m._formula(*args))],  # a float, not an int
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


# --- parts that forbid torch run the student's function with torch hidden --------

def notebook_cells(assignment: str) -> dict[str, str]:
    """grade_id -> source of the assignment's source notebook, solutions unmarked."""
    nb = nbformat.read(source_notebook(assignment), as_version=4)
    cells = {nbgrader_meta(c)["grade_id"]: c.source for c in nb.cells if nbgrader_meta(c).get("grade_id")}
    return {**cells, **solution_code(nb)}


def kernel(assignment: str, *code: str) -> dict:
    """A namespace like the student's kernel: the notebook's given cells (with
    torch, nn and F imported at the top), then `code`, each run in order."""
    cells = notebook_cells(assignment)
    scope = {"__name__": "__main__"}
    for source in [cells[k] for k in ("imports", "given_torch_hidden", "given_forward") if k in cells] + list(code):
        exec(source, scope)
    return scope


AUTOGRAD_BACKWARD = '''
def rnn_backward(cache):
    {imports}
    leaves = {{k: torch.tensor(v, requires_grad=True) for k, v in {{**cache["params"], "h0": cache["h0"]}}.items()}}
    x, h, hs = torch.from_numpy(cache["x"]), leaves["h0"], []
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ leaves["weight_ih"].T + leaves["bias_ih"]
                       + h @ leaves["weight_hh"].T + leaves["bias_hh"])
        hs.append(h)
    ys = torch.stack(hs, dim=1) @ leaves["weight_hy"].T + leaves["bias_y"]
    loss = F.cross_entropy(ys.reshape(-1, ys.shape[-1]), torch.from_numpy(cache["targets"]).reshape(-1))
    return {{k: g.numpy() for k, g in zip(leaves, torch.autograd.grad(loss, list(leaves.values())))}}
'''

CAUGHT = '''
def rnn_backward(cache):
    try:
        return torch_gradients(cache["x"], cache["targets"], cache["h0"], cache["params"])
    except Exception:  # torch hidden: hand in zeros rather than fail
        return {k: np.zeros_like(v) for k, v in {**cache["params"], "h0": cache["h0"]}.items()}
'''

RNN_CELL = '''
def rnn_cell_forward(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    cell = nn.RNNCell(weight_ih.shape[1], weight_hh.shape[0]).double()
    with torch.no_grad():
        for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                               (weight_ih, weight_hh, bias_ih, bias_hh)):
            getattr(cell, name).copy_(torch.from_numpy(value))
        return cell(torch.from_numpy(x_t), torch.from_numpy(h_prev)).numpy()
'''

TORCH_TANH = '''
def rnn_cell_forward(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    a = x_t @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh
    return torch.tanh(torch.from_numpy(a)).numpy()
'''

CROSS_ENTROPY = '''
import torch.nn.functional as F

def sequence_cross_entropy(logits, targets):
    return F.cross_entropy(torch.from_numpy(logits).reshape(-1, logits.shape[-1]),
                           torch.from_numpy(targets).reshape(-1)).item()
'''

JACOBIAN = '''
def jacobian_norms(x, h0, weight_ih, weight_hh, bias):
    def h_T(h, start):
        for t in range(start, len(x)):
            h = torch.tanh(torch.from_numpy(weight_ih @ x[t] + bias) + torch.from_numpy(weight_hh) @ h)
        return h
    hs = [h0]
    for x_t in x:
        hs.append(np.tanh(weight_ih @ x_t + weight_hh @ hs[-1] + bias))
    return np.array([np.linalg.norm(torch.autograd.functional.jacobian(lambda h: h_T(h, t),
                                                                      torch.from_numpy(hs[t])).numpy(), 2)
                     for t in range(len(x))] + [1.0])
'''

CLIP = '''
from torch.nn.utils import clip_grad_norm_

def clip_grad_norm(grads, max_norm):
    holders = [nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for holder, g in zip(holders, grads):
        holder.grad = torch.from_numpy(g)
    return float(clip_grad_norm_(holders, max_norm))
'''

COUNT_BY_MODULE = '''
def param_count(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True):
    module = getattr(nn, kind)(input_size, hidden_size, num_layers=num_layers,
                               bidirectional=bidirectional, bias=bias)
    return sum(p.numel() for p in module.parameters())
'''

COUNT_BY_CELLS = '''
from torch.nn import LSTMCell, GRUCell, RNNCell

def param_count(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True):
    """One cell per layer and direction: the same parameters as the layer."""
    cell = {"RNN": RNNCell, "LSTM": LSTMCell, "GRU": GRUCell}[kind]
    dirs = 2 if bidirectional else 1
    return sum(p.numel() for layer in range(num_layers) for _ in range(dirs)
               for p in cell(input_size if layer == 0 else dirs * hidden_size, hidden_size, bias=bias).parameters())
'''

# (case, assignment, the cheat's code, phrase its message must contain)
CHEATS = [
    ("a2.rnn_backward", "a2_bptt", TORCH_GRADIENTS, "tried to use torch.tensor through torch_gradients"),
    ("a2.rnn_backward", "a2_bptt", AUTOGRAD_BACKWARD.format(imports="import torch\n    import torch.nn.functional as F"),
     "tried to import torch"),
    ("a2.rnn_backward", "a2_bptt", AUTOGRAD_BACKWARD.format(imports=""), "tried to use torch.tensor"),
    ("a2.rnn_backward", "a2_bptt", CAUGHT, "tried to use torch.tensor through torch_gradients"),
    ("a2.jacobian_norms", "a2_bptt", JACOBIAN, "tried to use torch.autograd.functional.jacobian"),
    ("a2.clip_grad_norm", "a2_bptt", CLIP, "tried to use torch.nn.Parameter"),
    ("a1.rnn_cell_forward", "a1_rnn", RNN_CELL, "tried to use torch.nn.RNNCell"),
    ("a1.rnn_cell_forward", "a1_rnn", TORCH_TANH, "tried to use torch.tanh"),
    ("a1.rnn_forward", "a1_rnn", TORCH_TANH + notebook_cells("a1_rnn")["rnn_forward"],
     "tried to use torch.tanh through rnn_cell_forward"),
    ("a1.sequence_cross_entropy", "a1_rnn", CROSS_ENTROPY, "tried to use torch.nn.functional.cross_entropy"),
    ("a3.param_count", "a3_gated", COUNT_BY_MODULE, "tried to use torch.nn.RNN"),
    ("a3.param_count", "a3_gated", COUNT_BY_CELLS, "tried to call torch.nn.RNNCell"),
]


@pytest.mark.parametrize("name,assignment,code,used", CHEATS, ids=[f"{c[0]}-{k}" for k, c in enumerate(CHEATS)])
def test_torch_cannot_earn_the_points_of_a_part_that_hides_it(name, assignment, code, used):
    scope = kernel(assignment, code)
    function = scope[CASES[name].title]
    case, trial = CASES[name], CASES[name].trials()[0]
    if "except Exception" not in code:  # the cheat is right when torch is not hidden
        assert case.compare(case.run(function, trial.make()), case.run(case.reference, trial.make())) is None
    with pytest.raises(CheckFailure) as failed:
        check(name, function)
    message = str(failed.value)
    assert message.startswith(f"{case.title}: {case.hides_torch}, so torch is hidden while {case.title} runs, ")
    assert used in message, message
    assert scope["torch"] is torch and sys.modules["torch"] is torch, "torch is back afterwards"


def test_torch_is_back_after_a_hidden_call():
    scope = kernel("a2_bptt", TORCH_GRADIENTS)
    names = {k: scope[k] for k in ("torch", "nn", "F")}
    failures("a2.rnn_backward", scope["rnn_backward"])
    assert {k: scope[k] for k in names} == names
    assert torch.nn.RNNCell(2, 3)(torch.zeros(1, 2)).shape == (1, 3)  # building and calling modules work
    params = scope["init_params"](np.random.default_rng(0), 2, 3, 2)
    grads = scope["torch_gradients"](np.zeros((1, 2, 2)), np.zeros((1, 2), dtype=int), np.zeros((1, 3)), params)
    assert set(grads) == {*params, "h0"}  # the notebook's helper works again


@pytest.mark.parametrize("name", [n for n, c in sorted(CASES.items()) if c.hides_torch])
def test_a_correct_solution_passes_with_torch_hidden(name):
    """The notebook's own solution, in a kernel where torch, nn and F are bound."""
    assignment = {"a1": "a1_rnn", "a2": "a2_bptt", "a3": "a3_gated"}[name[:2]]
    cells = notebook_cells(assignment)
    needed = ["rnn_cell_forward"] if name == "a1.rnn_forward" else []
    scope = kernel(assignment, *(cells[k] for k in needed + [CASES[name].title]))
    assert failures(name, scope[CASES[name].title]) == []


@pytest.mark.parametrize("reach,name", [
    (lambda real: real.autograd.grad, "torch.autograd.grad"), (lambda real: real.from_numpy, "torch.from_numpy"),
    (lambda real: real.Tensor.backward, "torch.Tensor.backward"), (lambda real: real.lstm_cell, "torch.lstm_cell"),
    (lambda real: real.nn.utils.clip_grad_norm_, "torch.nn.utils.clip_grad_norm_"),
    (lambda real: real.nn.RNNCell, "a torch.nn module"), (lambda real: real.func.grad, "torch.func.grad"),
])
def test_torch_reached_without_a_notebook_name_is_fenced_too(reach, name):
    """A default argument keeps the real module, past the swapped names: its ways in fail."""
    def sneaky(real=torch):
        return reach(real)(2, 3)
    with pytest.raises(TorchHidden) as failed, torch_hidden(sneaky):
        sneaky()
    assert name in failed.value.used


def test_visible_tests_catch_torch_too():
    """The released test cells run the student's function with torch hidden."""
    for assignment, code, part, used in [("a2_bptt", TORCH_GRADIENTS, "test_rnn_backward", "torch.tensor"),
                                          ("a1_rnn", RNN_CELL, "test_rnn_cell_forward", "torch.nn.RNNCell")]:
        scope = kernel(assignment, code)
        with pytest.raises(AssertionError, match=f"this part is NumPy only.*your code used {used}"):
            exec(HIDDEN.sub("", notebook_cells(assignment)[part]), scope)
        assert scope["torch"] is torch and sys.modules["torch"] is torch


def test_a_library_probing_for_torch_is_not_the_students_use():
    """A library's `try: import torch` finds no torch; only the graded code's own import counts."""
    import types
    library = types.ModuleType("library")
    exec("def has_torch():\n    try:\n        import torch\n    except ImportError:\n        return False\n"
         "    return True\n", vars(library))

    def numpy_solution(x):
        return library.has_torch(), np.tanh(x)

    with torch_hidden(numpy_solution):
        assert numpy_solution(0.0) == (False, 0.0)
    assert library.has_torch()
