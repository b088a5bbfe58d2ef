"""LEMONADE: density-based selection, morphism children, inherited weights across a restart, CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from evonas.api.launch import open_study, resume_study
from evonas.api.study import Study
from evonas.core.objectives import Constraint, Objective
from evonas.api.spec import RunSpec
from evonas.cli import main
from evonas.core.errors import UserError
from evonas.core.problem import Proposal, Trial, TrialState
from evonas.mobilenet.space import MobileNetSpace, SpaceConfig
from evonas.engine.store import RunStore
from morphisms import MORPHISMS, MorphismPlan
from evonas.problems.grid import IntegerGenome
from evonas.testing.synthetic import SyntheticProblem
from populations.lemonade import Lemonade, inverse_density_probabilities, log_standardize, rank_weights

SPACE = MobileNetSpace(SpaceConfig.for_resolution(8))
MORPHISM_NAMES = {m.name for m in MORPHISMS}


def test_isolated_point_is_most_likely_and_values_match_the_formula():
    params = np.array([[1e3], [1.2e3], [1e6]])  # two neighbours and one isolated network
    h = 0.5
    p = inverse_density_probabilities(params, params, bandwidth=h)
    # by hand: z = standardised log10 values; density = mean of Gaussian kernels of width h
    logs = np.log10(params[:, 0])
    z = (logs - logs.mean()) / logs.std()
    density = np.exp(-((z[:, None] - z[None, :]) ** 2) / (2 * h * h)).mean(axis=1) / (h * np.sqrt(2 * np.pi))
    expected = (1 / density) / (1 / density).sum()
    np.testing.assert_allclose(p, expected, rtol=1e-9)
    # z = (-0.735, -0.679, 1.414); density = (0.5302, 0.5303, 0.2660): the neighbours share
    # their kernels, the isolated point has only its own (1/3 / (h sqrt(2 pi)) = 0.2660)
    np.testing.assert_allclose(density, [0.5302, 0.5303, 0.2660], atol=1e-4)
    np.testing.assert_allclose(p, [0.2504, 0.2504, 0.4991], atol=1e-4)
    assert np.argmax(p) == 2


def test_children_in_sparse_regions_are_preferred():
    ref = np.array([[1e3, 2e5], [1.1e3, 2.1e5], [1.2e3, 2.3e5], [5e4, 9e6]])
    queries = np.array([[1.05e3, 2.05e5], [2e4, 3e6]])
    p = inverse_density_probabilities(ref, queries)
    assert p[1] > p[0] and p.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(log_standardize(ref, ref).mean(axis=0), 0, atol=1e-12)


def _trial(i, genome, acc, params):
    metrics = {"accuracy": acc, "params": params, "flops": 10 * params}
    return Trial(i, genome, None, "random", TrialState.OK, metrics, np.array([-acc, params]))


def test_children_are_morphisms_of_front_members_or_plain_mutations():
    rng = np.random.default_rng(0)
    front = [_trial(i, SPACE.sample(rng), 0.5 + 0.1 * i, 1e4 * (i + 1)) for i in range(3)]
    for morphisms in (MORPHISMS, ()):
        strategy = Lemonade(n_pc=6, n_ac=3, n_init=1, morphisms=morphisms)
        strategy.setup(SPACE, 2, np.random.default_rng(1))
        for t in front:
            strategy.tell(t)
        proposals = [strategy.ask() for _ in range(6)]
        ids = {t.id: t for t in front}
        for p in proposals:
            assert p.parent_id in ids
            SPACE.validate(p.genome)
            if morphisms:
                assert isinstance(p.payload, MorphismPlan) and p.operator in MORPHISM_NAMES
                assert p.payload.parent_genome == ids[p.parent_id].genome
                assert p.payload.step.genome(p.payload.parent_genome) == p.genome
            else:
                assert p.payload is None and p.operator.startswith("mutate_")
        assert len({p.genome for p in proposals}) == len(proposals)


# these tests check inheritance, not latency: a short plain timing (no drift compensation, which
# on a loaded machine takes each measurement again up to three times for up to 4 s each)
QUICK_TIMING = dict(compensate=False, warmup_min=2, warmup_max=6, repeats_min=5, min_seconds=0.0)
QUICK_TIMING_FLAGS = ["--compensate", "false", "--warmup-min", "2", "--warmup-max", "6", "--repeats-min", "5",
                      "--min-seconds", "0"]


def _spec(**kw) -> RunSpec:
    return RunSpec(strategy="lemonade", target="cpu", seed=3, strategy_options=dict(n_init=2, n_pc=4, n_ac=1),
                   problem_options=dict(epochs=0.5, inherit_epochs=0.25, batch_size=64), target_options=QUICK_TIMING,
                   **kw)


@pytest.mark.slow
def test_restart_keeps_front_weights_and_children_inherit_them(tmp_path):
    run = tmp_path / "run"
    study = open_study(_spec(evaluations=4), run)
    front_ids = {t.id for t in study.optimize(evaluations=4).front}
    study.close()
    weights = {int(p.stem) for p in (run / "weights").glob("*.pt")}
    assert weights == front_ids  # the population's weights survive; others are pruned

    resumed, _ = resume_study(run)
    assert {t.id for t in resumed.search.front()} == front_ids  # population restored from the store
    child = resumed.search.step()
    resumed.close()
    assert child.ok and child.operator in MORPHISM_NAMES and child.parent_id in front_ids
    assert child.metrics["inherited"] == 1.0 and child.fidelity == 0.25
    with RunStore.open(run) as store:
        row = store.candidates()[-1]
    assert (row.parent_id, row.operator) == (child.parent_id, child.operator)


@pytest.mark.slow
def test_cli_search_lemonade_then_export(tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "onnx"
    assert main(["search", "--strategy", "lemonade", "--target", "edge-cpu", "--evaluations", "6",
                 "--epochs", "0.5", "--n-init", "3", "--inherit-epochs", "0.25", "--out", str(run),
                 "--no-progress", *QUICK_TIMING_FLAGS]) == 0
    capsys.readouterr()
    assert main(["history", str(run), "--format", "json"]) == 0
    history = json.loads(capsys.readouterr().out)
    children = [r for r in history if r["parent_id"] is not None]
    assert len(history) == 6 and len(children) == 3
    assert all(r["operator"] in MORPHISM_NAMES for r in children)
    assert main(["front", str(run), "--format", "json"]) == 0
    member = json.loads(capsys.readouterr().out)[-1]["id"]  # one member (the whole front: tests/engine/test_bundle.py)
    assert main(["export", str(run), "--out", str(out), "--select", str(member)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [m["candidate_id"] for m in manifest["models"]] == [member] and (out / manifest["models"][0]["file"]).is_file()


@pytest.mark.slow
def test_without_a_store_children_inherit_weights_kept_in_memory():
    """Inheritance is explicit: a search with no run directory keeps the front's weights in
    memory, and every morphism child is fine-tuned from its parent's (never from scratch)."""
    study = open_study(_spec(evaluations=5), None)
    result = study.optimize(evaluations=5)
    children = [t for t in result.trials if t.parent_id is not None]
    assert children and all(t.ok and t.metrics["inherited"] == 1.0 and t.fidelity == 0.25 for t in children)
    assert set(study.search.weights_in_memory_) == study.search.weights_kept() & {t.id for t in result.trials}
    study.close()


class _WeightedSynthetic(SyntheticProblem):
    """The synthetic problem, each evaluation also returning (tiny) trained weights."""

    def evaluate(self, proposal):
        evaluation = super().evaluate(proposal)
        return dataclasses.replace(evaluation, weights={"id": str(proposal.genome)})


def test_without_a_store_the_weights_of_every_possible_parent_are_kept_and_no_others():
    """LEMONADE draws parents from its own population (the least violating trials while none is
    feasible) and from children it queued earlier; the driver's archive holds the feasible front.
    Checked after every tell while the two differ."""
    problem = _WeightedSynthetic(2)
    study = Study(problem, Lemonade(n_pc=6, n_ac=2, n_init=3), constraints=[Constraint.parse("params<=2.2")], seed=0)
    differed = False
    for _ in range(40):
        study.search.step()
        lemonade, search = study.search.strategy, study.search
        parents = lemonade.parent_ids()
        front = {t.id for t in search.archive.trials}
        differed |= bool(parents - front)
        assert set(search.weights_in_memory_) == (front | parents) & {t.id for t in search.trials if t.ok}
    assert differed
    study.close()


@pytest.mark.slow
def test_a_child_whose_parent_weights_are_missing_is_refused(tmp_path):
    run = tmp_path / "run"
    study = open_study(_spec(evaluations=3), run)
    study.optimize(evaluations=3)
    study.close()
    for path in (run / "weights").glob("*.pt"):
        path.unlink()
    resumed, _ = resume_study(run)
    with pytest.raises(UserError, match="never trained from scratch"):
        resumed.search.step()
    resumed.close()


def test_children_deep_inside_a_dense_cluster_keep_a_non_zero_chance():
    """An exp underflow must not zero a child's probability: accepting n_ac children without
    replacement needs n_ac non-zero ones (a 6-evaluation CLI run hit this)."""
    ref = np.array([[1e3, 1e5], [1.1e3, 1.1e5], [1e6, 1e8]])
    queries = np.array([[1e3, 1e5]] * 3 + [[5e6, 5e8]])
    p = inverse_density_probabilities(ref, queries, bandwidth=0.01)
    assert (p > 0).all() and np.isclose(p.sum(), 1.0) and p.argmax() == 3
    np.random.default_rng(0).choice(len(p), size=2, replace=False, p=p)


# -- the prior: a training-free objective's rank among a generation's children ------------------

def _first_choice(model, genome, context) -> float:
    """A known training-free score: the genome's first choice (higher is better)."""
    return float(genome.choices[0])


FIRST = Objective.maximize("first", source=_first_choice, training_free=True)


class _ProxySynthetic(SyntheticProblem):
    """The synthetic problem, scoring untrained "networks" by a function of the genome alone."""

    def training_free(self, genomes, objective):
        return [objective.source(None, g, None) for g in genomes]


def test_rank_weights_by_hand():
    # maximised: to_min = (-3, nan -> inf, -1, -3); ranks (1.5, 4, 3, 1.5) of m = 4
    w = rank_weights(np.array([3.0, np.nan, 1.0, 3.0]), FIRST, strength=1.0)
    np.testing.assert_allclose(w, [3.5 / 4, 1 / 4, 2 / 4, 3.5 / 4])
    np.testing.assert_allclose(rank_weights(np.array([3.0, np.nan, 1.0, 3.0]), FIRST, 2.0), w ** 2)
    np.testing.assert_allclose(rank_weights(np.array([5.0, 1.0]), FIRST, 0.0), [1.0, 1.0])


def _bound(strategy, problem, seed=0, n_told=6):
    """``strategy`` bound to ``problem`` and told ``n_told`` random genomes (their true metrics)."""
    strategy.bind(problem)
    strategy.setup(problem.space, len(problem.objectives), np.random.default_rng(seed))
    rng = np.random.default_rng(100)
    for i in range(n_told):
        genome = problem.space.sample(rng)
        metrics = problem.evaluate(Proposal(genome, None, "random")).metrics
        values = np.array([-metrics["accuracy"], metrics["params"]])
        strategy.tell(Trial(i, genome, None, "random", TrialState.OK, metrics, values))
    return strategy


def test_the_prior_weighs_acceptance_by_rank_exactly():
    """Uniform density weights (no cheap objectives): the acceptance probabilities are the rank
    weights, normalised: children scoring 3, 1, 2 weigh 1, 1/3, 2/3, i.e. 1/2, 1/6, 1/3."""
    lemonade = _bound(Lemonade(cheap=(), prior=FIRST), _ProxySynthetic(2))
    kids = [Proposal(IntegerGenome((c, 0, 0, 0, 0, 0)), 0, "mutate") for c in (3, 1, 2)]
    np.testing.assert_allclose(lemonade._with_prior(np.full(3, 1 / 3), kids), [1 / 2, 1 / 6, 1 / 3])


def test_the_prior_moves_accepted_children_towards_the_proxy():
    """Over 200 generations from the same front, children accepted under the prior score higher on
    it than those accepted without (the kids are the same draws: the prior draws no random numbers)."""
    problem = _ProxySynthetic(2)

    def accepted_scores(**prior):
        scores = []
        for seed in range(200):
            lemonade = _bound(Lemonade(n_pc=8, n_ac=1, **prior), problem, seed)
            scores += [_first_choice(None, p.genome, None) for p in lemonade.generation()]
        return np.array(scores)

    without, weighted, strong = accepted_scores(), accepted_scores(prior=FIRST), \
        accepted_scores(prior=FIRST, prior_strength=8.0)
    assert without.mean() < weighted.mean() < strong.mean()
    assert strong.mean() - without.mean() > 0.5  # choices run from 0 to 3


def test_no_prior_is_todays_lemonade():
    """Declaring no prior changes nothing: the same genomes in the same order (the stream is untouched)."""
    def genomes(strategy):
        with Study(SyntheticProblem(2), strategy, seed=4) as study:
            return [str(t.genome) for t in study.optimize(evaluations=30).trials]

    assert genomes(Lemonade(n_pc=6, n_ac=2, n_init=3)) == \
        genomes(Lemonade(n_pc=6, n_ac=2, n_init=3, prior=None, prior_strength=5.0))


def test_a_run_with_a_prior_resumes_exactly(tmp_path):
    reference = Study(_ProxySynthetic(2), Lemonade(n_pc=6, n_ac=2, n_init=3, prior=FIRST), seed=5)
    expected = [(t.id, str(t.genome), t.parent_id) for t in reference.optimize(evaluations=20).trials]
    first = Study(_ProxySynthetic(2), Lemonade(n_pc=6, n_ac=2, n_init=3, prior=FIRST), seed=5, out=tmp_path / "run")
    first.optimize(evaluations=9)
    first.close()
    resumed = Study.resume(tmp_path / "run", _ProxySynthetic(2), Lemonade(n_pc=6, n_ac=2, n_init=3, prior=FIRST))
    got = [(t.id, str(t.genome), t.parent_id) for t in resumed.optimize(evaluations=20).trials]
    resumed.close()
    assert got == expected


@pytest.mark.parametrize("prior,message", [
    (FIRST, r"^problem SyntheticProblem cannot score untrained networks"),
    (Objective.maximize("accuracy"), r"^a LEMONADE prior needs a training-free objective with a source, not accuracy$"),
    ("nwot", r"^option 'prior' must be an Objective"),
])
def test_a_prior_the_problem_cannot_compute_is_refused_in_one_line_before_writing(prior, message, tmp_path):
    with pytest.raises(UserError, match=message) as refused:
        Study(SyntheticProblem(2), Lemonade(prior=prior), out=tmp_path / "run")
    assert "\n" not in str(refused.value) and not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags,message", [
    (["--prior", "nwot"], "cannot score untrained networks"),
    (["--prior", "no_such_objective"], "unknown objective 'no_such_objective'"),
    (["--prior", "nwot", "--prior-strength", "-1"], "--prior-strength must be between 0 and 100, got -1"),
])
def test_the_cli_refuses_a_prior_in_one_line(flags, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", "--space", "grid", "--strategy", "lemonade", *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_only_strategies_with_a_prior_get_the_flag(capsys):
    assert main(["search", "--strategy", "lemonade", "--help"]) == 0
    assert "--prior OBJECTIVE" in capsys.readouterr().out
    assert main(["search", "--strategy", "aging", "--help"]) == 0
    assert "--prior " not in capsys.readouterr().out


def test_a_spec_resolves_the_prior_by_name():
    from evonas.api.spec import build_strategy

    strategy = build_strategy(RunSpec(strategy="lemonade", strategy_options={"prior": "nwot"}))
    assert isinstance(strategy.prior, Objective) and strategy.prior.name == "nwot" and strategy.prior.training_free
    assert RunSpec.from_dict(RunSpec(strategy_options={"prior": "nwot"}).to_dict()).strategy_options["prior"] == "nwot"


@pytest.mark.slow
def test_cli_search_with_a_proxy_prior_then_resume(tmp_path, capsys):
    """--prior nwot on the embedded digits: stored by name, resolved again on resume, exactly continued."""
    run = tmp_path / "run"
    flags = ["search", "--strategy", "lemonade", "--prior", "nwot", "--objectives", "accuracy,params", "--epochs", "0.2",
             "--inherit-epochs", "0.1", "--n-init", "2", "--n-pc", "4", "--n-ac", "1", "--no-progress", "--quiet"]
    assert main([*flags, "--evaluations", "4", "--out", str(run)]) == 0
    with RunStore.open(run) as store:
        assert store.config["search"]["strategy_options"]["prior"] == "nwot"
    assert main(["search", "--resume", str(run), "--evaluations", "6", "--quiet", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["history", str(run), "--format", "json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert len(history) == 6 and sum(r["parent_id"] is not None for r in history) == 4


def test_with_prior_draws_each_random_genome_is_the_best_of_its_draws():
    """P0 by hand: the same generator's draws, four per genome, the highest first choice kept
    (the first of equals); without prior_draws, the plain draws themselves."""
    problem = _ProxySynthetic(2)
    lemonade = _bound(Lemonade(n_init=3, prior=FIRST, prior_draws=4), problem, seed=9, n_told=0)
    plain = _bound(Lemonade(n_init=3, prior=FIRST), problem, seed=9, n_told=0)
    rng = np.random.default_rng(9)
    draws = [problem.space.sample(rng) for _ in range(12)]
    expected = [max(draws[i:i + 4], key=lambda g: g.choices[0]) for i in (0, 4, 8)]
    assert [lemonade.ask().genome for _ in range(3)] == expected
    assert [plain.ask().genome for _ in range(3)] == draws[:3]
