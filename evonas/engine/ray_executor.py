"""Evaluating candidates on Ray: the local machine's cores, or a cluster (``pip install evonas[ray]``).

Each worker is a Ray actor holding one copy of the problem (sent once through Ray's object
store) and evaluating one candidate at a time; the driver stays the only writer of the run
store. On a cluster, start Ray on every node (``ray start --head`` on one, ``ray start
--address HEAD:6379`` on the others) with evonas installed on each, and pass the head's
address. GPUs are shared by fractional GPU resources per worker (``gpus_per_worker``).
"""

from __future__ import annotations

import time
from typing import Any

from evonas.core import gate
from evonas.core.errors import UserError
from evonas.core.problem import Problem
from evonas.engine.executors import (Executor, Outcome, Task, check_timeout, evaluate_task, set_thread_budget,
                                     thread_budget, timeout_reason, usable_cores)


def _ray():
    try:
        import ray
    except ImportError:
        raise UserError("the ray backend needs Ray: pip install 'evonas[ray]'") from None
    return ray


class RayWorker:
    """A Ray actor: one copy of the problem, one candidate at a time."""

    def __init__(self, problem: Problem, threads: int):
        set_thread_budget(threads)
        gate.install()  # timing on this node waits for this node's training, and vice versa
        self.problem = problem

    def ready(self) -> bool:
        return True

    def evaluate(self, task: Task) -> Outcome:
        return evaluate_task(self.problem, task)


class RayPool(Executor):
    """Workers as Ray actors on the local Ray instance or the cluster at ``address``.

    Args:
        workers: candidates evaluated at once.
        address: a Ray cluster's address ('auto', or 'HOST:PORT'); None starts a local Ray
            instance (or joins the one this process already started).
        trial_timeout: seconds a candidate may take (None: no limit); its actor is killed and replaced.
        threads: CPU threads (and Ray CPUs) per worker (default: the cluster's CPUs divided by ``workers``).
        gpus_per_worker: the fraction of a GPU each worker reserves (e.g. 0.25: four workers share one GPU).
    """

    def __init__(self, workers: int = 2, address: str | None = None, trial_timeout: float | None = None,
                 threads: int | None = None, gpus_per_worker: float = 0.0):
        if workers < 1:
            raise UserError(f"--workers must be at least 1, got {workers}")
        if not 0 <= gpus_per_worker:
            raise UserError(f"--gpus-per-worker must not be negative, got {gpus_per_worker}")
        self.workers = workers
        self.address = address
        self.trial_timeout = check_timeout(trial_timeout)
        self.threads = None if threads is None else thread_budget(workers, threads)
        self.gpus_per_worker = gpus_per_worker
        self._started_ray = False
        self._actors: list[Any] = []
        self._ready: dict[Any, int] = {}  # ready() ref -> actor slot
        self._running: dict[Any, tuple[int, Task, float]] = {}  # evaluate ref -> (slot, task, started)
        self._idle: set[int] = set()

    def start(self, problem: Problem) -> None:
        ray = _ray()
        if not ray.is_initialized():
            try:
                if self.address is None:
                    ray.init(num_cpus=usable_cores(), include_dashboard=False, logging_level="ERROR")
                else:
                    ray.init(address=self.address, include_dashboard=False, logging_level="ERROR")
            except ConnectionError as exc:
                raise UserError(f"cannot reach the Ray cluster at {self.address!r}: {exc}") from None
            self._started_ray = True
        if self.threads is None:
            self.threads = max(1, int(ray.cluster_resources().get("CPU", 1)) // self.workers)
        gate.install()
        self._actor_class = ray.remote(num_cpus=self.threads, num_gpus=self.gpus_per_worker,
                                       max_restarts=0, max_concurrency=1)(RayWorker)
        self._problem = ray.put(problem)
        self._actors = [None] * self.workers
        for slot in range(self.workers):
            self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        actor = self._actor_class.remote(self._problem, self.threads)
        self._actors[slot] = actor
        self._ready[actor.ready.remote()] = slot

    def free_slots(self) -> int:
        return len(self._idle)

    def submit(self, task: Task) -> None:
        slot = self._idle.pop()
        ref = self._actors[slot].evaluate.remote(task)
        self._running[ref] = (slot, task, time.monotonic())

    def wait(self) -> list[tuple[int, Outcome]]:
        ray = _ray()
        refs = list(self._ready) + list(self._running)
        done, _ = ray.wait(refs, num_returns=1, timeout=self._next_deadline())
        if done:  # collect everything else that has finished too
            done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        finished: list[tuple[int, Outcome]] = []
        for ref in done:
            if ref in self._ready:
                slot = self._ready.pop(ref)
                try:
                    ray.get(ref)
                except ray.exceptions.RayError as exc:
                    self.close()
                    raise UserError(f"a Ray worker could not load the problem: {str(exc).splitlines()[0]}") from None
                self._idle.add(slot)
            else:
                slot, task, _ = self._running.pop(ref)
                try:
                    finished.append((task.id, ray.get(ref)))
                    self._idle.add(slot)
                except ray.exceptions.RayError as exc:  # the actor died: crash, OOM kill, node lost
                    finished.append((task.id, f"WorkerDied: the Ray worker evaluating this candidate died: "
                                              f"{type(exc).__name__}: {str(exc).splitlines()[0]}"))
                    self._replace(slot)
        now = time.monotonic()
        for ref, (slot, task, started) in list(self._running.items()):
            if self.trial_timeout is not None and now - started > self.trial_timeout:
                del self._running[ref]
                finished.append((task.id, timeout_reason(self.trial_timeout)))
                self._replace(slot)
        return finished

    def _next_deadline(self) -> float | None:
        if self.trial_timeout is None or not self._running:
            return None
        now = time.monotonic()
        return max(0.0, min(self.trial_timeout - (now - s) for _, _, s in self._running.values())) + 0.01

    def _replace(self, slot: int) -> None:
        _ray().kill(self._actors[slot], no_restart=True)
        self._spawn(slot)

    def close(self) -> None:
        if not self._actors:
            return
        ray = _ray()
        for actor in self._actors:
            if actor is not None:
                ray.kill(actor, no_restart=True)
        self._actors, self._ready, self._running, self._idle = [], {}, {}, set()
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    def describe(self) -> dict[str, Any]:
        return {"backend": "ray", "workers": self.workers, "address": self.address, "threads": self.threads,
                "gpus_per_worker": self.gpus_per_worker, "trial_timeout": self.trial_timeout}
