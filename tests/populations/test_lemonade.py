"""LEMONADE: density-based selection, morphism children, inherited weights across a restart, CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from evonas.api.launch import open_study, resume_study
from evonas.api.study import Study
from evonas.core.objectives import Constraint
from evonas.api.spec import RunSpec
from evonas.cli import main
from evonas.core.errors import UserError
from evonas.core.problem import Trial, TrialState
from evonas.mobilenet.space import MobileNetSpace, SpaceConfig
from evonas.engine.store import RunStore
from morphisms import MORPHISMS, MorphismPlan
from evonas.testing.synthetic import SyntheticProblem
from populations.lemonade import Lemonade, inverse_density_probabilities, log_standardize

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
    assert main(["export", str(run), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["models"] and all((out / m["file"]).is_file() for m in manifest["models"])


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
