"""The sandbox a student's kernel runs in: bubblewrap (`bwrap`), with limits.

Inside, the kernel sees a read-only system (/usr, /etc and this Python
environment), its own empty /tmp (a folder of its scratch folder), a fresh
/proc and /dev, the grader's
kernel-side package (`autograder/engine/runner/` and one assignment's calls: no answers)
read-only at /opt/grader, and one writable folder: its scratch folder. It does
not see `solutions/`, the grading workspace (other students, the gradebook,
the reports), the rest of the `autograder` package, the home folders, or the
instructor's environment variables (the environment is cleared). It has no
network (a new network namespace with only a loopback), its own process
namespace (nothing outside is visible; when the kernel is stopped, every
process it started dies with the namespace), runs as an unprivileged user
(`nobody`, uid 65534) with no capabilities, and under limits on memory,
processes, open files, file size and CPU time.

bwrap is Debian's `bubblewrap` package. Run as root, it needs no user
namespaces; as another user, it needs unprivileged user namespaces (the
default on Debian and Ubuntu). In a Docker container it needs
`--cap-add SYS_ADMIN --security-opt seccomp=unconfined` (and, on hosts with
AppArmor, `--security-opt apparmor=unconfined`).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534
GRADER_DIR = "/opt/grader"  # where the kernel-side package is mounted
KERNEL_PACKAGE = "grader"  # the package's name in the kernel (not "autograder": that name is not importable there)
#: What the kernel may see of `autograder`: the untrusted runner and the course's
#: input generators (+ the graded assignment's calls.py). Every __init__.py is empty there.
KERNEL_FILES = ("engine/runner/collect.py", "engine/runner/wire.py", "engine/runner/hiding.py", "course/inputs.py")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one student's kernel and everything it starts."""

    memory_gib: float = 4.0  # address space per process
    processes: int = 256  # processes of the sandbox user (RLIMIT_NPROC)
    open_files: int = 1024
    file_mib: int = 256  # largest file it may write
    cpu_seconds: int = 1800  # CPU time per process

    def prlimit(self) -> list[str]:
        memory = int(self.memory_gib * 2**30)
        return ["prlimit", f"--as={memory}", f"--nproc={self.processes}", f"--nofile={self.open_files}",
                f"--fsize={self.file_mib * 2**20}", f"--cpu={self.cpu_seconds}", "--"]


def available() -> str | None:
    """None if the sandbox works here, else why not (in words)."""
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    for tool in ("prlimit", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed"
    try:
        done = subprocess.run([*_bwrap_base(), "--", "/bin/true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not start: {error}"
    if done.returncode != 0:
        return ("bwrap cannot create its namespaces here: " + done.stderr.strip()[:300] +
                " (in a container: --cap-add SYS_ADMIN --security-opt seccomp=unconfined)")
    return None


def _python_paths() -> list[Path]:
    """The folders this Python needs: its environment and its installation."""
    paths = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent.parent}
    system = [Path("/usr"), Path("/etc")]
    return sorted(p for p in paths if not any(p == s or s in p.parents for s in system))


def _parents_755(path: Path) -> list[str]:
    """bwrap makes the parent folders of a mount point private (0700) unless told."""
    args: list[str] = []
    for parent in reversed(path.parents):
        if str(parent) != "/":
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


def _bwrap_base() -> list[str]:
    args = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "grading",
            "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
            "--proc", "/proc", "--dev", "/dev"]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/", link)
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), f"/{link}"]
        elif target.is_dir():
            args += ["--ro-bind", str(target), f"/{link}"]
    if os.geteuid() != 0:
        args += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    return args


def kernel_package(target: Path, assignment: str) -> Path:
    """Copy the kernel-side package into `target`/grader: the runner, the
    input generators and one assignment's calls.py, in the same tree as in
    `autograder` (their relative imports hold), with empty __init__.py files
    (the real ones may import trusted code). Returns `target`."""
    source = Path(__file__).resolve().parents[1]  # autograder/
    package = target / KERNEL_PACKAGE
    if package.exists():
        shutil.rmtree(package)
    for name in (*KERNEL_FILES, f"course/{assignment}/calls.py"):
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / name, package / name)
    for folder in [package, *(p for p in package.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").write_text("")
    for path in (target, *package.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def remove(folder: Path) -> None:
    """Delete a folder a sandbox wrote, however deep (shutil.rmtree recurses and
    gives up past Python's recursion limit); never follows its links."""
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():
        # a folder the student made unreadable or unwritable (their own, when the
        # grader is not root) is made deletable first; links are not followed
        subprocess.run(["find", str(folder), "-xdev", "-type", "d", "-exec", "chmod", "u+rwx", "{}", "+"],
                       check=False, capture_output=True)
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(folder)], check=False)


MAX_BASE = 60  # characters: a kernel's sockets live in its scratch folder, and a socket's path has at most 107


def scratch_base(preferred: Path) -> Path:
    """A fresh folder for one grading worker's scratch folders, which its
    caller owns and removes: in `preferred`, or in the system's temporary
    folder when that path is too long to hold the kernels' sockets."""
    if len(str(preferred.resolve())) > MAX_BASE:
        return Path(tempfile.mkdtemp(prefix="rnn-grading-"))
    preferred.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="w", dir=preferred))


def prepare_scratch(scratch: Path, uid: int = NOBODY, files: dict[str, bytes] | None = None) -> None:
    """A fresh folder that the sandbox user `uid` owns, holding nothing but
    `files` (relative path -> content: the data files released beside the
    notebook, which the student's code reads by relative path)."""
    remove(scratch)
    (scratch / ".tmp").mkdir(parents=True)
    for name, content in (files or {}).items():
        target = scratch / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            raise ValueError(f"the released file {name!r} would land outside the scratch folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    if os.geteuid() == 0:
        for path in [scratch, *scratch.rglob("*")]:
            os.chown(path, uid, uid)
    scratch.chmod(0o700 if os.geteuid() == 0 else 0o755)


def kernel_command(scratch: Path, package: Path, limits: Limits, sandbox: bool, uid: int = NOBODY) -> list[str]:
    """The argv of a kernel (with "{connection_file}" for jupyter_client to fill).
    As root, the kernel runs as `uid` (each grading worker has its own, so that
    RLIMIT_NPROC, which counts a user's processes, is per submission)."""
    env = {"HOME": str(scratch), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8",
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(scratch / ".matplotlib"), "PYTHONNOUSERSITE": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": "", "JUPYTER_PLATFORM_DIRS": "1", "USER": "student", "LOGNAME": "student"}
    python = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
              "--HistoryManager.enabled=False"]
    if not sandbox:  # --no-sandbox: the same kernel and limits, unconfined
        return [*limits.prlimit(), "env", "-i", *[f"{k}={v}" for k, v in env.items()], *python]
    args = [*limits.prlimit(), *_bwrap_base(), "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    for path in _python_paths():
        args += [*_parents_755(path), "--ro-bind", str(path), str(path)]
    args += [*_parents_755(Path(GRADER_DIR)), "--ro-bind", str(package), GRADER_DIR]
    # /tmp is a folder of the scratch folder (on disk, not in the host's RAM); bound
    # first, so that a scratch folder under the host's /tmp is mounted inside it
    args += ["--bind", str(scratch / ".tmp"), "/tmp"]
    args += [*_parents_755(scratch), "--bind", str(scratch), str(scratch), "--chdir", str(scratch)]
    if os.geteuid() == 0:  # drop to nobody inside, so that RLIMIT_NPROC holds and no capability is left
        args += ["--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    else:
        args += ["--"]
    return args + python
