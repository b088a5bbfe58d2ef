"""Parallel and distributed evaluation: process pool, Ray, the timing gate, crash-safe resume with workers.

Real worker processes, a real local Ray instance and real kill -9; nothing is mocked.
"""

from __future__ import annotations

import multiprocessing
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import psutil
import pytest

from evonas.api.spec import ExecutorSpec
from evonas.api.study import Study
from evonas.cli import main
from evonas.core import gate
from evonas.core.errors import UserError
from evonas.core.problem import TrialState
from evonas.engine.driver import AllFailed, Pending, candidate_seed
from evonas.engine.executors import InProcess, ProcessPool
from evonas.engine.store import SCHEMA_VERSION, RunStore
from evonas.testing.synthetic import SyntheticProblem
from populations.aging import AgingEvolution
from populations.random_search import RandomSearch

FAULTS = dict(fail_every=5, nan_every=7, crash_every=11, hang_every=13, hang_seconds=120.0, oom_every=17)
"""Every kind of failure a worker can meet: raise, NaN, a dead process, a hang past the timeout, out of memory."""

REASONS = {"raise": "RuntimeError: injected failure", "nan": "non-finite or missing metric: accuracy=nan",
           "crash": "WorkerDied:", "hang": "TrialTimeout:", "oom": "MemoryError: Unable to allocate"}


def _check_faults(trials, problem: SyntheticProblem, budget: int) -> dict[str, int]:
    """Every trial failed exactly when a fault was injected into it, with that fault's reason."""
    assert sorted(t.id for t in trials) == list(range(budget))
    seen: dict[str, int] = {}
    for t in trials:
        fault = problem.fault(t.genome)
        if fault is None:
            assert t.ok, f"trial {t.id} ({t.genome}) failed without an injected fault: {t.error}"
        else:
            assert t.state is TrialState.FAILED, f"trial {t.id}: injected {fault} but recorded {t.state}"
            assert t.error.startswith(REASONS[fault]), f"trial {t.id} ({fault}): {t.error.splitlines()[0]}"
            seen[fault] = seen.get(fault, 0) + 1
    return seen


@pytest.mark.slow
def test_process_pool_has_no_generation_barrier():
    """Candidates take 1-4 x 0.15 s; with two workers a fast one is told while a slow one still runs."""
    problem = SyntheticProblem(2, delay=0.15)
    study = Study(problem, AgingEvolution(population=6), seed=2)
    result = study.optimize(evaluations=16, executor=ProcessPool(2))
    told = [t.id for t in result.trials]
    assert sorted(told) == list(range(16))
    overtaken = [(a, b) for i, a in enumerate(told) for b in told[i + 1:] if b < a]
    assert overtaken, f"trials were told in id order {told}: evaluation was not asynchronous"
    assert all(t.ok for t in result.trials), [t.error for t in result.trials if not t.ok]


@pytest.mark.slow
def test_failures_are_isolated_in_worker_processes(tmp_path):
    """Raise, NaN, out of memory, a killed worker and a hang past --trial-timeout each become a failed trial with its
    reason; the dead or stopped worker is replaced and the search completes, all stored."""
    problem = SyntheticProblem(2, **FAULTS)
    budget = 40
    study = Study(problem, RandomSearch(), seed=5, out=tmp_path / "run")
    result = study.optimize(evaluations=budget, executor=ProcessPool(2, trial_timeout=1.5))
    seen = _check_faults(result.trials, problem, budget)
    assert set(seen) == set(REASONS), f"the fault injection missed some kinds: {seen}"
    study.close()
    with RunStore.open(tmp_path / "run") as store:
        rows = store.candidates(include_running=True)
    assert len(rows) == budget and not [r for r in rows if r.status is TrialState.RUNNING]
    assert sum(r.status is TrialState.FAILED for r in rows) == sum(seen.values())


def test_in_process_timeout_and_out_of_memory_are_recorded():
    """One in-process worker: a hang is stopped by the trial timeout (SIGALRM) and a MemoryError is
    a failed trial; the search goes on."""
    problem = SyntheticProblem(2, hang_every=5, oom_every=3, hang_seconds=60.0)
    study = Study(problem, RandomSearch(), seed=1)
    t0 = time.monotonic()
    result = study.optimize(evaluations=20, executor=InProcess(trial_timeout=0.5))
    seen = _check_faults(result.trials, problem, 20)
    assert seen.get("hang") and seen.get("oom"), seen
    assert time.monotonic() - t0 < 0.5 * seen["hang"] + 10


@pytest.mark.slow
def test_a_pool_where_every_candidate_fails_stops_with_a_clear_message():
    study = Study(SyntheticProblem(2, fail_every=1), RandomSearch(), seed=0)
    with pytest.raises(AllFailed, match="the first 20 candidates all failed"):
        study.optimize(evaluations=200, executor=ProcessPool(2))
    assert len(study.trials) == 20


@pytest.mark.slow
def test_candidate_results_do_not_depend_on_the_worker():
    """Real training: each candidate is seeded from the run seed and its id, so one worker in this
    process and two worker processes (one thread each, as each pool worker) give identical metrics."""
    import evonas

    def search(executor):
        problem = evonas.ImageClassification.from_options([evonas.accuracy(), evonas.params()], seed=3, epochs=0.3)
        genomes = [problem.space.smallest(), *(problem.space.sample(np.random.default_rng(i)) for i in range(3))]
        study = Study(problem, RandomSearch(), seed=3, initial=genomes)
        return {t.id: (str(t.genome), t.metrics["accuracy"]) for t in study.optimize(4, executor=executor).trials}

    alone, pooled = search(InProcess(threads=1)), search(ProcessPool(2, threads=1))
    assert alone == pooled
    assert len({acc for _, acc in alone.values()}) > 1, "every candidate scored the same: the test proves nothing"
    assert candidate_seed(3, 0) != candidate_seed(3, 1) != candidate_seed(4, 1)


@pytest.mark.slow
def test_the_driver_of_a_pool_computes_with_one_thread_until_close():
    """The driver's own torch work (a strategy's cheap metrics between results) stays off the cores the
    workers train on while the pool runs; its thread count is restored on close. Without torch loaded,
    nothing is imported to limit it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    pool = ProcessPool(2)
    try:
        pool.start(SyntheticProblem(2))
        assert torch.get_num_threads() == 1
    finally:
        pool.close()
        after = torch.get_num_threads()
        torch.set_num_threads(before)
    assert after == 2
    code = ("import sys; from evonas.engine.executors import limit_driver_threads; "
            "assert limit_driver_threads() is None and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


_KILLED_SEARCH = textwrap.dedent("""
    import sys
    from evonas.api.study import Study
    from evonas.engine.executors import ProcessPool
    from evonas.testing.synthetic import SyntheticProblem
    from populations.aging import AgingEvolution

    if __name__ == "__main__":
        out, resume = sys.argv[1], sys.argv[2] == "resume"
        problem = SyntheticProblem(2, fail_every=9, delay=0.1)
        strategy = AgingEvolution(population=6)
        study = (Study.resume(out, problem, strategy, seed=1) if resume
                 else Study(problem, strategy, seed=1, out=out))
        study.optimize(evaluations=40, executor=ProcessPool(2))
        study.close()
""")


@pytest.mark.slow
def test_kill_9_of_a_parallel_search_then_resume(tmp_path):
    """kill -9 of the driver mid-run: its workers die with it, the candidates in flight are stored as
    running, and resume evaluates them again under their ids; nothing is lost or repeated."""
    script = tmp_path / "search.py"
    script.write_text(_KILLED_SEARCH)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(script), str(out), "new"], stderr=subprocess.PIPE)
    db = out / "run.db"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if db.is_file() and _count(db, "status = 'ok'") >= 12 and _count(db, "status = 'running'") >= 2:
            break
        time.sleep(0.005)
    workers = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _count(db, "status = 'running'") >= 1, "the kill hit no candidate in flight"
    psutil.wait_procs(workers, timeout=10)
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE], \
        "workers outlived the killed driver"
    running = [r[0] for r in sqlite3.connect(db).execute("SELECT id FROM candidates WHERE status = 'running'")]
    done = subprocess.run([sys.executable, str(script), str(out), "resume"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "replayed proposals differ" not in done.stderr
    with RunStore.open(out) as store:
        rows = store.candidates(include_running=True)
    assert [r.id for r in rows] == list(range(40)) and all(r.status is not TrialState.RUNNING for r in rows)
    assert {r.tell_order for r in rows} == set(range(40)), "a candidate was told twice or never"
    assert all(rows[i].status in (TrialState.OK, TrialState.FAILED) for i in running)


def _count(db: Path, where: str) -> int:
    try:
        with sqlite3.connect(db, timeout=0.05) as con:
            return con.execute(f"SELECT COUNT(*) FROM candidates WHERE {where}").fetchone()[0]
    except sqlite3.Error:
        return 0


def _hold(path: str, kind: str, seconds: float, events) -> None:
    gate.install(path)
    events.put((kind, "ask", time.monotonic()))
    with (gate.computing() if kind == "compute" else gate.timing()):
        events.put((kind, "in", time.monotonic()))
        time.sleep(seconds)
        events.put((kind, "out", time.monotonic()))


@pytest.mark.slow
def test_timing_gate_keeps_timing_apart_from_compute(tmp_path):
    """Two workers compute at once; a measurement waits for both, and compute asked for meanwhile waits for it."""
    path = str(tmp_path / "gate.lock")
    ctx = multiprocessing.get_context("spawn")
    events, log = ctx.Queue(), []

    def until(kind: str, what: str, count: int = 1) -> None:
        while sum(e[:2] == (kind, what) for e in log) < count:
            log.append(events.get(timeout=60))

    procs = [ctx.Process(target=_hold, args=(path, "compute", 1.0, events)) for _ in range(2)]
    for p in procs:
        p.start()
    until("compute", "in", 2)  # both computing: shared
    assert not any(e[:2] == ("compute", "out") for e in log)
    timer = ctx.Process(target=_hold, args=(path, "timing", 0.5, events))
    timer.start()
    until("timing", "ask")  # a process starts slowly on a busy machine: wait until the timer is asking
    time.sleep(0.3)
    late = ctx.Process(target=_hold, args=(path, "compute", 0.1, events))
    late.start()
    until("compute", "out", 3)
    until("timing", "out")
    for p in [*procs, timer, late]:
        p.join(30)
    t_in = next(e[2] for e in log if e[:2] == ("timing", "in"))
    t_out = next(e[2] for e in log if e[:2] == ("timing", "out"))
    compute_out = [e[2] for e in log if e[:2] == ("compute", "out")]
    assert sorted(compute_out)[1] <= t_in, "timing began while a worker was still computing"
    late_in = max(e[2] for e in log if e[:2] == ("compute", "in"))
    assert late_in >= t_out, "compute asked for during a measurement did not wait for it"


def test_nested_timing_inside_compute_is_refused(tmp_path):
    g = gate.TimingGate(tmp_path / "gate.lock")
    with g.computing():
        with pytest.raises(RuntimeError, match="deadlock"):
            with g.timing():
                pass
    g.close()


@pytest.mark.slow
def test_a_stored_latency_is_reused_not_measured_again(tmp_path):
    """The run store is the latency cache: a genome measured before (another worker, an earlier
    session) is not timed again; its stored figure is used."""
    import evonas
    from hardware.targets import OnnxRuntimeCPU, TimingProtocol

    class CountingTarget(OnnxRuntimeCPU):
        calls = 0

        def measure(self, model, input_shape):
            CountingTarget.calls += 1
            return super().measure(model, input_shape)

    def problem():
        target = CountingTarget(pin_core=None, raise_priority=False, protocol=TimingProtocol(min_seconds=0.05))
        return evonas.ImageClassification.from_options([evonas.accuracy(), evonas.latency(target)], epochs=0.1)

    first = problem()
    genome = first.space.smallest()
    study = Study(first, RandomSearch(), out=tmp_path / "run", initial=[genome])
    study.optimize(evaluations=1)
    assert CountingTarget.calls >= 1  # the genome (and the space's extremes, for the bounds)
    CountingTarget.calls = 0
    stored = study.search.store.latest_measurement(str(genome))
    assert stored is not None and stored["target"] == "edge-cpu"
    task = study.search._task(Pending(1, evonas.Proposal(genome), 0.0))
    assert task.known == stored, "the driver does not hand workers the stored measurement"
    study.close()
    second = problem()
    second.reuse_measurement(genome, stored)
    metrics = second.evaluate(evonas.Proposal(genome, seed=1)).metrics
    assert CountingTarget.calls == 0, "a stored latency was measured again"
    assert metrics["latency_ms"] == stored["result"]["median_ms"]
    second.evaluate(evonas.Proposal(second.space.sample(np.random.default_rng(0)), seed=1))
    assert CountingTarget.calls == 1  # an unknown genome is measured


@pytest.mark.parametrize("flags, message", [
    (["--workers", "0"], "--workers must be at least 1"),
    (["--workers", "2", "--backend", "local"], "--backend local evaluates one candidate at a time"),
    (["--backend", "gpu-farm"], "unknown backend 'gpu-farm'"),
    (["--address", "10.0.0.1:6379"], "--address and --gpus-per-worker apply to --backend ray only"),
    (["--trial-timeout", "0"], "--trial-timeout must be a positive number"),
    (["--trial-timeout", "nan"], "--trial-timeout must be a positive number"),
    (["--workers", "2", "--threads-per-worker", "0"], "--threads-per-worker must be at least 1"),
])
def test_bad_parallel_flags_are_one_line_exit_2_nothing_written(flags, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", "--evaluations", "2", "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_executor_spec_defaults():
    assert isinstance(ExecutorSpec().build(), InProcess)
    pool = ExecutorSpec(workers=3, trial_timeout=5).build()
    assert isinstance(pool, ProcessPool) and pool.workers == 3 and pool.trial_timeout == 5
    with pytest.raises(UserError):
        ProcessPool(0)


def test_a_schema_1_run_is_migrated_and_resumed(tmp_path):
    """A run written before parallel evaluation (no tell order) resumes exactly as a sequential one."""
    run = tmp_path / "run"
    study = Study(SyntheticProblem(2), AgingEvolution(population=6), seed=0, out=run)
    study.optimize(evaluations=10)
    study.close()
    with sqlite3.connect(run / "run.db") as db:
        db.execute("ALTER TABLE candidates DROP COLUMN tell_order")
        db.execute("ALTER TABLE candidates DROP COLUMN asked_before")
        db.execute("ALTER TABLE candidates DROP COLUMN cost")
        db.execute("DROP TABLE remeasures")
        db.execute("DROP TABLE scores")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    reference = Study(SyntheticProblem(2), AgingEvolution(population=6), seed=0)
    reference.optimize(evaluations=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumed = Study.resume(run, SyntheticProblem(2), AgingEvolution(population=6), seed=0)
    resumed.optimize(evaluations=20)
    assert [(t.id, str(t.genome)) for t in resumed.trials] == [(t.id, str(t.genome)) for t in reference.trials]
    resumed.close()
    with RunStore.open(run) as store:
        assert store.get_meta("schema_version") == SCHEMA_VERSION == 5
        assert store.remeasures() == []  # the table added in schema 3 exists, empty
        assert store.scores() == {}  # and the one added in schema 4
        assert all(row.cost is None for row in store.candidates())  # the column added in schema 5, empty


# -- Ray ------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.alone  # a Ray cluster of its own with 1.5 s trial timeouts (pytest-xdist: nothing else meanwhile)
@pytest.mark.xdist_group("ray")  # local_ray is started once per worker that runs a Ray test
def test_ray_backend_isolates_failures_and_completes(local_ray, tmp_path):
    from evonas.engine.ray_executor import RayPool

    problem = SyntheticProblem(2, **FAULTS)
    study = Study(problem, RandomSearch(), seed=5, out=tmp_path / "run")
    result = study.optimize(evaluations=40, executor=RayPool(2, trial_timeout=1.5))
    seen = _check_faults(result.trials, problem, 40)
    assert set(seen) == set(REASONS), f"the fault injection missed some kinds: {seen}"
    assert local_ray.is_initialized(), "the executor shut down a Ray instance it did not start"
    study.close()


@pytest.mark.slow
@pytest.mark.alone
@pytest.mark.xdist_group("ray")
def test_ray_backend_gives_the_same_results_as_one_worker(local_ray):
    from evonas.engine.ray_executor import RayPool

    def search(executor):
        study = Study(SyntheticProblem(2), RandomSearch(), seed=8)
        return {t.id: (str(t.genome), t.metrics) for t in study.optimize(12, executor=executor).trials}

    assert search(RayPool(2)) == search(InProcess())
