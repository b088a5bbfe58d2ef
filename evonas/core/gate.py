"""Keeping latency timing off cores that are busy training: a machine-wide timing gate.

With several workers on one machine, a worker timing a network would otherwise share the
cores with the others' training and record a latency inflated by contention. The gate is a
reader-writer lock on a file (``flock``, so it works across unrelated processes: process-pool
workers, Ray workers, the driver): compute (a training step, an evaluation batch) holds it
*shared*, a latency measurement holds it *exclusive*. A measurement therefore waits for the
running steps to finish, and no step starts until it is done: timing runs on an idle machine.

A waiting measurement blocks new steps (writer preference): readers pass a second lock file
that a writer holds exclusively while it waits, so a stream of short steps cannot starve it.

Nothing is gated until :func:`install` is called; a single in-process search needs no gate,
since it never trains and times at once.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator


class TimingGate:
    """A reader-writer lock on ``path`` (and ``path`` + ``.intent``), shared by every process using the path."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._main = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        self._intent = os.open(f"{self.path}.intent", os.O_RDWR | os.O_CREAT, 0o666)
        self._depth = 0  # nested sections in this process take the lock once
        self._pid = os.getpid()

    @contextmanager
    def computing(self) -> Iterator[None]:
        """Hold the gate shared (many workers compute at once) unless this process already holds it."""
        if self._depth:
            yield
            return
        fcntl.flock(self._intent, fcntl.LOCK_SH)  # waits while a measurement is waiting or running
        fcntl.flock(self._main, fcntl.LOCK_SH)
        fcntl.flock(self._intent, fcntl.LOCK_UN)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            fcntl.flock(self._main, fcntl.LOCK_UN)

    @contextmanager
    def timing(self) -> Iterator[None]:
        """Hold the gate exclusively: every other process's compute waits until this exits."""
        if self._depth:
            raise RuntimeError("a latency measurement inside a compute section would deadlock the timing gate")
        fcntl.flock(self._intent, fcntl.LOCK_EX)
        try:
            fcntl.flock(self._main, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                fcntl.flock(self._main, fcntl.LOCK_UN)
        finally:
            fcntl.flock(self._intent, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._main)
        os.close(self._intent)


def machine_gate_path() -> Path:
    """The gate every evonas process of this user on this machine shares."""
    return Path(tempfile.gettempdir()) / f"evonas-timing-{os.getuid()}.lock"


_installed: TimingGate | None = None


def install(path: str | Path | None = None) -> TimingGate:
    """Gate this process's compute and timing from now on (``path`` defaults to the machine's gate)."""
    global _installed
    if _installed is not None and (_installed._pid != os.getpid() or path is not None and Path(path) != _installed.path):
        _installed = None  # a forked child or another gate: open its own descriptors
    if _installed is None:
        _installed = TimingGate(path or machine_gate_path())
    return _installed


def computing():
    """Wrap one compute step (a training batch); a no-op where no gate is installed."""
    return _installed.computing() if _installed is not None else nullcontext()


def timing():
    """Wrap one latency measurement; a no-op where no gate is installed."""
    return _installed.timing() if _installed is not None else nullcontext()
