"""The autograder's layers and what each may import.

engine (the machinery) <- course (the assignments) <- grading (intake to reports):
each layer imports only the layers before it, so there is no import cycle,
and adding an assignment adds a folder to `course/` without touching the rest.
"""
from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "autograder"
LAYERS = ["engine", "course", "grading"]  # each may import only those before it


def own_imports(path: Path) -> set[str]:
    """The autograder modules that `path` imports, as dotted names from the package ("engine.judge")."""
    module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1] if node.level > 1 else base
                if node.module is None:  # from .. import course
                    found |= {".".join([*base, alias.name]) for alias in node.names}
                    continue
                found.add(".".join([*base, *node.module.split(".")]))
            elif (node.module or "").startswith("autograder"):
                found.add(node.module.removeprefix("autograder").lstrip("."))
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("autograder.") for a in node.names if a.name.startswith("autograder")}
    return found


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_layer_imports_only_the_layers_before_it(path):
    relative = path.relative_to(PACKAGE).parts
    if len(relative) == 1:  # autograder/__init__.py, __main__.py
        return
    layer = LAYERS.index(relative[0])
    for name in own_imports(path):
        top = name.split(".")[0]
        assert top in LAYERS and LAYERS.index(top) <= layer, f"{path.relative_to(PACKAGE)} imports {name}"


def test_the_runner_needs_nothing_outside_what_the_sandbox_holds():
    """The kernel-side package holds the runner, the input generators and one
    assignment's calls: they import nothing else of ours."""
    from autograder.grading.sandbox import KERNEL_FILES

    allowed = {name.removesuffix(".py").replace("/", ".") for name in KERNEL_FILES} | {"engine.runner"}
    kernel_side = [PACKAGE / name for name in KERNEL_FILES] + sorted(PACKAGE.glob("course/a*_*/calls.py"))
    assert len(kernel_side) >= 7
    for path in kernel_side:
        for name in own_imports(path):
            assert name in allowed, f"{path.relative_to(PACKAGE)} imports {name}"


def test_reference_code_is_pure():
    """DESIGN.md: the reference uses NumPy and PyTorch only, no nbgrader, no I/O."""
    for path in sorted((PACKAGE / "course/reference").glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                     and not n.level}
        assert imported <= {"numpy", "torch", "__future__"}, (path.name, imported)
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not calls & {"open", "print", "input"}, (path.name, calls & {"open", "print", "input"})


def test_every_assignment_folder_is_found_and_complete():
    from autograder import course

    folders = sorted(p.name for p in (PACKAGE / "course").iterdir() if p.is_dir() and p.name[:1] == "a")
    assert sorted(course.assignments().values()) == folders
    for prefix, folder in course.assignments().items():
        names = course.part_names(folder)
        assert names and all(name.startswith(prefix + ".") for name in names)
        calls = importlib.import_module(f"autograder.course.{folder}.calls")
        assert set(calls.CALLS) == set(names), folder


def test_the_coordinator_does_not_import_torch():
    """Workers import torch; the coordinator, which starts them, does not (it starts them sooner)."""
    import subprocess

    code = ("import sys; from autograder.grading import cli, workspace, exports, reports, cluster; "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stdout + done.stderr
