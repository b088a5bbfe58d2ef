"""Noise-aware Pareto dominance: intervals, hand-checked cases, and side-by-side re-measurement."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from evonas.core.objectives import Objective, interval_names, to_min_intervals, to_min_vector
from evonas.core.pareto import NoiseAwareArchive, ParetoArchive, interval_dominates
from evonas.core.problem import Trial, TrialState

ACC, LAT = Objective.maximize("accuracy"), Objective.minimize("latency_ms")
OBJECTIVES = (ACC, LAT)
LOW, HIGH = interval_names("latency_ms")


def trial(i: int, accuracy: float, latency: float, low: float | None = None, high: float | None = None) -> Trial:
    metrics = {"accuracy": accuracy, "latency_ms": latency}
    if low is not None:
        metrics.update({LOW: low, HIGH: high})
    return Trial(i, f"g{i}", None, "random", TrialState.OK, metrics, to_min_vector(OBJECTIVES, metrics))


def dom(a: Trial, b: Trial) -> bool:
    return interval_dominates(*to_min_intervals(OBJECTIVES, a.metrics), *to_min_intervals(OBJECTIVES, b.metrics))


@pytest.mark.parametrize("a, b, a_dom_b, b_dom_a", [
    # separated latency intervals, a more accurate and faster: a dominates
    ((0.9, 10, 9, 11), (0.8, 20, 19, 21), True, False),
    # overlapping latency, a more accurate: latency ties, so accuracy decides: a dominates
    ((0.9, 10, 9, 11), (0.8, 10.5, 9.5, 11.5), True, False),
    # overlapping latency; b's point latency is lower, yet the interval says "tie": a dominates
    ((0.9, 10.5, 9.5, 11.5), (0.8, 10, 9, 11), True, False),
    # separated, a more accurate but slower: a trade-off, neither dominates
    ((0.9, 20, 19, 21), (0.8, 10, 9, 11), False, False),
    # equal accuracy, overlapping latency: a tie everywhere, neither dominates
    ((0.9, 10, 9, 11), (0.9, 10.5, 9.5, 11.5), False, False),
    # equal accuracy, separated latency: the faster dominates
    ((0.9, 10, 9, 10.2), (0.9, 10.5, 10.3, 11.5), True, False),
    # intervals touching at one point overlap (high == low): a tie
    ((0.9, 10, 9, 10), (0.9, 11, 10, 12), False, False),
])
def test_interval_dominance_on_hand_checked_cases(a, b, a_dom_b, b_dom_a):
    ta, tb = trial(0, *a), trial(1, *b)
    assert dom(ta, tb) is a_dom_b and dom(tb, ta) is b_dom_a


def test_without_intervals_it_is_plain_pareto_dominance():
    a, b, c = trial(0, 0.9, 10), trial(1, 0.8, 10.5), trial(2, 0.8, 9)
    assert dom(a, b) and not dom(b, a)
    assert not dom(a, c) and not dom(c, a) and dom(c, b)


def test_a_point_value_outside_its_interval_widens_it():
    low, high = to_min_intervals(OBJECTIVES, {"accuracy": 0.9, "latency_ms": 12.0, LOW: 9.0, HIGH: 11.0})
    assert list(low) == [-0.9, 9.0] and list(high) == [-0.9, 12.0]


class SideBySide:
    """Re-measures two trials to given 'true' latencies with tight intervals, and records the calls."""

    def __init__(self, truth: dict[int, float], spread: float = 0.01):
        self.truth, self.spread, self.calls = truth, spread, []

    def __call__(self, a: Trial, b: Trial) -> tuple[Trial, Trial]:
        self.calls.append((a.id, b.id))
        return self._again(a), self._again(b)

    def _again(self, t: Trial) -> Trial:
        lat = self.truth[t.id]
        metrics = {**t.metrics, "latency_ms": lat, LOW: lat * (1 - self.spread), HIGH: lat * (1 + self.spread)}
        return dataclasses.replace(t, metrics=metrics, values=to_min_vector(OBJECTIVES, metrics))


def test_a_member_is_remeasured_before_it_is_dropped_on_overlapping_intervals():
    # member 0 is truly faster (10 vs 12) but less accurate; a noisy first measurement of the
    # newcomer (11, interval 9..13) overlaps, so only re-measuring can keep member 0.
    remeasure = SideBySide({0: 10.0, 1: 12.0})
    archive = NoiseAwareArchive()
    archive.bind(OBJECTIVES, remeasure)
    assert archive.add(trial(0, 0.80, 10.5, 9.5, 11.5))
    assert archive.add(trial(1, 0.90, 11.0, 9.0, 13.0))
    assert remeasure.calls == [(1, 0)] and archive.remeasured == 1
    assert sorted(t.id for t in archive.trials) == [0, 1]  # both kept: a real trade-off
    assert {t.id: t.metrics["latency_ms"] for t in archive.trials} == {0: 10.0, 1: 12.0}


def test_a_newcomer_is_not_kept_out_on_overlapping_intervals_without_a_second_look():
    # the member looks faster (point 9.5 < 10) but is truly slower; plain dominance of the
    # noisy points would keep the newcomer out, the re-measurement lets it in
    remeasure = SideBySide({0: 11.0, 1: 10.0})
    archive = NoiseAwareArchive()
    archive.bind(OBJECTIVES, remeasure)
    archive.add(trial(0, 0.90, 9.5, 8.5, 10.5))
    assert archive.add(trial(1, 0.80, 10.0, 9.0, 11.0))
    assert remeasure.calls == [(0, 1)] and sorted(t.id for t in archive.trials) == [0, 1]


def test_a_member_that_is_truly_dominated_is_dropped_after_remeasuring():
    remeasure = SideBySide({0: 11.0, 1: 10.0})
    archive = NoiseAwareArchive()
    archive.bind(OBJECTIVES, remeasure)
    archive.add(trial(0, 0.80, 9.5, 8.5, 10.5))  # looked faster than it is
    archive.add(trial(1, 0.90, 10.0, 9.0, 11.0))
    assert [t.id for t in archive.trials] == [1] and remeasure.calls == [(1, 0)]


def test_no_remeasure_when_the_intervals_already_decide():
    remeasure = SideBySide({})
    archive = NoiseAwareArchive()
    archive.bind(OBJECTIVES, remeasure)
    archive.add(trial(0, 0.80, 10.0, 9.0, 11.0))
    archive.add(trial(1, 0.90, 7.0, 6.5, 7.5))  # more accurate and surely faster: no second look
    archive.add(trial(2, 0.70, 30.0, 29.0, 31.0))  # surely dominated
    assert [t.id for t in archive.trials] == [1] and remeasure.calls == []


def test_a_dominated_newcomer_drops_nothing():
    archive = NoiseAwareArchive()
    archive.bind(OBJECTIVES)
    for i, (acc, lat) in enumerate([(0.9, 20.0), (0.8, 10.0), (0.7, 5.0)]):
        archive.add(trial(i, acc, lat, lat * 0.99, lat * 1.01))
    assert not archive.add(trial(9, 0.75, 12.0, 11.9, 12.1))
    assert sorted(t.id for t in archive.trials) == [0, 1, 2]


def test_on_points_the_noise_aware_archive_equals_the_plain_one(rng):
    plain, aware = ParetoArchive(), NoiseAwareArchive()
    aware.bind(OBJECTIVES)
    for i in range(300):
        t = trial(i, float(rng.uniform()), float(rng.uniform(1, 10)))
        assert plain.add(t) == aware.add(t)
    assert sorted(t.id for t in plain.trials) == sorted(t.id for t in aware.trials)


# -- in a search ---------------------------------------------------------------------------------
from evonas.api.study import Study  # noqa: E402
from evonas.core.pareto import dominates  # noqa: E402
from evonas.engine.results import StoredRun  # noqa: E402
from evonas.testing.synthetic import SyntheticProblem  # noqa: E402
from populations.aging import AgingEvolution  # noqa: E402


def _study(seed: int, noise_aware: bool, out=None) -> Study:
    return Study(SyntheticProblem(latency_noise=0.2), AgingEvolution(population=16, sample_size=4),
                 seed=seed, out=out, noise_aware=noise_aware)


def _truly_dominated(study: Study, front) -> int:
    problem = study.problem
    truth = {t.id: np.array([-problem.table_["accuracy"][problem._code(t.genome)],
                             *(problem.table_[c][problem._code(t.genome)] for c in problem.cost_columns)])
             for t in study.search.trials if t.ok}
    return sum(any(dominates(truth[j], truth[t.id]) for j in truth if j != t.id) for t in front)


def test_noise_aware_search_keeps_fewer_truly_dominated_members_than_plain_dominance():
    plain = aware = remeasured = 0
    for seed in range(4):
        a, b = _study(seed, False), _study(seed, True)
        plain += _truly_dominated(a, a.optimize(evaluations=150).front)
        aware += _truly_dominated(b, b.optimize(evaluations=150).front)
        remeasured += b.search.archive.remeasured
        assert [t.genome for t in a.search.trials] == [t.genome for t in b.search.trials]  # same candidates
    assert remeasured > 0 and plain > 0 and aware <= plain / 2


def test_a_stored_noise_aware_run_reads_back_its_front_and_resumes_exactly(tmp_path):
    whole = _study(3, True, tmp_path / "whole")
    expected = whole.optimize(evaluations=120).front
    run = StoredRun.read(tmp_path / "whole")
    assert len(run.remeasures) == whole.search.archive.remeasured > 0
    assert run.noise_aware is True
    rows = run.front
    assert [(r.id, r.metrics) for r in rows] == [(t.id, t.metrics) for t in sorted(
        expected, key=lambda t: tuple(np.round(t.values, 12)))]
    whole.close()

    first = _study(3, True, tmp_path / "split")
    first.optimize(evaluations=50)
    first.close()
    again = Study.resume(tmp_path / "split", SyntheticProblem(latency_noise=0.2),
                         AgingEvolution(population=16, sample_size=4), seed=3)
    assert again.noise_aware  # the run's setting, not the default
    front = again.optimize(evaluations=120).front
    assert sorted((t.id, tuple(t.values)) for t in front) == sorted((t.id, tuple(t.values)) for t in expected)
    again.close()


def test_front_command_shows_each_members_interval(tmp_path, capsys):
    from evonas.cli.search_cmd import print_front

    study = _study(0, True, tmp_path / "run")
    study.optimize(evaluations=40)
    run = StoredRun.read(tmp_path / "run")
    print_front(run.front, run.objectives, tmp_path / "run")
    n = len(run.front)
    lines = capsys.readouterr().out.splitlines()
    members = [line for line in lines[2:] if line and not line.startswith("run directory")]
    assert len(members) == n and all(line.count("[") == 1 for line in members)
    study.close()
