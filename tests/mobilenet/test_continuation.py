"""Continuation training under a multi-fidelity schedule: stopping at a rung and continuing later
equals training straight through (training loop, problem, and the real driver with ASHA)."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from evonas.core.errors import UserError
from evonas.core.objectives import Objective
from evonas.core.problem import Budget, Checkpoint, Proposal
from evonas.engine.executors import ProcessPool
from evonas.api.study import Study
from evonas.engine.driver import MaxEvaluations, Search, candidate_seed
from evonas.engine.schedule import ASHA, PROMOTE
from evonas.engine.store import RunStore
from evonas.mobilenet import proxies
from evonas.mobilenet.problem import ImageClassification, accuracy_objective, child_budget
from evonas.mobilenet.training import (TrainState, accuracy, fit_budget, recalibrate_batchnorm, steps_for, train,
                                       train_budget)
from morphisms import APPROXIMATE, FUNCTION_PRESERVING, MorphismPlan
from populations.lemonade import Lemonade
from populations.random_search import RandomSearch


def _weight_norm(model: nn.Module, genome, context) -> float:
    """A trained objective: the L2 norm of every parameter."""
    return float(torch.sqrt(sum((p.detach() ** 2).sum() for p in model.parameters())))


@pytest.fixture(scope="module")
def problem() -> ImageClassification:
    objectives = (accuracy_objective(), proxies.objective("synflow"),
                  Objective.minimize("weight_norm", source=_weight_norm))
    return ImageClassification.from_options(objectives, seed=0, epochs=1.0)


@pytest.fixture(scope="module")
def genome(problem):
    return problem.space.sample(np.random.default_rng(3))


def _roundtrip(value):
    """``value`` through ``torch.save`` and ``torch.load``, as the run store keeps it."""
    buffer = io.BytesIO()
    torch.save(value, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


@torch.no_grad()
def _val_loss(problem, model) -> float:
    model.eval()
    return float(nn.functional.cross_entropy(model(problem.splits.x_val), problem.splits.y_val))


def _assert_same_weights(a: dict, b: dict, atol: float = 1e-6) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=atol, rtol=1e-5), k


def _two_rungs_and_straight(problem, genome, finetune: bool):
    """(model after 1 + 2 epochs through two calls, model after 3 epochs straight through)."""
    s, config = problem.splits, problem.train_config
    start = problem.build(genome, torch.Generator().manual_seed(1))
    if finetune:  # a fine-tune starts from trained weights
        train(start, s.x_train, s.y_train, config, torch.Generator().manual_seed(2), epochs=1)
    weights = {k: v.clone() for k, v in start.state_dict().items()}

    straight = problem.build(genome)
    straight.load_state_dict(weights)
    train_budget(straight, s.x_train, s.y_train, config, torch.Generator().manual_seed(5), Budget(3, 3),
                 finetune=finetune)

    first = problem.build(genome)
    first.load_state_dict(weights)
    state = train_budget(first, s.x_train, s.y_train, config, torch.Generator().manual_seed(5), Budget(1, 3),
                         finetune=finetune)
    resumed = problem.build(genome, torch.Generator().manual_seed(99))
    resumed.load_state_dict(_roundtrip(first.state_dict()))
    last = train_budget(resumed, s.x_train, s.y_train, config, torch.Generator().manual_seed(123), Budget(3, 3),
                        resume_state=_roundtrip(state))
    assert state.finetune is finetune and last.step == last.total_steps > state.step > 0
    return resumed, straight


@pytest.mark.slow
@pytest.mark.parametrize("finetune", [False, True], ids=["scratch", "finetune"])
def test_one_plus_two_epochs_through_two_calls_equal_three_straight_through(problem, genome, finetune):
    resumed, straight = _two_rungs_and_straight(problem, genome, finetune)
    _assert_same_weights(resumed.state_dict(), straight.state_dict())
    assert _val_loss(problem, resumed) == pytest.approx(_val_loss(problem, straight), rel=1e-5)


@pytest.mark.slow
def test_a_budget_planned_over_its_own_fidelity_trains_as_before(problem, genome):
    s, config = problem.splits, problem.train_config
    plain, budgeted = problem.build(genome), problem.build(genome)
    train(plain, s.x_train, s.y_train, config, torch.Generator().manual_seed(4), epochs=1.3)
    state = train_budget(budgeted, s.x_train, s.y_train, config, torch.Generator().manual_seed(4), Budget(1.3, 1.3))
    _assert_same_weights(plain.state_dict(), budgeted.state_dict(), atol=0.0)
    assert state.step == state.total_steps


@pytest.mark.slow
def test_batchnorm_running_statistics_do_not_affect_training(problem, genome):
    """Why recalibrating BatchNorm at the end of a rung is harmless: training runs in train mode,
    on batch statistics, so networks that differ only in their running statistics train alike."""
    s, config = problem.splits, problem.train_config
    a = problem.build(genome)
    b = problem.build(genome)
    b.load_state_dict(a.state_dict())
    recalibrate_batchnorm(b, s.x_train, config.batch_size, torch.device("cpu"))
    norms = [m for m in b.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and not torch.equal(norms[0].running_mean, torch.zeros_like(norms[0].running_mean))
    loss = nn.CrossEntropyLoss()
    for model in (a, b):
        fit_budget(model, s.x_train, lambda logits, idx: loss(logits, s.y_train[idx]), config,
                   torch.Generator().manual_seed(8), Budget(0.5, 1))
    _assert_same_weights(a.state_dict(), b.state_dict(), atol=0.0)


@pytest.mark.slow
def test_the_validation_loss_right_after_loading_a_checkpoint_equals_the_loss_before(problem, genome):
    first = problem.evaluate(Proposal(genome, seed=11, budget=Budget(1, 3)))
    assert isinstance(first.train_state, TrainState) and first.fidelity == 1.0
    before = problem.build(genome)
    before.load_state_dict(first.weights)
    after = problem.build(genome, torch.Generator().manual_seed(12))
    after.load_state_dict(_roundtrip(first.weights))
    assert _val_loss(problem, after) == _val_loss(problem, before)
    assert accuracy(after, problem.splits.x_val, problem.splits.y_val) == first.metrics["accuracy"]


@pytest.mark.slow
def test_a_promotion_carries_training_free_metrics_forward_and_measures_the_rest_again(problem, genome):
    first = problem.evaluate(Proposal(genome, seed=11, budget=Budget(1, 3)))
    carried = {**first.metrics, "synflow": 123.0, "params": 7.0}  # a carried value cannot be recomputed
    checkpoint = Checkpoint(0, 1.0, carried, first.weights, first.train_state)
    second = problem.evaluate(Proposal(genome, 0, PROMOTE, seed=12, budget=Budget(3, 3), resume=checkpoint))
    assert second.metrics["synflow"] == 123.0 and second.metrics["params"] == 7.0
    assert second.fidelity == 3.0 and second.train_state is None  # the top rung: nothing continues from it
    assert second.metrics["weight_norm"] != first.metrics["weight_norm"]
    assert second.metrics["train_seconds"] > 0
    straight = problem.evaluate(Proposal(genome, seed=11, budget=Budget(3, 3)))
    _assert_same_weights(second.weights, straight.weights)
    assert second.metrics["accuracy"] == pytest.approx(straight.metrics["accuracy"], abs=1e-9)


def test_a_continuation_without_a_training_state_or_with_another_plan_is_refused(problem, genome):
    weights = problem.build(genome).state_dict()
    with pytest.raises(ValueError, match="no weights or no training state"):
        problem.evaluate(Proposal(genome, 0, PROMOTE, budget=Budget(3, 3), resume=Checkpoint(0, 1.0, {}, weights)))
    state = TrainState({}, {}, False, 5, 10, torch.Generator().get_state(), None, 0)
    with pytest.raises(ValueError, match="laid out over 10 steps"):
        problem.evaluate(Proposal(genome, 0, PROMOTE, budget=Budget(3, 3),
                                  resume=Checkpoint(0, 1.0, {}, weights, state)))


def _child(problem, parent, function_preserving: bool, rng) -> tuple:
    """A LEMONADE child of ``parent`` (genome, weights) by the first operator of the kind that applies."""
    for op in FUNCTION_PRESERVING if function_preserving else APPROXIMATE:
        step = op.propose(parent[0], problem.space, rng)
        if step is not None:
            return step.genome(parent[0]), MorphismPlan(parent[0], step, parent[1])
    raise AssertionError("no operator applies")


def test_a_childs_budget_is_the_rungs_fraction_of_its_finetune():
    bottom = child_budget(Budget(0.25, 2.25), 1.0)
    assert bottom.fidelity == pytest.approx(1 / 9) and bottom.planned == 1.0
    assert child_budget(Budget(0.75, 2.25), 0.5).fidelity == pytest.approx(1 / 6)
    assert child_budget(Budget(2.25, 2.25), 0.5) == Budget(0.5, 0.5)  # the top rung: the whole fine-tune, exactly


def _child_rungs(problem, genome, function_preserving: bool):
    """A child trained at rung 0.5 of 1.5 and promoted to 1.5: (first rung, second rung, child genome, plan)."""
    parent = problem.evaluate(Proposal(genome, seed=1))
    child, plan = _child(problem, (genome, parent.weights), function_preserving, np.random.default_rng(0))
    first = problem.evaluate(Proposal(child, 0, "morph", plan, seed=2, budget=Budget(0.5, 1.5)))
    checkpoint = Checkpoint(1, 0.5, first.metrics, first.weights, _roundtrip(first.train_state))
    second = problem.evaluate(Proposal(child, 1, PROMOTE, seed=3, budget=Budget(1.5, 1.5), resume=checkpoint))
    return first, second, child, plan


@pytest.mark.slow
@pytest.mark.parametrize("function_preserving", [True, False], ids=["finetune", "repair"])
def test_a_childs_rungs_are_fractions_of_its_finetune_and_a_promotion_continues_it(problem, genome,
                                                                                   function_preserving):
    first, second, _, _ = _child_rungs(problem, genome, function_preserving)
    own = steps_for(problem.inherit_epochs, len(problem.splits.x_train), problem.train_config.batch_size)
    assert first.metrics["inherited"] == 1.0 and first.fidelity == 0.5  # the trial stays on the schedule's rung
    assert first.train_state.finetune and first.train_state.total_steps == own  # laid over its own fine-tune
    assert first.train_state.step == steps_for(problem.inherit_epochs / 3, len(problem.splits.x_train),
                                               problem.train_config.batch_size) < own
    assert first.cost == pytest.approx(problem.inherit_epochs / 3)
    assert second.metrics["inherited"] == 1.0 and second.fidelity == 1.5 and second.train_state is None
    assert second.cost == pytest.approx(problem.inherit_epochs * 2 / 3)
    assert first.cost + second.cost == pytest.approx(problem.inherit_epochs)  # the rungs cost its fine-tune
    assert 0.0 <= second.metrics["accuracy"] <= 1.0


@pytest.mark.slow
def test_a_child_checkpoint_of_an_older_run_continues_on_the_schedules_scale(problem, genome):
    """Before children's rungs were scaled, a child's rung was laid over the schedule's top rung;
    such a checkpoint (a resumed older run) continues on that scale, its cost the fidelity increment."""
    old = ImageClassification(problem.splits, problem.space, problem.objectives, problem.train_config,
                              problem.seed, inherit_epochs=1.5)  # rung 0.5 laid over 1.5: the old layout
    parent = old.evaluate(Proposal(genome, seed=1))
    child, plan = _child(old, (genome, parent.weights), True, np.random.default_rng(0))
    first = old.evaluate(Proposal(child, 0, "morph", plan, seed=2, budget=Budget(0.5, 1.5)))
    assert first.cost == pytest.approx(0.5)
    checkpoint = Checkpoint(1, 0.5, first.metrics, first.weights, _roundtrip(first.train_state))
    second = problem.evaluate(Proposal(child, 1, PROMOTE, seed=3, budget=Budget(1.5, 1.5), resume=checkpoint))
    assert problem.inherit_epochs != 1.5 and second.cost is None and second.fidelity == 1.5


@pytest.mark.slow
def test_a_childs_top_rung_equals_its_finetune_without_a_schedule(problem, genome):
    """Continued through two rungs, a function-preserving child ends with the very weights of its
    ``inherit_epochs`` fine-tune without a schedule (same seed: same child weights, same shuffling)."""
    _, second, child, plan = _child_rungs(problem, genome, function_preserving=True)
    plain = problem.evaluate(Proposal(child, 0, "morph", plan, seed=2))
    assert plain.metrics["inherited"] == 1.0 and plain.cost is None
    _assert_same_weights(second.weights, plain.weights)


def _search(problem, store=None, callbacks=()) -> Search:
    return Search(problem, RandomSearch(), MaxEvaluations(4), seed=5, store=store, callbacks=callbacks,
                  schedule=ASHA(min_epochs=0.5, max_epochs=1.5, eta=3))


def _promoted(search: Search):
    promoted = [t for t in search.trials if t.operator == PROMOTE]
    assert len(promoted) == 1 and promoted[0].ok and promoted[0].fidelity == 1.5
    return promoted[0]


def _straight_through(problem, search, trial) -> dict:
    """The weights of ``trial``'s genome trained 1.5 epochs straight through with its first rung's seed."""
    first = next(t for t in search.trials if t.id == trial.parent_id)
    assert first.fidelity == 0.5 and first.parent_id is None
    proposal = Proposal(trial.genome, seed=candidate_seed(search.seed, first.id), budget=Budget(1.5, 1.5))
    return problem.evaluate(proposal).weights


@pytest.mark.slow
def test_a_promoted_candidate_through_the_driver_ends_as_if_trained_straight_through(problem, tmp_path):
    search = _search(problem, RunStore.create(tmp_path / "run", {}))
    search.run()
    trial = _promoted(search)
    assert trial.metrics["synflow"] == next(t for t in search.trials if t.id == trial.parent_id).metrics["synflow"]
    _assert_same_weights(search.store.load_weights(trial.id), _straight_through(problem, search, trial))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["process", pytest.param("ray", marks=[pytest.mark.alone,
                                                                              pytest.mark.xdist_group("ray")])])
def test_promotions_cross_worker_processes_and_still_end_as_if_trained_straight_through(backend, request, tmp_path):
    """Checkpoints travel to a pool worker (pickled through its pipe) or a Ray actor (its object store)."""
    from hardware.objectives import params

    problem = ImageClassification.from_options((accuracy_objective(), params()), seed=0, epochs=1.0)  # importable by Ray
    if backend == "ray":
        request.getfixturevalue("local_ray")
        from evonas.engine.ray_executor import RayPool

        executor = RayPool(2)
    else:
        executor = ProcessPool(2)
    search = _search(problem, RunStore.create(tmp_path / "run", {}))
    search.termination = MaxEvaluations(7)
    search.run(executor)
    promoted = [t for t in search.trials if t.operator == PROMOTE]
    assert promoted and all(t.ok for t in promoted)
    for trial in promoted:
        _assert_same_weights(search.store.load_weights(trial.id), _straight_through(problem, search, trial))


@pytest.mark.slow
def test_without_a_store_the_driver_keeps_checkpoints_in_memory(problem):
    search = _search(problem)
    search.run()
    trial = _promoted(search)
    _assert_same_weights(search.weights_in_memory_[trial.id], _straight_through(problem, search, trial))


@pytest.mark.slow
def test_a_missing_checkpoint_file_stops_the_search_with_one_line(problem, tmp_path):
    def lose_checkpoints(search, trial):
        if search.n_evaluated == 3:
            shutil.rmtree(tmp_path / "run" / "checkpoints")

    search = _search(problem, RunStore.create(tmp_path / "run", {}), callbacks=(lose_checkpoints,))
    with pytest.raises(UserError, match="never restarted from scratch") as raised:
        search.run()
    assert "\n" not in str(raised.value)


@pytest.mark.slow
def test_an_epoch_budget_counts_what_children_trained_and_a_resume_keeps_it_exact(tmp_path):
    """Under ASHA a LEMONADE child's rung costs its fraction of ``inherit_epochs``; ``epochs_spent``
    adds those costs, bounds the search, and is rebuilt exactly from the store on resume."""
    from hardware.objectives import params

    problem = ImageClassification.from_options((accuracy_objective(), params()), seed=0, epochs=1.0,
                                               inherit_epochs=0.5)

    def lemonade():
        return Lemonade(n_pc=4, n_ac=2, n_init=2)

    schedule = dict(schedule=ASHA(min_epochs=0.5, max_epochs=1.5, eta=3))
    study = Study(problem, lemonade(), seed=1, out=tmp_path / "run", **schedule)
    study.optimize(epochs=3)
    search = study.search
    study.close()
    by_id = {t.id: t for t in search.trials}
    children = [t for t in search.trials if t.metrics["inherited"] == 1.0]
    assert any(t.operator != PROMOTE for t in children), "no child was trained"
    expected = 0.0
    for t in search.trials:
        added = t.fidelity - (by_id[t.parent_id].fidelity if t.operator == PROMOTE else 0.0)
        assert t.cost == (pytest.approx(added * 0.5 / 1.5) if t in children else None)
        expected += t.cost if t in children else added
    assert search.epochs_spent == pytest.approx(expected) and expected < sum(t.fidelity for t in search.trials)
    assert 3 <= search.epochs_spent < 3 + 1.0  # one at a time: the last trial overran by at most one rung (0.5 -> 1.5)
    resumed = Study.resume(tmp_path / "run", problem, lemonade(), **schedule)
    assert resumed.search.epochs_spent == search.epochs_spent
    assert [(t.id, t.cost) for t in resumed.trials] == [(t.id, t.cost) for t in search.trials]
    resumed.close()
