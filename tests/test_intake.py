"""Finding each student's notebook in folders and LMS zips."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from autograder.grading.intake import find_submissions, student_id, unpack


@pytest.mark.parametrize("name,expected", [
    ("alice", "alice"),
    ("alice_a1_rnn", "alice"),
    ("doejane_12345_67890_a1_rnn", "doejane"),          # Canvas
    ("doejane_LATE_12345_67890_a1_rnn-1", "doejane"),   # Canvas, late, renamed copy
    ("Jane Doe_12345_assignsubmission_file_", "Jane_Doe"),  # Moodle folder
    ("a1_rnn", "a1_rnn"),
    ("../../etc", "etc"),
])
def test_student_id(name, expected):
    assert student_id(name, "a1_rnn") == expected


def _touch(path: Path, text: str = "{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_folder_of_student_folders(tmp_path):
    _touch(tmp_path / "alice" / "a1_rnn.ipynb")
    _touch(tmp_path / "bob" / "work" / "my_copy.ipynb")
    _touch(tmp_path / "carol" / "a1_rnn.ipynb")
    _touch(tmp_path / "carol" / ".ipynb_checkpoints" / "a1_rnn-checkpoint.ipynb")
    _touch(tmp_path / "dave" / "notes.txt")
    _touch(tmp_path / "erin" / "x.ipynb")
    _touch(tmp_path / "erin" / "y.ipynb")
    found = {f.student: f for f in find_submissions(tmp_path, "a1_rnn.ipynb")}
    assert found["alice"].path.name == "a1_rnn.ipynb"
    assert found["bob"].path.name == "my_copy.ipynb"
    assert found["carol"].path == tmp_path / "carol" / "a1_rnn.ipynb"
    assert found["dave"].path is None and "no .ipynb" in found["dave"].problem
    assert found["erin"].path is None and "2 notebooks" in found["erin"].problem


def test_a_folder_with_one_student(tmp_path):
    _touch(tmp_path / "alice" / "a1_rnn.ipynb")
    assert [f.student for f in find_submissions(tmp_path, "a1_rnn.ipynb")] == ["alice"]


def test_loose_notebooks_and_name_collisions(tmp_path):
    _touch(tmp_path / "alice.ipynb")
    _touch(tmp_path / "alice_a1_rnn.ipynb")
    _touch(tmp_path / "bob_111_222_a1_rnn.ipynb")
    _touch(tmp_path / "readme.txt")
    students = sorted(f.student for f in find_submissions(tmp_path, "a1_rnn.ipynb"))
    assert students == ["alice", "alice-2", "bob"]


def test_zip_of_a_folder_is_unpacked_safely(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("submissions/doejane_1_2_a1_rnn.ipynb", "{}")
        zf.writestr("submissions/roe_3_4_a1_rnn.ipynb", "{}")
        zf.writestr("../escaped.ipynb", "{}")
        zf.writestr("__MACOSX/._junk", "")
    out = unpack(archive, tmp_path / "out")
    assert not (tmp_path / "escaped.ipynb").exists()
    students = sorted(f.student for f in find_submissions(out, "a1_rnn.ipynb"))
    assert students == ["doejane", "roe"]



def test_the_released_data_files_and_only_they_reach_the_kernels_folder(tmp_path):
    """A notebook that reads a data file by relative path (a4's play) finds it in
    the scratch folder its kernel starts in; notebooks and hidden files stay out,
    and no name can place a file outside the folder."""
    from autograder.grading import sandbox
    from autograder.grading.workspace import data_files

    release = tmp_path / "release"
    _touch(release / "a4.ipynb")
    _touch(release / "play.txt", "ACT I.")
    _touch(release / "data" / "more.txt", "ACT II.")
    _touch(release / ".ipynb_checkpoints" / "a4-checkpoint.ipynb")
    _touch(release / ".secret")
    files = data_files(release)
    assert files == {"data/more.txt": b"ACT II.", "play.txt": b"ACT I."}
    scratch = tmp_path / "scratch"
    sandbox.prepare_scratch(scratch, files=files)
    assert (scratch / "play.txt").read_text() == "ACT I." and (scratch / "data" / "more.txt").exists()
    with pytest.raises(ValueError, match="outside"):
        sandbox.prepare_scratch(tmp_path / "other", files={"../escaped.txt": b"x"})
    assert not (tmp_path / "escaped.txt").exists()
