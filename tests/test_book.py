"""The book builds with warnings as errors, and every chapter executes."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
import yaml
from conftest import Job, background, temporary_folder

pytestmark = pytest.mark.slow

BACKGROUND_ORDER = 0  # the longest job of `make test`: started first
#: Where the background build writes (set when the job is made).
OUTPUT: list[Path] = []


def toc_files(root: Path) -> list[str]:
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def background_jobs(root: Path, items: list) -> list[Job]:
    """`jupyter-book build` into a fresh folder, started when collection ends, so
    that the grading tests run beside it on the second core."""
    out = temporary_folder("rnn-course-book-")
    OUTPUT[:] = [out]
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    env.pop("MPLBACKEND", None)  # a non-inline backend would silently drop every plot
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(root),
               "--path-output", str(out), "-W", "-n", "--keep-going"]
    return [Job("book build", command, env, 1800)]


@pytest.fixture(scope="module")
def built(figures) -> Path:
    code, out, err = background("book build")
    assert code == 0, (out + err)[-6000:]
    figures.extend(execution_times(OUTPUT[0] / "_build" / ".jupyter_cache"))
    return OUTPUT[0] / "_build" / "html"


def execution_times(cache_path: Path) -> list[str]:
    """Benchmark figures (not asserted): seconds each chapter took to execute in the build."""
    from jupyter_cache import get_cache

    lines = []
    for record in get_cache(str(cache_path)).list_cache_records():
        seconds = record.data.get("execution_seconds")
        lines.append(f"book build executed {Path(record.uri).name}: {seconds:.1f} s" if seconds
                     else f"book build executed {record.uri}")
    return lines


def test_every_toc_page_is_built(root, built):
    for name in toc_files(root):
        assert (built / f"{name}.html").exists(), f"{name} was not built"


def test_chapters_are_executed_with_figures(root, built):
    for chapter in sorted((root / "chapters").glob("*.md")):
        page = (built / "chapters" / f"{chapter.stem}.html").read_text()
        assert 'class="cell_output' in page, f"{chapter.name} shows no executed output"
        assert re.search(r'<img[^>]+src="[^"]+\.png"', page), f"{chapter.name} shows no plot made by its code"
        assert "Traceback (most recent call last)" not in page and "output traceback" not in page, chapter


def test_exercises_are_shown_unexecuted_with_a_download(root, built):
    for notebook in sorted((root / "exercises").rglob("*.ipynb")):
        page = (built / notebook.relative_to(root).with_suffix(".html")).read_text()
        assert "NotImplementedError" in page
        assert 'class="cell_output' not in page, f"{notebook.name} was executed"
        assert "download" in page.lower()


def test_intro_has_the_notation_table(built):
    page = (built / "intro.html").read_text()
    assert "weight_ih" in page and "hidden_size" in page
