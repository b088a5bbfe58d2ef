"""The honest protocol: a search sees only its search metrics, a front is scored on held-out
scores, Optuna peers run through the same driver. On a synthetic NB201-shaped table (no shared data)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from evonas.api.compare import _Recorder, format_table, summarize, strategy_with
from evonas.api.registry import PEERS, STRATEGIES, peer_class
from evonas.api.study import AskTellProblem, Study
from evonas.problems.nb201 import N_CELLS, NB201Problem
from evonas.core.objectives import Objective
from evonas.core.pareto import hypervolume
from evonas.core.problem import Proposal
from evonas.engine.driver import MaxEvaluations, Search
from evonas.engine.store import RunStore
from evonas.testing.synthetic import SyntheticSpace
from populations.base import Strategy
from populations.random_search import RandomSearch

SEARCH, SCORE, COST = "valid_acc", "test_acc", "latency"


@pytest.fixture(scope="module")
def disagreeing():
    """A table whose score column disagrees with its search column (noise of 15 points on a 10-95 range)."""
    rng = np.random.default_rng(0)
    search = rng.uniform(10, 95, N_CELLS)
    score = np.clip(search + rng.normal(0, 15, N_CELLS), 0, 100)
    costs = rng.uniform(1, 9, (N_CELLS, 1))
    return NB201Problem(search, costs, SEARCH, (COST,), score=score, score_column=SCORE)


class Spy(Strategy):
    """Wraps a strategy and keeps everything the driver hands it."""

    def __init__(self, inner: Strategy):
        self.inner, self.told, self.problem = inner, [], None

    def check(self, n_objectives):
        self.inner.check(n_objectives)

    def bind(self, problem):
        self.problem = problem
        self.inner.bind(problem)

    def constrain(self, constraints):
        self.inner.constrain(constraints)

    def setup(self, space, n_objectives, rng):
        self.inner.setup(space, n_objectives, rng)

    def ask(self):
        return self.inner.ask()

    def tell(self, trial):
        self.told.append(trial)
        self.inner.tell(trial)


def _all_strategies():
    options = dict(population=8, sample_size=3, n_pc=6, n_ac=2, n_init=4)
    yield from ((name, lambda name=name: strategy_with(name, options)) for name in sorted(STRATEGIES))
    yield from ((name, peer_class(name)) for name in sorted(PEERS) if _has_optuna())


def _has_optuna() -> bool:
    try:
        import optuna  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("name,make", list(_all_strategies()), ids=[n for n, _ in _all_strategies()])
def test_the_strategy_only_ever_sees_the_search_column(disagreeing, name, make):
    spy = Spy(make())
    search = Search(disagreeing, spy, MaxEvaluations(40), seed=3)
    search.run()
    assert len(spy.told) == 40
    for trial in spy.told:
        code = trial.genome.code
        assert set(trial.metrics) == {SEARCH, COST}
        assert trial.values[0] == -disagreeing.accuracy[code] != -disagreeing.score[code]
        assert search.scores[trial.id] == {SCORE: disagreeing.score[code]}
    assert disagreeing.cheap_metrics(spy.told[0].genome, [SEARCH, SCORE, COST]) == {COST: pytest.approx(
        disagreeing.costs[spy.told[0].genome.code, 0])}


def test_the_front_is_chosen_on_search_values_and_scored_on_the_score_column(disagreeing):
    recorder = _Recorder(disagreeing, (50,))
    search = Search(disagreeing, RandomSearch(), MaxEvaluations(50), seed=1, callbacks=(recorder,))
    search.run()
    front = search.front()
    by_hand = np.array([[-disagreeing.score[t.genome.code], disagreeing.costs[t.genome.code, 0]] for t in front])
    expected = hypervolume(by_hand, *disagreeing.score_bounds())
    assert recorder.series["hv"] == [pytest.approx(expected)]
    assert recorder.series["hv_gap"] == [pytest.approx(1 - expected / disagreeing.reference_hypervolume())]
    assert expected != pytest.approx(search.hypervolume())  # the search's own view differs
    true_front = disagreeing.true_front()
    assert np.allclose(hypervolume(true_front, *disagreeing.score_bounds()), disagreeing.reference_hypervolume())
    assert set(-true_front[:, 0]) <= set(disagreeing.score)  # the truth is the score column's front
    best = max((t for t in search.trials if t.feasible), key=lambda t: -t.values[0])
    assert recorder.series["best_feasible"] == [disagreeing.score[best.genome.code]]


def test_without_a_score_column_the_front_is_scored_on_what_was_searched(disagreeing):
    plain = NB201Problem(disagreeing.accuracy, disagreeing.costs, SEARCH, (COST,))
    recorder = _Recorder(plain, (30,))
    search = Search(plain, RandomSearch(), MaxEvaluations(30), seed=1, callbacks=(recorder,))
    search.run()
    assert search.scores == {} and plain.describe()["score_column"] is None
    assert recorder.series["hv"] == [pytest.approx(search.hypervolume())]


def test_summary_and_table_report_each_checkpoint():
    results = {"checkpoints": [10, 20, 30], "reported_checkpoints": [10, 30], "seeds": [0, 1, 2], "peers": ["p"],
               "peer_budget": "distinct", "problem": {"objectives": ["a", "c"], "scored_on": ["s", "c"]},
               "strategies": {"x": {"hv_gap": [[0.5, 0.4, 0.3], [0.7, 0.5, 0.1], [0.6, 0.6, 0.2]]},
                              "p": {"hv_gap": [[0.9, 0.8, 0.4], [1.0, 0.8, 0.4], [0.8, 0.8, 0.4]]}}}
    results["summary"] = summarize(results)
    assert results["summary"]["x"]["hv_gap"]["10"] == pytest.approx({"median": 0.6, "q25": 0.55, "q75": 0.65})
    assert results["summary"]["x"]["hv_gap"]["30"]["median"] == pytest.approx(0.2)
    lines = format_table(results, baseline="p")
    assert "hv_gap @10" in lines[0] and "hv_gap @30" in lines[0] and "@20" not in lines[0]
    assert lines[1].startswith("x ") and "0.67x" in lines[1] and "0.50x" in lines[1]
    assert lines[2].startswith("p (peer)") and "scored on s, c" in lines[3] and lines[4] == "distinct"


@pytest.mark.skipif(not _has_optuna(), reason="Optuna is not installed (pip install -e '.[peers]')")
@pytest.mark.parametrize("peer", sorted(PEERS))
def test_peers_count_distinct_genomes_and_are_reproducible(disagreeing, peer):
    def run(seed):
        search = Search(disagreeing, peer_class(peer)(), MaxEvaluations(30), seed=seed)
        search.run()
        return [str(t.genome) for t in search.trials]

    first = run(0)
    assert len(first) == len(set(first)) == 30
    assert run(0) == first != run(1)


@pytest.mark.skipif(not _has_optuna(), reason="Optuna is not installed (pip install -e '.[peers]')")
def test_peers_see_constraints_as_violations(disagreeing):
    from evonas.core.objectives import Constraint

    search = Search(disagreeing, peer_class("optuna-nsga2")(), MaxEvaluations(30), seed=0,
                    constraints=(Constraint.parse(f"{COST}<=3"),))
    search.run()
    peer = search.strategy
    done = [t for t in peer.study_.trials if t.state.name == "COMPLETE"]
    assert peer.constrained and len(done) >= 30
    assert all((t.constraints["violation"] <= 0) == (t.values[1] <= 3) for t in done)  # Optuna's feasibility = ours
    assert any(t.values[1] <= 3 for t in done) and any(t.values[1] > 3 for t in done)


def test_peers_without_optuna_are_one_clear_error(tmp_path):
    out = tmp_path / "bench"
    code = ("import sys; sys.modules['optuna'] = None; from evonas.cli import main; "
            f"sys.exit(main(['benchmark', 'nb201', '--table', 'unused.csv', '--peers', 'optuna-tpe', "
            f"'--out', {str(out)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: Optuna peers need Optuna: pip install -e '.[peers]'"]
    assert not out.exists()


def test_ask_tell_scores_are_stored_and_never_told(tmp_path):
    space = SyntheticSpace(4, 3)
    problem = AskTellProblem(space, [Objective.maximize("accuracy"), Objective.minimize("ms", bounds=(0, 10))])
    spy = Spy(RandomSearch())
    with Study(problem, spy, seed=2, out=tmp_path / "run") as study:
        for i in range(5):
            pending = study.ask()
            study.tell(pending, {"accuracy": 0.1 * i, "ms": 10 - i}, scores={"test_accuracy": 0.05 * i})
        result = study.result()
    assert [set(t.metrics) for t in spy.told] == [{"accuracy", "ms"}] * 5
    assert result.scores == {i: {"test_accuracy": 0.05 * i} for i in range(5)}
    with RunStore.open(tmp_path / "run") as store:
        assert store.scores() == result.scores
    resumed = Study.resume(tmp_path / "run", problem, Spy(RandomSearch()), seed=2)
    assert resumed.result().scores == result.scores
    assert all(set(t.metrics) == {"accuracy", "ms"} for t in resumed.search.strategy.told)
    resumed.close()


@pytest.mark.parametrize("function", ["zdt1", "zdt3", "dtlz2"])
def test_grid_problems_evaluate_pymoo_functions_on_the_grid(function):
    from pymoo.problems import get_problem

    from evonas.problems.grid import FUNCTIONS, GridProblem

    problem = GridProblem(function, variables=6, levels=5)
    k = FUNCTIONS[function]
    reference = get_problem(function, n_var=6, **({"n_obj": k} if k > 2 else {}))
    genome = problem.space.parse("4-0-1-2-3-0")
    x = np.array([1.0, 0.0, 0.25, 0.5, 0.75, 0.0]) * (reference.xu - reference.xl) + reference.xl
    metrics = problem.evaluate(Proposal(genome)).metrics
    assert list(metrics) == [f"f{i + 1}" for i in range(k)]
    assert np.allclose(list(metrics.values()), reference.evaluate(x[None, :], return_values_of=["F"])[0])
    lower, upper = problem.bounds()
    front = problem.continuous_front()
    assert np.allclose(lower, front.min(axis=0)) and np.all(upper > front.max(axis=0))
    assert 0 < problem.reference_hypervolume() < 1


def test_grid_problem_is_searchable_and_refuses_bad_options():
    from evonas.problems.grid import GridProblem
    from evonas.core.errors import UserError

    problem = GridProblem("zdt2", variables=4, levels=11)
    search = Search(problem, RandomSearch(), MaxEvaluations(200), seed=0)
    search.run()
    assert 0 < search.hypervolume() <= problem.reference_hypervolume()
    for options, message in [(dict(function="zdt9"), "unknown function 'zdt9'"),
                             (dict(variables=1), "--variables >= 2"), (dict(levels=1), "--levels >= 2")]:
        with pytest.raises(UserError, match=message):
            GridProblem(**options)


def test_the_floor_is_a_perfect_search_scored_on_the_score_column(disagreeing):
    plain = NB201Problem(disagreeing.accuracy, disagreeing.costs, SEARCH, (COST,))
    assert plain.floor_hypervolume() == pytest.approx(plain.reference_hypervolume())  # no noise: no floor
    assert disagreeing.floor_hypervolume() < disagreeing.reference_hypervolume()
    cells = tuple(disagreeing.space.decode(np.base_repr(i, 5).zfill(6)) for i in range(N_CELLS))
    everything = Search(disagreeing, RandomSearch(), MaxEvaluations(N_CELLS), seed=0, initial=cells)
    everything.run()
    assert hypervolume(everything.scored_front(), *disagreeing.score_bounds()) == pytest.approx(
        disagreeing.floor_hypervolume())


class _NoEncoding:
    """A space that can only sample and mutate (no integer encoding)."""

    def __init__(self):
        self.inner = SyntheticSpace(4, 3)

    def sample(self, rng):
        return self.inner.sample(rng)

    def mutate(self, genome, rng):
        return self.inner.mutate(genome, rng)

    def parse(self, text):
        return self.inner.parse(text)


def test_study_picks_its_default_strategy_from_what_the_problem_offers(tmp_path):
    from evonas.testing.synthetic import SyntheticProblem
    from populations.aging import AgingEvolution
    from populations.lemonade import Lemonade
    from populations.surrogate_pls import SurrogateParetoLocalSearch

    assert isinstance(Study(SyntheticProblem(3)).strategy, SurrogateParetoLocalSearch)

    class Trains(SyntheticProblem):
        trains_networks = True

    assert isinstance(Study(Trains(2)).strategy, Lemonade)
    objectives = [Objective.maximize("accuracy"), Objective.minimize("ms", bounds=(0, 10))]
    plain = Study(space=_NoEncoding(), objectives=objectives)
    assert isinstance(plain.strategy, AgingEvolution) and plain.strategy.population == 50
    pending = plain.ask()
    plain.tell(pending, {"accuracy": 0.5, "ms": 3.0})
    assert isinstance(Study(SyntheticProblem(2), "aging").strategy, AgingEvolution)
    from evonas.core.errors import UserError

    with pytest.raises(UserError, match="unknown strategy 'agin'"):
        Study(SyntheticProblem(2), "agin", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
