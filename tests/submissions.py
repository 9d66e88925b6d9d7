"""Student submissions for the end-to-end grading tests, made from the release.

Each maker takes the released notebook (what students get) and fills it in the
way one kind of student would: all right, half right, broken in some way.
They are built at test time, so they always match the current release.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from autograder.grading.notebooks import nbgrader_meta

SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION\n?", re.M | re.S)
STUB = re.compile(r"^[ \t]*# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)\n?", re.M)


def solution_code(source_nb: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> the source cell with its solution markers removed (the right answer)."""
    return {nbgrader_meta(c)["grade_id"]: SOLUTION.sub(r"\1", c.source)
            for c in source_nb.cells if nbgrader_meta(c).get("solution")}


def fill(release: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of the release with the given cells' sources replaced."""
    nb = nbformat.from_dict(release)
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


WRONG_PARAMS = '''
def rnn_params_from_torch(rnn, head):
    """Copies the weights, but transposes them (a common mistake)."""
    out = {}
    for name, p in rnn.named_parameters():
        key = name.removesuffix("_l0")
        out[key] = p.detach().numpy().astype(np.float64).T
    out["weight_hy"] = head.weight.detach().numpy().astype(np.float64).T
    out["bias_y"] = head.bias.detach().numpy().astype(np.float64)
    return out
'''

NAIVE_XENT = '''
def sequence_cross_entropy(logits, targets):
    """Naive softmax: overflows for large logits."""
    p = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    B, T = targets.shape
    picked = p[np.arange(B)[:, None], np.arange(T)[None, :], targets]
    return float(-np.log(picked).mean())
'''

LOOPING_FORWARD = '''
def rnn_forward(x, h0, params):
    """Never returns."""
    while True:
        pass
'''

KERNEL_KILLER = '''
import os
os._exit(1)
'''

MEMORY_HOG_XENT = '''
def sequence_cross_entropy(logits, targets):
    """Asks for far more memory than the machine has."""
    waste = np.ones((2**20, 2**20))
    return 0.0
'''

ANSWER = "Each step reuses the same weights, so the count, HI + H^2 + 2H + OH + O = 1573, does not depend on T."


def make_all(release_path: Path, source_path: Path) -> dict[str, str | nbformat.NotebookNode]:
    """Every fixture student: a notebook, or raw text for files that are not notebooks."""
    release = nbformat.read(release_path, as_version=4)
    right = solution_code(nbformat.read(source_path, as_version=4))
    code = {k: v for k, v in right.items() if not k.startswith("answer_")}

    noisy = dict(code)
    noisy["rnn_cell_forward"] = (
        "import sys, warnings\n" + code["rnn_cell_forward"].replace(
            '    """One tanh', '    warnings.warn("a harmless warning", UserWarning)\n'
            '    print("debug output on stderr", file=sys.stderr)\n    """One tanh', 1))

    edited = fill(release, {**code, "sequence_cross_entropy": NAIVE_XENT})
    for cell in edited.cells:  # a student who 'fixes' the failing test instead of the code
        if nbgrader_meta(cell).get("grade_id") == "test_sequence_cross_entropy":
            cell.source = "pass"

    deleted = fill(release, code)
    deleted.cells = [c for c in deleted.cells if nbgrader_meta(c).get("grade_id") != "test_rnn_cell_forward"]

    wrong = fill(release, code)
    for cell in wrong.cells:
        meta = nbgrader_meta(cell)
        if "grade_id" in meta:
            meta["grade_id"] = "other_" + meta["grade_id"]

    return {
        "right": fill(release, {**code, "answer_parameter_sharing": ANSWER}),
        "untouched": release,
        "half": fill(release, {**code, "rnn_params_from_torch": WRONG_PARAMS, "sequence_cross_entropy": NAIVE_XENT}),
        "noisy": fill(release, noisy),
        "looping": fill(release, {**code, "rnn_forward": LOOPING_FORWARD}),
        "crashing": fill(release, {**code, "rnn_forward": KERNEL_KILLER + code["rnn_forward"]}),
        "memoryhog": fill(release, {**code, "sequence_cross_entropy": MEMORY_HOG_XENT}),
        "edited": edited,
        "deleted": deleted,
        "wrongnb": wrong,
        "corrupt": '{"cells": [ this is not JSON',
    }


def write_all(folder: Path, release_path: Path, source_path: Path, name: str = "a1_rnn.ipynb") -> None:
    """Write every fixture as folder/<student>/<name>."""
    for student, nb in make_all(release_path, source_path).items():
        target = folder / student / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(nb if isinstance(nb, str) else nbformat.writes(nb))


# --- a2 ---------------------------------------------------------------------------

PER_TENSOR_CLIP = '''
def clip_grad_norm(grads, max_norm):
    """Clips each array by its own norm (a common mistake)."""
    total = float(np.sqrt(sum(float(np.sum(g ** 2)) for g in grads)))
    for g in grads:
        norm = float(np.sqrt(np.sum(g ** 2)))
        if norm > max_norm:
            g *= max_norm / (norm + 1e-6)
    return total
'''

NOT_DETACHED = '''
def tbptt_train(rnn, head, x, targets, k, optimizer):
    """Carries the state without detaching it."""
    losses, state = [], None
    for start in range(0, x.shape[1], k):
        output, state = rnn(x[:, start:start + k], state)
        logits = head(output)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                               targets[:, start:start + k].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
'''


def make_three(release_path: Path, source_path: Path, answers: dict[str, str],
               wrong: dict[str, str], **others: dict[str, str]) -> dict[str, nbformat.NotebookNode]:
    """Three students: all right (with the written `answers`), untouched, and
    half right (the right code with the `wrong` cells swapped in); and one more
    per keyword of `others`, the right code with its cells swapped in."""
    release = nbformat.read(release_path, as_version=4)
    right = solution_code(nbformat.read(source_path, as_version=4))
    code = {k: v for k, v in right.items() if not k.startswith("answer_")}
    return {"right": fill(release, {**code, **answers}), "untouched": release,
            "half": fill(release, {**code, **wrong}),
            **{student: fill(release, {**code, **cells}) for student, cells in others.items()}}


TORCH_GRADIENTS = '''
def rnn_backward(cache):
    """Hands in the given helper's autograd gradients: Part A is NumPy only."""
    return torch_gradients(cache["x"], cache["targets"], cache["h0"], cache["params"])
'''


def make_a2(release_path: Path, source_path: Path) -> dict[str, nbformat.NotebookNode]:
    return make_three(release_path, source_path,
                      {"answer_tiny_rnn": "The L=10 zeros at wh=0.1 are real vanishing..."},
                      {"clip_grad_norm": PER_TENSOR_CLIP, "tbptt_train": NOT_DETACHED},
                      cheat={"rnn_backward": TORCH_GRADIENTS})


# --- a3 ---------------------------------------------------------------------------

RESET_BEFORE = '''
def gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh, reset_after=True):
    """Always applies the reset gate before the product (Cho et al.'s variant)."""
    H = weight_hh.shape[1]
    gi = x @ weight_ih.T + bias_ih
    r = torch.sigmoid(gi[:, :H] + h @ weight_hh[:H].T + bias_hh[:H])
    z = torch.sigmoid(gi[:, H:2 * H] + h @ weight_hh[H:2 * H].T + bias_hh[H:2 * H])
    n = torch.tanh(gi[:, 2 * H:] + (r * h) @ weight_hh[2 * H:].T + bias_hh[2 * H:])
    return (1 - z) * n + z * h
'''

ONE_BIAS_COUNT = '''
def param_count(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True):
    """Counts one bias vector per gate block."""
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind]
    dirs = 2 if bidirectional else 1
    total = 0
    for layer in range(num_layers):
        inputs = input_size if layer == 0 else dirs * hidden_size
        total += dirs * gates * hidden_size * (inputs + hidden_size + bias)
    return total
'''

UNTRAINED = '''
def train_recall_model(seed=0):
    """Builds the RecallNet but never trains it."""
    torch.manual_seed(seed)
    return RecallNet("LSTM", 16).eval()
'''


RULE_IN_DISGUISE = '''
_Given = RecallNet


class RecallNet(_Given):
    """Named like the given class, but its forward reads the answer off the input."""

    def forward(self, x):
        marked = x[..., -1].argmax(dim=1)
        return 10 * x[torch.arange(x.shape[0]), marked, :-1]


def train_recall_model(seed=0):
    """No training: the rule scores 100% on any data the notebook sees."""
    torch.manual_seed(seed)
    return RecallNet("LSTM", 16).eval()
'''

TABLE_FROM_FRAMES = '''
import inspect


def param_count(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True):
    """Looks through the callers for a number that could be the answer."""
    frame = inspect.currentframe().f_back
    while frame is not None:
        for name in ("expected", "want", "answer", "reference"):
            value = frame.f_locals.get(name)
            if isinstance(value, int):
                return value
        frame = frame.f_back
    return 0
'''


def make_a3(release_path: Path, source_path: Path) -> dict[str, nbformat.NotebookNode]:
    return make_three(release_path, source_path,
                      {"answer_counting": "A GRU state is a convex combination..."},
                      {"gru_cell": RESET_BEFORE, "param_count": ONE_BIAS_COUNT, "train_recall_model": UNTRAINED},
                      rule={"train_recall_model": RULE_IN_DISGUISE}, frames={"param_count": TABLE_FROM_FRAMES})


# --- a4 ---------------------------------------------------------------------------

FRESH_MASK_PER_STEP = '''
def locked_dropout(x, p, training=True):
    """Plain dropout: a new mask at every time step (not locked)."""
    if not training or p == 0:
        return x
    mask = (torch.rand_like(x) >= p).to(x.dtype)
    return x * mask / (1 - p)
'''

LN_OVER_BATCH = '''
def ln_lstm_cell(x, state, weight_ih, weight_hh, bias, ln_ih, ln_hh, ln_c, eps=1e-5):
    """Normalizes each pre-activation over the batch instead of over the example."""
    h, c = state

    def norm(a, gamma, beta):
        mean = a.mean(dim=0, keepdim=True)
        var = a.var(dim=0, unbiased=False, keepdim=True)
        return gamma * (a - mean) / torch.sqrt(var + eps) + beta

    pre = norm(x @ weight_ih.T, *ln_ih) + norm(h @ weight_hh.T, *ln_hh) + bias
    i, f, g, o = pre.chunk(4, dim=1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(norm(c_new, *ln_c))
    return h_new, c_new
'''

UNTRAINED_CHAR_MODEL = '''
def train_char_model(seed=0):
    """Builds the CharLM but never trains it."""
    torch.manual_seed(seed)
    return CharLM(len(VOCAB), hidden_size=64).eval()
'''


def make_a4(release_path: Path, source_path: Path) -> dict[str, nbformat.NotebookNode]:
    return make_three(release_path, source_path,
                      {"written_answer": "A fresh mask on h at every step multiplies the noise..."},
                      {"locked_dropout": FRESH_MASK_PER_STEP, "ln_lstm_cell": LN_OVER_BATCH,
                       "train_char_model": UNTRAINED_CHAR_MODEL})
