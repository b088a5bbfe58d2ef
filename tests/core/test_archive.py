import numpy as np
import pytest

from evonas.core.errors import UserError
from evonas.core.objectives import Constraint, Direction, Objective, to_min_vector
from evonas.core.problem import Trial, TrialState
from evonas.core.pareto import ParetoArchive, hypervolume, rank_and_crowding


def _trial(i, values, violation=0.0, status=TrialState.OK):
    return Trial(i, f"g{i}", None, "random", status, {}, np.asarray(values, float), violation)


def test_objective_direction_in_type():
    acc, lat = Objective.maximize("accuracy"), Objective.minimize("latency_ms")
    assert acc.direction is Direction.MAXIMIZE and lat.direction is Direction.MINIMIZE
    assert list(to_min_vector((acc, lat), {"accuracy": 0.9, "latency_ms": 3.0})) == [-0.9, 3.0]


def test_constraint_parse_and_violation():
    c = Constraint.parse("latency_ms<=25")
    assert c == Constraint("latency_ms", upper=25.0)
    assert c.violation({"latency_ms": 20}) == 0 and c.violation({"latency_ms": 30}) == 5
    assert Constraint.parse("accuracy >= 0.5").violation({"accuracy": 0.25}) == 0.25
    with pytest.raises(UserError, match="malformed constraint"):
        Constraint.parse("latency < 3")


def test_archive_keeps_exactly_the_non_dominated_points():
    archive = ParetoArchive()
    points = [(3, 1), (1, 3), (2, 2), (2.5, 2.5), (1, 3), (0.5, 4), (2, 1.5)]
    for i, p in enumerate(points):
        archive.add(_trial(i, p))
    assert sorted(tuple(v) for v in archive.values) == [(0.5, 4), (1, 3), (2, 1.5), (3, 1)]
    assert sorted(t.id for t in archive.trials) == [0, 1, 5, 6]
    assert not archive.add(_trial(9, (0.1, 0.1), violation=1.0))  # infeasible never enters
    assert not archive.add(_trial(10, (np.nan, np.nan), status=TrialState.FAILED))


def test_rank_and_crowding_with_constraints():
    values = np.array([[1, 3], [2, 2], [3, 1], [3, 3], [0, 0], [0, 0.5]])
    violation = np.array([0, 0, 0, 0, 2.0, 1.0])
    rank, crowd = rank_and_crowding(values, violation)
    assert list(rank[:4]) == [0, 0, 0, 1]
    assert rank[5] < rank[4] and rank[5] > rank[3]  # infeasible after feasible, by violation
    assert np.isinf(crowd[0]) and np.isinf(crowd[2]) and np.isfinite(crowd[1])


def test_hypervolume_hand_checked():
    # two points in a unit box, reference (1,1): union of [0.2,1]x[0.6,1] and [0.6,1]x[0.2,1]
    hv = hypervolume(np.array([[0.2, 0.6], [0.6, 0.2]]), np.zeros(2), np.ones(2))
    assert hv == pytest.approx(0.8 * 0.4 + 0.4 * 0.8 - 0.4 * 0.4)
    # scaling by bounds: same points in a [0,10] box
    assert hypervolume(np.array([[2, 6], [6, 2]]), np.zeros(2), np.full(2, 10.0)) == pytest.approx(hv)
