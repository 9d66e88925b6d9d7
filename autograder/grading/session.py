"""Run one student's notebook in a sandboxed kernel, driven from the grader.

The grader (this process) holds the notebook and talks to the kernel over
jupyter's messaging, through unix sockets in the student's scratch folder
(the only folder the sandbox can write). It executes the cells one by one,
then, for each graded part, asks the kernel to call the student's function on
the part's inputs; what comes back is read at once as plain data. Nothing the
kernel does later can change what was read, and no verdict is computed there.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import zmq
import zmq.asyncio
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from . import sandbox
from ..engine.runner.collect import RESULT_MIME  # the grader's data in a kernel's output: never shown

MAX_OUTPUT_BYTES = 200_000  # text and images kept per cell; the rest is dropped with a note
MAX_RESULT_BYTES = 32 * 2**20
MAX_MESSAGE_BYTES = 48 * 2**20  # one message from the kernel; a larger one cuts the connection


class _SandboxKernelManager(AsyncKernelManager):
    """A kernel started by our own command (bwrap ...) over unix sockets."""

    def __init__(self, argv: list[str], scratch: Path, uid: int, **kwargs: Any):
        context = zmq.asyncio.Context()
        # No message larger than the grader means to hold, and no backlog of them.
        # (Reconnects stay on: the interrupt's control socket needs them.)
        context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        context.setsockopt(zmq.RCVHWM, 100)
        super().__init__(transport="ipc", connection_file=str(scratch / "kernel.json"), context=context, **kwargs)
        self.uid = uid
        self._kernel_spec = KernelSpec(argv=argv, display_name="sandboxed Python", language="python",
                                       interrupt_mode="message", env={})

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        if os.geteuid() == 0:  # the kernel runs as the sandbox user and must read it
            os.chown(self.connection_file, self.uid, self.uid)


class _Client(NotebookClient):
    """nbclient with a cap on how much output one cell may produce, and a
    death check on the kernel's process (the heartbeat alone misses a kernel
    that exits at once inside the sandbox)."""

    async def _async_check_alive(self) -> None:
        provisioner = getattr(self.km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        if process is not None and process.poll() is not None:
            raise DeadKernelError("Kernel died")
        await super()._async_check_alive()

    async def _async_poll_output_msg(self, parent_msg_id: str, cell: Any, cell_index: int) -> None:
        """Wait for the cell's outputs, but give up when the kernel is gone."""
        import asyncio

        task = asyncio.ensure_future(super()._async_poll_output_msg(parent_msg_id, cell, cell_index))
        try:
            while not task.done():
                await asyncio.wait([task], timeout=1)
                provisioner = getattr(self.km, "provisioner", None)
                process = getattr(provisioner, "process", None)
                if not task.done() and process is not None and process.poll() is not None:
                    raise DeadKernelError("Kernel died")
            return task.result()
        finally:
            if not task.done():  # cancelled by nbclient, or the kernel died: it must not read on
                task.cancel()

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> Any:
        size = sum(len(json.dumps(o)) for o in outs[-50:]) if outs else 0
        if size > MAX_OUTPUT_BYTES or len(outs) > 500:
            if not any(o.get("name") == "grader-note" for o in outs):
                outs.append(nbformat.v4.new_output("stream", name="stdout",
                                                   text="\n[output cut here: too long]\n"))
                outs[-1]["name"] = "grader-note"
            return None
        return super().output(outs, msg, display_id, cell_index)


@dataclass
class Settings:
    """How one kernel is run."""

    scratch: Path
    package: Path  # the kernel-side package folder (mounted read-only)
    limits: sandbox.Limits
    sandbox: bool
    cell_timeout: int
    startup_timeout: int = 120
    uid: int = sandbox.NOBODY  # the sandbox user (as root)
    files: dict[str, bytes] = field(default_factory=dict)  # written into the scratch folder before the kernel starts


TIMEOUT_ERROR = {
    "ename": "CellTimeoutError",
    "evalue": "this cell did not finish in time (an endless loop, or far too slow)",
    "traceback": ["CellTimeoutError: this cell did not finish in time (an endless loop, or far too slow)"],
}


class Kernel:
    """One sandboxed kernel, started on entering and killed (with everything it
    started) on leaving."""

    def __init__(self, nb: nbformat.NotebookNode, settings: Settings):
        self.nb, self.settings = nb, settings
        sandbox.prepare_scratch(settings.scratch, settings.uid, settings.files)
        argv = sandbox.kernel_command(settings.scratch, settings.package, settings.limits, settings.sandbox,
                                      settings.uid)
        self.km = _SandboxKernelManager(argv, settings.scratch, settings.uid)
        self.client = _Client(nb, km=self.km, timeout=settings.cell_timeout, allow_errors=True,
                              interrupt_on_timeout=True, error_on_timeout=TIMEOUT_ERROR,
                              startup_timeout=settings.startup_timeout, record_timing=False,
                              resources={"metadata": {"path": str(settings.scratch)}})

    def __enter__(self) -> "Kernel":
        # the kernel's own stdout and stderr (which a notebook can write to) never reach the grader's terminal
        self.client.start_new_kernel(cwd=str(self.settings.scratch), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.client.start_new_kernel_client()
        self.namespaces = _namespaces_below(self._pid())
        return self

    def _pid(self) -> int | None:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        return getattr(process, "pid", None)

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop the kernel: bwrap dies, and with its process namespace every
        process the notebook started."""
        try:
            if self.client.kc is not None:
                self.client.kc.stop_channels()
        except Exception:
            pass
        try:
            if self.km.has_kernel:
                run_sync(self.km.shutdown_kernel)(now=True)
        except Exception:
            pass
        try:
            run_sync(lambda: ensure_async(self.km.cleanup_resources()))()
        except Exception:
            pass
        _wait_until_gone(getattr(self, "namespaces", set()), self.settings.uid)

    def _process_alive(self) -> bool:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        return process is not None and process.poll() is None

    def _execute(self, cell: nbformat.NotebookNode, index: int | None, timeout: int) -> str:
        """Execute one cell (`index` None: grader code, not kept in the notebook):
        "ok" (errors included), "late" (over `timeout`, so nbclient interrupted
        it) or "dead" (the kernel is then stopped)."""
        grader_code = index is None
        if grader_code:
            self.nb.cells.append(cell)  # nbclient writes the cell back at its index
            index = len(self.nb.cells) - 1
        self.client.timeout = timeout
        start = time.monotonic()
        try:
            self.client.execute_cell(cell, index, store_history=not grader_code)
        except Exception:  # a dead kernel, or messages nbclient cannot take (forged, oversized)
            self.close()
            return "dead"
        finally:
            self.client.timeout = self.settings.cell_timeout
            if grader_code:
                self.nb.cells.pop()
        if not self._process_alive():
            self.close()
            return "dead"
        return "late" if time.monotonic() - start >= timeout else "ok"

    def _after_time_limit(self) -> str:
        """"timeout" if the kernel still runs code after a cell's time limit, else
        "dead": one whose interrupt did not work (or whose machinery the notebook
        broke) would make every later cell wait out its limit."""
        if self._execute(nbformat.v4.new_code_cell("pass"), None, PROBE_SECONDS) == "ok":
            return "timeout"
        self.close()
        return "dead"

    def run_cell(self, index: int) -> str:
        """Execute cell `index`: "ok" (errors included), "timeout" or "dead"."""
        status = self._execute(self.nb.cells[index], index, self.settings.cell_timeout)
        if status == "late":
            self.nb.cells[index].setdefault("outputs", []).append(nbformat.v4.new_output("error", **TIMEOUT_ERROR))
            return self._after_time_limit()
        return status

    def call(self, code: str, timeout: int) -> tuple[str, list]:
        """Run grader code in the kernel: (status, its outputs)."""
        cell = nbformat.v4.new_code_cell(code)
        status = self._execute(cell, None, timeout)
        if status == "late":
            return self._after_time_limit(), []
        return status, list(cell.get("outputs", [])) if status == "ok" else []


PROBE_SECONDS = 10


def _namespaces_below(pid: int | None) -> set[str]:
    """The pid namespaces of the processes `pid` started (bwrap's sandbox)."""
    if pid is None:
        return set()
    own = _namespace(os.getpid())
    found = set()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split() if Path(
            f"/proc/{pid}/task/{pid}/children").exists() else []:
        space = _namespace(int(child))
        if space and space != own:
            found.add(space)
    return found


def _namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _counts(pid: int, uid: int) -> bool:
    """Does process `pid` still count against the sandbox user's process limit?
    A process that runs counts; a dead one not yet reaped (a zombie) counts
    only if it is the sandbox user's (the sandbox's own bwrap, root's, can
    wait a second to be reaped without holding anything of the student's)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    zombie = fields.get("State", "").strip().startswith("Z")
    real_uid = int(fields.get("Uid", "-1").split()[0])
    return not zombie or (real_uid == uid and uid != os.getuid())


def _wait_until_gone(namespaces: set[str], uid: int, seconds: float = 20.0) -> None:
    """Wait until no process of these pid namespaces counts against the
    sandbox user `uid` any more: the kernel tells them all to die (SIGKILL)
    when the sandbox's first process dies, but the worker's next sandbox, as
    the same user, must not start while they still count against its
    process limit."""
    end = time.monotonic() + seconds
    while namespaces and time.monotonic() < end:
        if not any(entry.name.isdigit() and _namespace(int(entry.name)) in namespaces
                   and _counts(int(entry.name), uid) for entry in Path("/proc").iterdir()):
            return
        time.sleep(0.05)


def collect_code(assignment: str, part: str, tables: list | None, grader_dir: str = sandbox.GRADER_DIR) -> str:
    """The code the grader runs in the kernel to collect one part (the
    kernel-side package is at `grader_dir`: mounted there in the sandbox)."""
    code = (f"import sys\n"
            f"sys.path.insert(0, {grader_dir!r})\n"
            f"from {sandbox.KERNEL_PACKAGE}.engine.runner.collect import display_result\n"
            f"display_result({assignment!r}, {part!r}, notebook, {json.dumps(tables)!r})\n")
    # run in a namespace of its own: the notebook's names stay as the student left them
    return f"exec({code!r}, {{'notebook': globals()}})\n"


def read_result(outputs: list) -> tuple[str, bytes] | None:
    """The (JSON, npz) pair a collect call displayed, or None."""
    import base64

    for output in outputs:
        data = output.get("data", {}) if output.get("output_type") == "display_data" else {}
        payload = data.get(RESULT_MIME)
        if isinstance(payload, dict) and isinstance(payload.get("json"), str) \
                and isinstance(payload.get("npz"), str) and len(payload["npz"]) < MAX_RESULT_BYTES:
            try:
                return payload["json"], base64.b64decode(payload["npz"], validate=True)
            except ValueError:
                return None
    return None

