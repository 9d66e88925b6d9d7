"""Find each student's notebook in what an instructor hands in.

Accepted: a folder of `<student>/<notebook>.ipynb` folders, a folder of loose
notebooks named by student (`alice.ipynb`, `alice_a1_rnn.ipynb`), or a zip of
either as an LMS exports it (Canvas: `doejane_12345_67890_a1_rnn.ipynb`; Moodle:
`Jane Doe_12345_assignsubmission_file_/a1_rnn.ipynb`).
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

MAX_ZIP_BYTES = 512 * 2**20  # refuse archives that unpack to more than this
_CANVAS_NAME = re.compile(r"^(?:(?!anon_)[^_].*?_)?(?:LATE_)?(?P<id>\d+)_\d+_")
_MOODLE_NAME = re.compile(r"^.*?_(?P<id>\d+)_assignsubmission_")


@dataclass
class Found:
    """One student's entry: the notebook to grade, or why there is none."""

    student: str
    path: Path | None
    problem: str | None = None
    lms: str = ""  # "canvas" or "moodle" when the name is an LMS download's
    lms_id: str = ""  # the Canvas user id, or the Moodle participant id (see `lms_identity`)


def student_id(name: str, notebook_stem: str) -> str:
    """A student id from a file or folder name, without LMS decorations."""
    name = re.sub(r"_assignsubmission_\w*$", "", name)  # Moodle folder suffix
    if name.endswith(notebook_stem) and name != notebook_stem:
        name = name[: -len(notebook_stem)]
    tokens = [t for t in re.split(r"[_\s]+", name.strip("_- ")) if t]
    kept = []
    for token in tokens:  # Canvas and Moodle put numeric ids (and LATE) after the name
        if token.isdigit() or token.upper() == "LATE":
            break
        kept.append(token)
    cleaned = re.sub(r"[^A-Za-z0-9.-]+", "_", "_".join(kept or tokens)).strip("._-")
    return cleaned or "unnamed"


def lms_identity(name: str) -> tuple[str, str] | None:
    """("canvas", Canvas user id) or ("moodle", Moodle participant id) from the
    name of a submission's file (without .ipynb) or folder as the LMS
    downloaded it; None for other names and anonymous Canvas downloads.

    >>> lms_identity("doejane_LATE_12345_67890_a1_rnn")
    ('canvas', '12345')
    >>> lms_identity("Jane Doe_12345_assignsubmission_file_")
    ('moodle', '12345')
    """
    found = _MOODLE_NAME.match(name)
    if found:
        return "moodle", found.group("id")
    found = _CANVAS_NAME.match(name)
    if found and not name.startswith(("anon_", "LATE_anon_")):
        return "canvas", found.group("id")
    return None


def _found(student: str, name: str, path: Path | None, problem: str | None = None) -> Found:
    lms, lms_id = lms_identity(name) or ("", "")
    return Found(student, path, problem, lms, lms_id)


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts and not any(s.startswith(".") for s in p.parts[-2:]))


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX")))


def unpack(archive: Path, into: Path) -> Path:
    """Extract a zip safely (no absolute paths, no `..`, bounded size)."""
    with zipfile.ZipFile(archive) as zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
            raise ValueError(f"{archive.name} unpacks to more than {MAX_ZIP_BYTES >> 20} MiB")
        for member in members:
            target = (into / member.filename).resolve()
            if not target.is_relative_to(into.resolve()):
                continue  # a path that escapes the folder: skip it
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(member))
    return into


def find_submissions(root: Path, notebook_name: str) -> list[Found]:
    """One entry per student found under `root` (a folder)."""
    stem = Path(notebook_name).stem
    entries = _visible(root)
    while len(entries) == 1 and entries[0].is_dir() and not (entries[0] / notebook_name).exists():
        entries = _visible(entries[0])  # a zip of a folder of submissions: look inside
    found: list[Found] = []
    for entry in entries:
        if entry.is_dir():
            student = student_id(entry.name, stem)
            notebooks = _notebooks(entry)
            named = [p for p in notebooks if p.name == notebook_name]
            if len(named) == 1 or len(notebooks) == 1:
                found.append(_found(student, entry.name, (named or notebooks)[0]))
            elif not notebooks:
                found.append(_found(student, entry.name, None, "no .ipynb file in the submission"))
            else:
                found.append(_found(student, entry.name, None,
                                    f"{len(notebooks)} notebooks and none named {notebook_name}"))
        elif entry.suffix == ".ipynb":
            found.append(_found(student_id(entry.stem, stem), entry.stem, entry))
    return _unique(found)


def _unique(found: list[Found]) -> list[Found]:
    """Give students whose names collide distinct ids (alice, alice-2)."""
    seen: dict[str, int] = {}
    for entry in found:
        count = seen.get(entry.student, 0)
        seen[entry.student] = count + 1
        if count:
            entry.student = f"{entry.student}-{count + 1}"
    return found
