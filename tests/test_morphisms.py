"""Network morphisms: function preservation, validity, inapplicability, distillation repair."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from evonas.mobilenet.builder import MobileNetLike, build
from evonas.mobilenet.space import Block, Genome, MobileNetSpace, SpaceConfig, Stage
from evonas.mobilenet.training import TrainConfig, train
from morphisms import APPROXIMATE, FUNCTION_PRESERVING, MORPHISMS, MorphismPlan
from morphisms.operators import PruneExpand, channel_importance
from evonas.mobilenet.distill import distill, kd_loss

SPACE = MobileNetSpace(SpaceConfig.for_resolution(8))
INPUT = (1, 8, 8)
CLASSES = 10
CASES_PER_OPERATOR = 50  # x 6 function-preserving operators = 300 cases


# In the small-input space every wider stem would add or remove the first block's residual
# connection, so widen_stem never applies there; it is checked in the 224x224 space's widths
# (stage 0 of 16 or 24 channels), on small inputs.
SPACE_224 = MobileNetSpace(SpaceConfig.for_resolution(224))


def _space_for(op) -> tuple[MobileNetSpace, tuple[int, int, int]]:
    return (SPACE_224, (1, 16, 16)) if op.name == "widen_stem" else (SPACE, INPUT)


def trained_looking(genome: Genome, gen: torch.Generator, space: MobileNetSpace = SPACE,
                    shape: tuple[int, int, int] = INPUT) -> MobileNetLike:
    """A network with random BN statistics and affine parameters and random SE biases."""
    model = build(genome, space.config, shape, CLASSES, gen)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
            elif isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen))
    return model.eval()


def child_model(genome: Genome, state: dict, space: MobileNetSpace = SPACE) -> MobileNetLike:
    model = MobileNetLike(genome, space.config, INPUT[0], CLASSES)
    model.load_state_dict(state)
    return model.eval()


@pytest.mark.parametrize("op", FUNCTION_PRESERVING, ids=lambda op: op.name)
def test_function_preserving_operators_keep_the_output(op):
    rng = np.random.default_rng(zlib.crc32(op.name.encode()))  # str hash() varies per process
    gen = torch.Generator().manual_seed(7)
    space, shape = _space_for(op)
    x = torch.randn(6, *shape, generator=gen)
    checked, worst = 0, 0.0
    for _ in range(50 * CASES_PER_OPERATOR):
        genome = space.sample(rng)
        parent = trained_looking(genome, gen, space, shape)
        result = op.apply(genome, parent.state_dict(), rng, space)
        if result is None:
            assert not op.applies(genome, space)
            continue
        child_genome, state = result
        space.validate(child_genome)
        assert child_genome != genome
        with torch.no_grad():
            diff = (child_model(child_genome, state, space)(x) - parent(x)).abs().max().item()
        worst = max(worst, diff)
        checked += 1
        if checked == CASES_PER_OPERATOR:
            break
    assert checked == CASES_PER_OPERATOR, f"{op.name} applied to only {checked} sampled genomes"
    assert worst <= 1e-5, f"{op.name}: max |child - parent| = {worst:.3g}"


@pytest.mark.parametrize("op", APPROXIMATE, ids=lambda op: op.name)
def test_approximate_operators_give_valid_loadable_children(op):
    rng = np.random.default_rng(3)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(4, *INPUT, generator=gen)
    for _ in range(15):
        genome = SPACE.sample(rng)
        parent = trained_looking(genome, gen)
        result = op.apply(genome, parent.state_dict(), rng, SPACE)
        if result is None:
            continue
        child_genome, state = result
        SPACE.validate(child_genome)
        assert child_genome != genome
        with torch.no_grad():
            assert torch.isfinite(child_model(child_genome, state)(x)).all()


def test_operators_do_not_apply_where_they_cannot():
    c = SPACE.config
    smallest = Genome(8, tuple(Stage(w[0], "re", False, (Block(3, 3),)) for w in c.stage_widths))
    names = {op.name for op in MORPHISMS if op.applies(smallest, SPACE)}
    # minimal depth, kernel, expand and no SE: nothing can shrink; every wider stem would
    # remove the first block's residual connection
    assert names == {"insert_block", "widen_expand", "grow_kernel", "add_se", "widen_stage"}
    for op in MORPHISMS:
        if op.name not in names:
            assert op.apply(smallest, {}, np.random.default_rng(0), SPACE) is None
    # a benchmark genome (not a MobileNet genome) is never applicable
    assert not any(op.applies((0, 1, 2), SPACE) for op in MORPHISMS)


def test_widening_replicates_channels_and_splits_them_unevenly():
    from morphisms.operators import _replication

    g, share = _replication(4, 10)
    assert g.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    for c in range(4):
        assert share[g == c].sum().item() == pytest.approx(1.0)
    assert share[0] > share[4] > share[8] and share[3].item() == pytest.approx(2 / 3)
    assert _replication(4, 6)[1][3].item() == 1.0  # a channel without copies keeps all its weight


def test_widen_stage_reaches_every_wider_choice_but_keeps_residuals():
    from morphisms.operators import WidenStage, _same_residuals

    rng = np.random.default_rng(5)
    op, seen = WidenStage(), set()
    for _ in range(40):
        g = SPACE.sample(rng)
        for i, w in op.sites(g, SPACE):
            assert w in SPACE.config.stage_widths[i] and w > g.stages[i].width
            assert _same_residuals(g, op.child(g, (i, w)), SPACE)
            seen.add((i, w))
    wider = {(i, w) for i, ws in enumerate(SPACE.config.stage_widths) for w in ws if w > min(ws)}
    # stage 0 keeps stride 1 and the stem is 8 or 16 wide: widening it from 8 to 16 always
    # removes (stem 8) or adds (stem 16) the first block's residual connection
    assert seen == wider - {(0, 16)}


def test_insert_block_skips_positions_that_change_shape():
    rng = np.random.default_rng(0)
    g = SPACE.sample(rng)
    for i, j, *_ in FUNCTION_PRESERVING[0].sites(g, SPACE):
        stride = SPACE.config.strides[i]
        if j == 0:
            prev = g.stages[i - 1].width if i else g.stem
            assert stride == 1 and prev == g.stages[i].width


def test_prune_expand_keeps_the_most_important_channels():
    genome = Genome(8, tuple(Stage(w[0], "re", False, (Block(3, 6),)) for w in SPACE.config.stage_widths))
    gen = torch.Generator().manual_seed(0)
    state = trained_looking(genome, gen).state_dict()
    prefix = "stages.0.0."
    scores = channel_importance(state, prefix)
    step = PruneExpand().propose(genome, SPACE, np.random.default_rng(0))
    site = (0, 0, 3)
    child = MorphismPlan(genome, type(step)(PruneExpand(), site), state).child_weights(SPACE.config, gen)
    mid = 8 * 3
    kept = torch.sort(torch.argsort(-scores, stable=True)[:mid]).values
    assert torch.equal(child[prefix + "project_conv.weight"], state[prefix + "project_conv.weight"][:, kept])
    assert scores[kept].min() >= scores[~torch.isin(torch.arange(len(scores)), kept)].max()


def test_distill_pulls_a_student_towards_its_teacher():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images[:600] / 16.0, dtype=torch.float32)[:, None]
    y = torch.tensor(digits.target[:600])
    gen = torch.Generator().manual_seed(5)
    genome = Genome(8, tuple(Stage(w[0], "hs", False, (Block(3, 3),)) for w in SPACE.config.stage_widths))
    teacher = train(build(genome, SPACE.config, INPUT, CLASSES, gen), x, y, TrainConfig(batch_size=32), gen, 3)
    student = build(genome, SPACE.config, INPUT, CLASSES, gen)

    def gap() -> float:
        student.eval(), teacher.eval()
        with torch.no_grad():
            return kd_loss(student(x), teacher(x), y, alpha=1.0).item()

    before = gap()
    distill(student, teacher, x, y, TrainConfig(batch_size=32), gen, epochs=3, alpha=1.0, finetune=False)  # a fresh student
    assert gap() < 0.5 * before
