"""The training-free screen: the best of K proposals by a zero-cost proxy is trained, the others are
told back to the strategy as screened out, and problems that cannot score untrained networks refuse."""

from __future__ import annotations

import numpy as np
import pytest

from evonas.api.study import Study
from evonas.cli import main
from evonas.core.errors import UserError
from evonas.engine.store import RunStore
from evonas.mobilenet.problem import ImageClassification, accuracy_objective
from evonas.mobilenet.proxies import objective
from evonas.testing.synthetic import SyntheticProblem
from hardware.objectives import params
from populations.nsga2 import PymooNSGA2
from populations.random_search import RandomSearch
from populations.screen import Screened


class Recording(RandomSearch):
    """Random search that keeps what it proposed and what it was told (to check the screen against)."""

    def setup(self, space, n_objectives, rng):
        super().setup(space, n_objectives, rng)
        self.asked_, self.told_ = [], []

    def ask(self):
        proposal = super().ask()
        self.asked_.append(proposal.genome)
        return proposal

    def tell(self, trial):
        super().tell(trial)
        self.told_.append(trial)


@pytest.fixture(scope="module")
def problem():
    return ImageClassification.from_options([accuracy_objective(), params()], seed=2, epochs=0.2)


def test_the_best_of_k_by_the_proxy_is_handed_out_and_the_rest_screened_out(problem):
    nwot = objective("nwot")
    inner = Recording()
    study = Study(problem, Screened(inner, nwot, k=4), seed=1)
    pendings = [study.ask() for _ in range(3)]
    assert len(inner.asked_) == 12
    for i, pending in enumerate(pendings):
        drawn = inner.asked_[4 * i:4 * i + 4]
        scores = problem.training_free(drawn, nwot)
        assert str(pending.genome) == str(drawn[int(np.argmax(scores))])
    out = [t for t in inner.told_ if t.id < 0]
    assert len(out) == 9 and len({t.id for t in out}) == 9
    assert all(not t.ok and t.error == "screened out by nwot" for t in out)
    assert {str(t.genome) for t in out}.isdisjoint(str(p.genome) for p in pendings)
    trial = study.tell(pendings[0], problem.evaluate(pendings[0].proposal))
    assert inner.told_[-1] is trial  # the trained candidate reaches the strategy as itself


def test_screened_out_proposals_are_never_stored_or_evaluated(problem, tmp_path):
    study = Study(problem, Screened(RandomSearch(), objective("synflow"), k=3), seed=0, out=tmp_path / "run")
    result = study.optimize(evaluations=3)
    study.close()
    with RunStore.open(tmp_path / "run") as store:
        rows = store.candidates()
    assert [r.id for r in rows] == [0, 1, 2] and all(r.status.value == "ok" for r in rows)
    assert len(result.trials) == 3


def test_a_strategy_waiting_for_its_generation_is_never_left_waiting():
    # NSGA-II asks pymoo for a whole generation and waits for every member's tell; the screen tells the
    # screened-out ones at once, so the search goes on past the first generation
    problem = SyntheticProblem()

    class Screenable(SyntheticProblem):
        def training_free(self, genomes, objective):
            return [self.cheap_metrics(g, ["params"])["params"] for g in genomes]

    from evonas.core.objectives import Objective

    smallest = Objective.minimize("params", source=lambda *a: 0.0, training_free=True)
    study = Study(Screenable(), Screened(PymooNSGA2(), smallest, k=3), seed=4)
    trials = study.optimize(evaluations=60).trials
    assert len(trials) == 60 and all(t.ok for t in trials)
    chosen = np.mean([t.metrics["params"] for t in trials])
    plain = Study(problem, PymooNSGA2(), seed=4).optimize(evaluations=60).trials
    assert chosen < np.mean([t.metrics["params"] for t in plain])  # the screen picked the smaller networks


def test_a_problem_that_cannot_score_untrained_networks_refuses_before_writing(tmp_path):
    with pytest.raises(UserError, match="cannot score untrained networks"):
        Study(SyntheticProblem(), Screened(RandomSearch(), objective("nwot")), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("screen, message", [
    ("nwot", "malformed --screen 'nwot'"), ("nwot:0", "malformed"), ("nope:4", "unknown objective 'nope'"),
])
def test_bad_screen_flags_are_one_line_exit_2(screen, message, tmp_path, capsys):
    code = main(["search", "--screen", screen, "--evaluations", "1", "--out", str(tmp_path / "run"),
                 "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_screen_from_the_command_line(tmp_path, capsys):
    code = main(["search", "--screen", "nwot:3", "--strategy", "aging", "--objectives", "accuracy,params",
                 "--epochs", "0.2", "--evaluations", "3", "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 0
    assert "3 candidates evaluated" in capsys.readouterr().out
