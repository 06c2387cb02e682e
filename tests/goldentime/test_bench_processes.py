"""A benchmark process that dies makes the run fail loudly: ``goldentime.bench.processes`` and the CLI."""

from __future__ import annotations

import os
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from goldentime import cli
from goldentime.bench.processes import spawn


def _echo(conn: Connection) -> None:
    conn.send(os.getpid())
    while (message := conn.recv()) is not None:
        if message == "die":
            os._exit(3)
        conn.send(message)


def _broken(conn: Connection) -> None:
    raise RuntimeError("the load could not be published")


def test_a_child_answers_and_its_death_is_named() -> None:
    child = spawn(_echo)
    assert child.first == child.process.pid and child.name == "echo"
    assert child.ask("hello") == "hello"
    assert not child.poll(0.1)  # nothing waiting, still alive
    with pytest.raises(RuntimeError, match=r"echo \(pid \d+\) stopped with exit code 3"):
        child.ask("die")
    with pytest.raises(RuntimeError, match="exit code 3"):
        child.send("anyone?")  # its pipe is closed


def test_a_child_that_fails_to_start_is_named() -> None:
    with pytest.raises(RuntimeError, match=r"broken \(pid \d+\) stopped with exit code 1"):
        spawn(_broken)


def test_a_broken_pipe_that_is_not_the_output_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`goldentime bench | head` ends quietly, but a benchmark's own pipe breaking must not exit 0."""

    def broken(*_: object) -> list[object]:
        raise BrokenPipeError("a benchmark process went away")

    monkeypatch.setattr(cli, "_run_benchmark", broken)
    with pytest.raises(BrokenPipeError):
        cli.main(["bench", "--only", "roads", "--output", str(tmp_path / "performance.md")])
