"""Where candidates are evaluated: in this process, in a pool of local processes, or on Ray.

The driver (:class:`~evonas.engine.driver.Search`) hands an executor :class:`Task` objects
while it has free slots and collects results as they finish, in completion order: there is
no generation barrier, so a fast candidate never waits for a slow one. Executors never touch
the run store; the driver alone writes it.

Every executor gives each worker an explicit CPU thread budget (``threads``; default: the
usable cores divided by the workers), so N workers never oversubscribe the cores, and gates
latency timing against training on the same machine (:mod:`evonas.core.gate`) whenever more
than one process computes. A candidate that raises, returns non-finite metrics, runs past
``trial_timeout`` seconds or kills its worker process becomes a failed trial with the reason;
the worker is replaced and the search goes on.
"""

from __future__ import annotations

import abc
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evonas.core import gate
from evonas.core.errors import UserError
from evonas.core.problem import Evaluation, Problem, Proposal

Outcome = Evaluation | str
"""What evaluating a task gives: an :class:`Evaluation`, or a string saying why it failed."""


@dataclass(frozen=True)
class Task:
    """One candidate to evaluate.

    Attributes:
        id: the candidate id.
        proposal: the proposal, with its seed set and any inherited weights filled in.
        known: a stored hardware measurement of the genome, reused instead of timing it again.
    """

    id: int
    proposal: Proposal
    known: dict[str, Any] | None = None


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_budget(workers: int, threads: int | None) -> int:
    """Threads per worker: ``threads`` if given, else the usable cores shared out (at least 1)."""
    if threads is not None:
        if threads < 1:
            raise UserError(f"threads per worker must be at least 1, got {threads}")
        return threads
    return max(1, usable_cores() // workers)


def set_thread_budget(threads: int) -> None:
    """Limit this process's compute threads (torch intra-op; ONNX Runtime sessions set their own)."""
    import torch

    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)  # libraries started later in this process


DRIVER_THREADS = 1
"""Torch threads of the driver process while a local pool's workers compute on the same cores."""


def limit_driver_threads(threads: int = DRIVER_THREADS) -> int | None:
    """Limit this process's torch threads to ``threads``; returns the count to restore (None: torch
    is not loaded here, so nothing to limit, and torch is not imported for it).

    The driver of a local pool does light work between results (a strategy's cheap metrics:
    building candidate networks and counting their FLOPs; loading and saving weights). With
    torch's default of one thread per core, that work spreads over the cores the workers
    train on, and on a busy machine each of those small parallel regions costs many times its
    single-thread CPU time (20x measured for a FLOP count), slowing the workers and keeping a
    finished worker idle while the driver asks for its next candidate.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    return before


def restore_driver_threads(before: int | None) -> None:
    """Undo :func:`limit_driver_threads` (given what it returned)."""
    if before is not None:
        sys.modules["torch"].set_num_threads(before)


def evaluate_task(problem: Problem, task: Task) -> Outcome:
    """Evaluate ``task`` with ``problem``; any exception becomes the failure reason (with traceback)."""
    try:
        if task.known is not None:
            problem.reuse_measurement(task.proposal.genome, task.known)
        return problem.evaluate(task.proposal)
    except Exception as exc:  # a failing candidate is data, not a crash of the worker
        return failure_reason(exc, traceback.format_exc(limit=5))


def failure_reason(exc: BaseException, tb: str | None = None) -> str:
    """``Type: message`` plus the traceback, as stored in a failed trial's ``error``."""
    text = f"{type(exc).__name__}: {exc}"
    return f"{text}\n{tb}" if tb else text


class Executor(abc.ABC):
    """Evaluates tasks, several at a time; results come back in completion order.

    Subclasses implement :meth:`start`, :meth:`free_slots`, :meth:`submit` and :meth:`wait`;
    :meth:`close` stops the workers (candidates still running stay ``running`` in the store
    and are evaluated again on resume).

    Attributes:
        workers: how many candidates are evaluated at once.
    """

    workers: int = 1

    @abc.abstractmethod
    def start(self, problem: Problem) -> None:
        """Start the workers, each with its own copy of ``problem``."""

    @abc.abstractmethod
    def free_slots(self) -> int:
        """How many tasks :meth:`submit` accepts now."""

    @abc.abstractmethod
    def submit(self, task: Task) -> None:
        """Start evaluating ``task`` (only while :meth:`free_slots` is positive)."""

    @abc.abstractmethod
    def wait(self) -> list[tuple[int, Outcome]]:
        """Block until something happens; returns the finished tasks as ``(id, outcome)``.

        May return an empty list when a worker became free without a result (a replaced worker
        is ready), so the driver can submit again.
        """

    def close(self) -> None:
        """Stop every worker; idempotent."""

    def describe(self) -> dict[str, Any]:
        """A JSON-able description stored with the run."""
        return {"backend": type(self).__name__, "workers": self.workers}


class InProcess(Executor):
    """Evaluates one candidate at a time in this process (the default for one worker).

    Args:
        trial_timeout: seconds a candidate may take; enforced with ``SIGALRM``, so only in the
            main thread, and a candidate stuck in native code is stopped when it returns to
            Python. Use :class:`ProcessPool` to stop a candidate for certain.
        threads: torch threads (default: every usable core).
    """

    workers = 1

    def __init__(self, trial_timeout: float | None = None, threads: int | None = None):
        self.trial_timeout = check_timeout(trial_timeout)
        self.threads = threads
        self._problem: Problem | None = None
        self._task: Task | None = None

    def start(self, problem: Problem) -> None:
        self._problem = problem
        if self.threads is not None:
            set_thread_budget(thread_budget(1, self.threads))

    def free_slots(self) -> int:
        return 0 if self._task is not None else 1

    def submit(self, task: Task) -> None:
        self._task = task

    def wait(self) -> list[tuple[int, Outcome]]:
        task, self._task = self._task, None
        if task is None:
            return []
        with _alarm(self.trial_timeout):
            try:
                outcome = evaluate_task(self._problem, task)
            except _TrialTimeout:
                outcome = timeout_reason(self.trial_timeout)
        return [(task.id, outcome)]

    def describe(self) -> dict[str, Any]:
        return {"backend": "local", "workers": 1, "trial_timeout": self.trial_timeout}


def check_timeout(seconds: float | None) -> float | None:
    if seconds is not None and not (seconds > 0 and seconds < float("inf")):
        raise UserError(f"--trial-timeout must be a positive number of seconds, got {seconds}")
    return seconds


def timeout_reason(seconds: float | None) -> str:
    return f"TrialTimeout: the candidate ran longer than the trial timeout of {seconds:g} s and was stopped"


class _TrialTimeout(BaseException):
    """Raised by the alarm inside an in-process evaluation (a BaseException, so no ``except Exception`` eats it)."""


class _alarm:
    def __init__(self, seconds: float | None):
        self.seconds = seconds if threading.current_thread() is threading.main_thread() else None

    def __enter__(self) -> None:
        if self.seconds is not None:
            self._before = signal.signal(signal.SIGALRM, self._ring)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    @staticmethod
    def _ring(signum, frame):
        raise _TrialTimeout()

    def __exit__(self, *exc) -> None:
        if self.seconds is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._before)


# -- the local process pool ---------------------------------------------------------------------
def _worker_main(conn, problem_path: str, threads: int, gate_path: str) -> None:
    """A pool worker: load the problem once, then evaluate tasks until told to stop."""
    _die_with_parent()
    set_thread_budget(threads)
    gate.install(gate_path)
    try:
        with open(problem_path, "rb") as f:
            problem = pickle.load(f)
    except Exception as exc:  # reported to the driver, which stops the search with the reason
        conn.send(("broken", failure_reason(exc, traceback.format_exc(limit=5))))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the driver is gone
            return
        if task is None:
            return
        conn.send(("started", task.id))
        conn.send(("done", task.id, evaluate_task(problem, task)))


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this worker when the driver dies (even by ``kill -9``)."""
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class _Worker:
    process: Any
    conn: Any
    ready: bool = False
    task: Task | None = None
    started: float | None = None


class ProcessPool(Executor):
    """A pool of local worker processes (the default for more than one worker).

    Each worker is a fresh interpreter (``spawn``) holding its own copy of the problem, so a
    user's objective functions and problem must be importable or picklable. A worker that
    dies (a crash, ``os._exit``, the kernel's out-of-memory killer) or runs past
    ``trial_timeout`` is replaced; its candidate is recorded as failed with the reason. From
    :meth:`start` to :meth:`close` the driver process computes with one torch thread
    (:func:`limit_driver_threads`): the cores belong to the workers.

    Args:
        workers: candidates evaluated at once.
        trial_timeout: seconds a candidate may take once its worker starts it (None: no limit).
        threads: torch threads per worker (default: the usable cores divided by ``workers``).
    """

    def __init__(self, workers: int = 2, trial_timeout: float | None = None, threads: int | None = None):
        if workers < 1:
            raise UserError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self.trial_timeout = check_timeout(trial_timeout)
        self.threads = thread_budget(workers, threads)
        self._pool: list[_Worker] = []
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._replaced = 0
        self._driver_threads: int | None = None

    def start(self, problem: Problem) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="evonas-pool-")
        self._problem_path = str(Path(self._tmp.name) / "problem.pkl")
        try:
            with open(self._problem_path, "wb") as f:
                pickle.dump(problem, f)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            self.close()
            raise UserError(f"the problem cannot be sent to worker processes ({exc}); define custom objectives "
                            "and problems at module level, or use one worker") from None
        gate.install()  # the driver may time too (strategies asking for training-free metrics)
        self._gate_path = str(gate.machine_gate_path())
        self._ctx = multiprocessing.get_context("spawn")
        self._pool = [self._spawn() for _ in range(self.workers)]
        self._driver_threads = limit_driver_threads()  # the workers have the cores

    def _spawn(self) -> _Worker:
        here, there = self._ctx.Pipe()
        process = self._ctx.Process(target=_worker_main, args=(there, self._problem_path, self.threads,
                                                               self._gate_path))
        process.start()
        there.close()
        return _Worker(process, here)

    def free_slots(self) -> int:
        return sum(1 for w in self._pool if w.ready and w.task is None)

    def submit(self, task: Task) -> None:
        worker = next(w for w in self._pool if w.ready and w.task is None)
        worker.task, worker.started = task, None
        worker.conn.send(task)

    def wait(self) -> list[tuple[int, Outcome]]:
        ready = multiprocessing.connection.wait(
            [w.conn for w in self._pool] + [w.process.sentinel for w in self._pool], timeout=self._next_deadline())
        finished: list[tuple[int, Outcome]] = []
        for i, worker in enumerate(list(self._pool)):
            results, closed = self._receive(worker) if worker.conn in ready else ([], False)
            finished += results
            if closed or not worker.process.is_alive():
                worker.process.join()
                finished += self._replace(i, _death_reason(worker.process.exitcode))
            elif worker.task is not None and self._overdue(worker):
                finished += self._replace(i, timeout_reason(self.trial_timeout))
        return finished

    def _receive(self, worker: _Worker) -> tuple[list[tuple[int, Outcome]], bool]:
        """What ``worker`` sent, and whether its pipe is closed (the process ended)."""
        out = []
        while worker.conn.poll():
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                return out, True
            kind = message[0]
            if kind == "ready":
                worker.ready = True
            elif kind == "broken":
                self.close()
                raise UserError(f"a worker process could not load the problem: {message[1].splitlines()[0]}")
            elif kind == "started":
                worker.started = time.monotonic()
            elif kind == "done":
                out.append((message[1], message[2]))
                worker.task, worker.started = None, None
        return out, False

    def _overdue(self, worker: _Worker) -> bool:
        return (self.trial_timeout is not None and worker.started is not None
                and time.monotonic() - worker.started > self.trial_timeout)

    def _next_deadline(self) -> float | None:
        if self.trial_timeout is None:
            return None
        waits = [self.trial_timeout - (time.monotonic() - w.started) for w in self._pool
                 if w.task is not None and w.started is not None]
        return max(0.0, min(waits)) + 0.01 if waits else 1.0  # re-check soon while a task is being picked up

    def _replace(self, index: int, reason: str) -> list[tuple[int, Outcome]]:
        worker = self._pool[index]
        _stop(worker)
        self._pool[index] = self._spawn()
        self._replaced += 1
        return [] if worker.task is None else [(worker.task.id, reason)]

    def close(self) -> None:
        for worker in self._pool:  # workers hold nothing that needs saving: the driver has every result
            _stop(worker)
        self._pool = []
        restore_driver_threads(self._driver_threads)
        self._driver_threads = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def describe(self) -> dict[str, Any]:
        return {"backend": "process", "workers": self.workers, "threads": self.threads,
                "trial_timeout": self.trial_timeout}


def _stop(worker: _Worker) -> None:
    if worker.process.is_alive():
        worker.process.kill()
    worker.process.join()
    worker.conn.close()


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (killed: out of memory, or by another process)" if name == "SIGKILL" else ""
        return f"WorkerDied: the worker process evaluating this candidate was ended by {name}{hint}"
    return f"WorkerDied: the worker process evaluating this candidate exited with code {exitcode}"
