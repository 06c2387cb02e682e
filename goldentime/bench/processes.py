"""Benchmark processes: each load generator and consumer runs in a process of its own (spawn), so they really
run side by side and the coordinating process only starts, asks and counts. A process that dies makes the run
fail loudly, naming it, instead of hanging or ending early."""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any


@dataclass
class Child:
    """A benchmark process and our end of its pipe. When it dies (its traceback is on stderr), talking to it
    raises a RuntimeError that names it, so a benchmark run fails loudly instead of hanging or ending early."""

    name: str
    process: BaseProcess
    conn: Connection
    first: Any = None  # what it sent once started (its pid)

    def send(self, message: Any) -> None:
        try:
            self.conn.send(message)
        except OSError as exc:  # BrokenPipeError: it is gone
            raise self._died() from exc

    def poll(self, timeout_s: float) -> bool:
        """True once a message from it waits; False after ``timeout_s``; raises if it died first."""
        deadline = time.monotonic() + timeout_s
        while not self.conn.poll(min(0.5, max(0.0, deadline - time.monotonic()))):
            if not self.process.is_alive():
                raise self._died()
            if time.monotonic() >= deadline:
                return False
        return True

    def recv(self, timeout_s: float = 900.0) -> Any:
        if not self.poll(timeout_s):
            raise RuntimeError(f"benchmark process {self.name} did not answer within {timeout_s:g} s")
        try:
            return self.conn.recv()
        except EOFError as exc:
            raise self._died() from exc

    def ask(self, message: Any) -> Any:
        self.send(message)
        return self.recv()

    def _died(self) -> RuntimeError:
        self.process.join(5)
        return RuntimeError(f"benchmark process {self.name} (pid {self.process.pid}) stopped with exit code "
                            f"{self.process.exitcode}; its error, if any, is above")  # fmt: skip


def spawn(target: Callable[..., None], *args: Any) -> Child:
    """Start ``target(*args, conn)`` in a spawned process, once it sent its first message (its pid)."""
    context = mp.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(*args, theirs), daemon=True)
    process.start()
    theirs.close()  # only the child holds its end: our reads end when it dies
    child = Child(target.__name__.strip("_"), process, ours)
    try:
        child.first = child.recv(300)
    except RuntimeError:
        process.terminate()
        raise
    return child
