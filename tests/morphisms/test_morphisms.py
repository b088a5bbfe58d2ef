"""Network morphisms: function preservation, validity, inapplicability, distillation repair."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from evonas.core.errors import UserError
from evonas.mobilenet.builder import MobileNetLike, build
from evonas.mobilenet.space import Activation, Block, Genome, MobileNetSpace, SpaceConfig, Stage
from evonas.mobilenet.training import TrainConfig, accuracy, finetune_fraction, loss_scaled_fraction, train
from morphisms import APPROXIMATE, FUNCTION_PRESERVING, MORPHISMS, MorphismPlan, MorphismStep
from morphisms.operators import PruneExpand, channel_importance
from evonas.mobilenet.distill import distill, kd_loss, repair

SPACE = MobileNetSpace(SpaceConfig.for_resolution(8))
INPUT = (1, 8, 8)
CLASSES = 10
CASES_PER_OPERATOR = 50  # x 7 function-preserving operators = 350 cases


# In the small-input space most wider (or narrower) stems would add or remove the first block's
# residual connection (stem and stage 0 share the widths 4, 8, 16), so widen_stem and narrow_stem
# rarely apply there (widen_chain and narrow_chain change both together); they are checked in the
# 224x224 space's widths (stage 0 of 16 or 24 channels), on small inputs.
SPACE_224 = MobileNetSpace(SpaceConfig.for_resolution(224))


def _space_for(op) -> tuple[MobileNetSpace, tuple[int, int, int]]:
    return (SPACE_224, (1, 16, 16)) if op.name in ("widen_stem", "narrow_stem") else (SPACE, INPUT)


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


LOGIT_STD = 5.0  # trained classifiers give logits of a few units; random ones give tiny logits


def with_realistic_logits(model: MobileNetLike, x: torch.Tensor) -> MobileNetLike:
    """Scale the classifier so the logits on ``x`` have standard deviation :data:`LOGIT_STD`,
    so a relative error is measured against logits of the size a trained network gives."""
    with torch.no_grad():
        factor = LOGIT_STD / model(x).std().item()
        model.classifier.weight.mul_(factor)
        model.classifier.bias.mul_(factor)
    return model


def _parent_and_child(op, genome, rng, gen, space, shape, x):
    """A trained-looking parent of ``genome`` and ``op``'s valid, different child of it (genome, state)."""
    parent = with_realistic_logits(trained_looking(genome, gen, space, shape), x)
    result = op.apply(genome, parent.state_dict(), rng, space)
    assert result is not None
    child_genome, state = result
    space.validate(child_genome)
    assert child_genome != genome
    return parent, child_genome, state


# hundreds of random networks each: -m "not slow" keeps the conformance suite's check_morphism, which
# checks the same operators (valid, loadable children; function preservation) on 40 random genomes each
@pytest.mark.slow
@pytest.mark.parametrize("op", FUNCTION_PRESERVING, ids=lambda op: op.name)
def test_function_preserving_operators_keep_the_output(op):
    """Eval-mode logits of child and parent agree to 1e-5 relative to the logits' scale, over
    CASES_PER_OPERATOR random (genome, site) cases per operator (350 in all)."""
    rng = np.random.default_rng(zlib.crc32(op.name.encode()))  # str hash() varies per process
    gen = torch.Generator().manual_seed(7)
    space, shape = _space_for(op)
    x = torch.randn(6, *shape, generator=gen)
    checked, worst = 0, 0.0
    for _ in range(50 * CASES_PER_OPERATOR):
        genome = space.sample(rng)
        if not op.applies(genome, space):  # no child, whatever the weights (no parent built in vain)
            assert op.apply(genome, {}, rng, space) is None
            continue
        parent, child_genome, state = _parent_and_child(op, genome, rng, gen, space, shape, x)
        with torch.no_grad():
            expected = parent(x)
            assert 0.5 * LOGIT_STD < expected.std().item() < 2 * LOGIT_STD
            relative = ((child_model(child_genome, state, space)(x) - expected).abs().max()
                        / expected.abs().max()).item()
        worst = max(worst, relative)
        checked += 1
        if checked == CASES_PER_OPERATOR:
            break
    assert checked == CASES_PER_OPERATOR, f"{op.name} applied to only {checked} sampled genomes"
    assert worst <= 1e-5, f"{op.name}: max |child - parent| / max |parent| = {worst:.3g}"


@pytest.mark.slow  # 60 random genomes each; -m "not slow" keeps check_morphism's 40
@pytest.mark.parametrize("op", APPROXIMATE, ids=lambda op: op.name)
def test_approximate_operators_give_valid_loadable_close_children(op):
    """Valid, loadable children whose logits stay finite and near the parent's (distillation
    then repairs the rest)."""
    rng = np.random.default_rng(3)
    gen = torch.Generator().manual_seed(3)
    space, shape = _space_for(op)
    x = torch.randn(4, *shape, generator=gen)
    checked = 0
    for _ in range(60):
        genome = space.sample(rng)
        if not op.applies(genome, space):
            assert op.apply(genome, {}, rng, space) is None
            continue
        _, child_genome, state = _parent_and_child(op, genome, rng, gen, space, shape, x)
        with torch.no_grad():
            child = child_model(child_genome, state, space)(x)
            assert torch.isfinite(child).all()
        checked += 1
    assert checked >= 10, f"{op.name} applied to only {checked} sampled genomes"


def _morphism_names() -> tuple[str, ...]:
    from morphisms.registry import MORPHISM_REGISTRY

    return MORPHISM_REGISTRY.names()


@pytest.mark.parametrize("name", _morphism_names())
def test_every_morphism_passes_check_morphism_on_a_few_genomes(name):
    """-m "not slow"'s conformance check of every registered morphism, on the first 10 of the 40
    random genomes that the conformance suite's ``test_morphism_conforms`` (slow) checks."""
    from evonas.testing import check_morphism
    from morphisms.registry import morphism

    check_morphism(morphism(name), samples=10)


def test_operators_do_not_apply_where_they_cannot():
    c = SPACE.config
    smallest = Genome(min(c.stem_widths), tuple(Stage(w[0], Activation.RELU, False, (Block(3, 3),)) for w in c.stage_widths))
    names = {op.name for op in MORPHISMS if op.applies(smallest, SPACE)}
    # minimal depth, kernel, expand and no SE: nothing can shrink; a wider stem alone would
    # remove the first block's residual connection, so it widens only jointly with stage 0
    assert names == {"insert_block", "widen_expand", "grow_kernel", "add_se", "widen_stage", "widen_chain",
                     "swap_activation"}
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
    # stage 0 keeps stride 1 and shares the stem's widths (4, 8, 16): a widening keeps the
    # first block's residual connection only where the stem is neither width, which each wider
    # choice has (4 -> 8 under a 16 stem, 4 -> 16 under an 8 stem, 8 -> 16 under a 4 stem)
    assert seen == wider


def test_widen_chain_widens_the_stem_and_stage_0_together_from_the_narrowest_start():
    """The stem and stage 0 at the same width, joined by stage 0's residual first block, cannot
    widen alone (that would drop the residual); widen_chain widens both, keeping it."""
    from morphisms.operators import WidenChain, WidenStage, WidenStem, _same_residuals

    c = SPACE.config
    smallest = Genome(min(c.stem_widths), tuple(Stage(w[0], Activation.RELU, False, (Block(3, 3),)) for w in c.stage_widths))
    assert smallest.stem == smallest.stages[0].width
    assert not WidenStem().sites(smallest, SPACE)
    assert not [site for site in WidenStage().sites(smallest, SPACE) if site[0] == 0]
    wider = sorted(w for w in set(c.stem_widths) & set(c.stage_widths[0]) if w > smallest.stem)
    assert WidenChain().sites(smallest, SPACE) == [(-1, 0, w) for w in wider]
    child = WidenChain().child(smallest, (-1, 0, wider[0]))
    assert child.stem == child.stages[0].width == wider[0] and child.stages[1:] == smallest.stages[1:]
    rng = np.random.default_rng(6)
    for _ in range(40):  # every site of random genomes: a linked chain, a shared choice, same residuals
        g = SPACE.sample(rng)
        for first, last, w in WidenChain().sites(g, SPACE):
            assert all(SPACE.config.strides[i] == 1 for i in range(first + 1, last + 1))
            assert _same_residuals(g, WidenChain().child(g, (first, last, w)), SPACE)


def test_narrow_chain_keeps_the_same_channels_in_every_member():
    """Output channels that neither the stem nor stage 0 produce (BatchNorm scale and shift 0)
    are the ones narrow_chain drops from both, and the blocks that lose inputs drop only dead
    hidden channels, so the child computes the parent's function exactly."""
    from morphisms.operators import NarrowChain

    c = SPACE.config
    wide = max(set(c.stem_widths) & set(c.stage_widths[0]))
    narrow = min(c.stem_widths)
    stages = (Stage(wide, Activation.HSWISH, False, (Block(3, 3),)),) + tuple(
        Stage(w[0], Activation.RELU, False, (Block(3, 3),)) for w in c.stage_widths[1:])
    genome = Genome(wide, stages)
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(6, *INPUT, generator=gen)
    parent = with_realistic_logits(trained_looking(genome, gen), x)
    dead = torch.randperm(wide, generator=gen)[: wide - narrow]
    with torch.no_grad():
        for bn in (parent.stem[1], parent.stages[0][0].project_bn):
            bn.weight[dead], bn.bias[dead] = 0, 0
        for block in (parent.stages[0][0], parent.stages[1][0]):  # their inputs narrow
            hidden = block.dw_bn.num_features
            gone = torch.randperm(hidden, generator=gen)[: hidden - hidden * narrow // wide]
            block.dw_bn.weight[gone], block.dw_bn.bias[gone] = 0, 0
    site = (-1, 0, narrow)
    assert site in NarrowChain().sites(genome, SPACE)
    child_genome = NarrowChain().child(genome, site)
    assert child_genome.stem == child_genome.stages[0].width == narrow
    state = MorphismPlan(genome, MorphismStep(NarrowChain(), site), parent.state_dict()).child_weights(c, gen)
    kept = torch.tensor(sorted(set(range(wide)) - set(dead.tolist())))
    assert torch.equal(state["stem.0.weight"], parent.state_dict()["stem.0.weight"][kept])
    assert torch.equal(state["stages.0.0.project_bn.weight"], parent.state_dict()["stages.0.0.project_bn.weight"][kept])
    with torch.no_grad():
        expected = parent(x)
        diff = (child_model(child_genome, state)(x) - expected).abs().max() / expected.abs().max()
    assert diff.item() <= 1e-5


def test_insert_block_skips_positions_that_change_shape():
    """A block inserted first in a stage must keep the stage's input shape (stride 1, the same
    width in and out), so other first positions are skipped; later positions are all offered.
    Every genome checked has a skipped position, and some have an offered first position: seed 2
    and a constructed genome whose stages 0 and 3 (stride 1) keep their input width."""
    c = SPACE.config
    genomes = [SPACE.sample(np.random.default_rng(seed)) for seed in range(5)]
    genomes.append(Genome(8, tuple(Stage(w, Activation.RELU, False, (Block(3, 3),)) for w in (8, 16, 32, 32, 48))))
    offered_first = 0
    for g in genomes:
        sites = {(i, j) for i, j, *_ in FUNCTION_PRESERVING[0].sites(g, SPACE)}
        skipped = 0
        for i, stage in enumerate(g.stages):
            if stage.depth + 1 not in c.depths:  # no room for another block: no site in this stage
                assert not any(si == i for si, _ in sites)
                continue
            prev = g.stages[i - 1].width if i else g.stem
            keeps_shape = c.strides[i] == 1 and prev == stage.width
            if (i, 0) in sites:
                assert c.strides[i] == 1 and prev == stage.width
            assert ((i, 0) in sites) == keeps_shape
            assert all((i, j) in sites for j in range(1, stage.depth + 1))
            skipped += not keeps_shape
            offered_first += keeps_shape
        assert skipped > 0, str(g)
    assert offered_first >= 3  # seed 2's stage 0, and stages 0 and 3 of the constructed genome


def test_prune_expand_keeps_the_most_important_channels():
    genome = Genome(8, tuple(Stage(w[0], Activation.RELU, False, (Block(3, 6),)) for w in SPACE.config.stage_widths))
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


def test_narrow_stage_drops_the_unused_channels_and_keeps_the_function():
    """Channels a stage never produces (BatchNorm scale and shift 0) are the ones narrowing
    removes; with the classifier as consumer nothing else changes, so the logits are kept."""
    from morphisms.operators import NarrowStage

    widths = SPACE.config.stage_widths
    genome = Genome(8, tuple(Stage(w[-1], Activation.HSWISH, True, (Block(5, 4),)) for w in widths))
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(6, *INPUT, generator=gen)
    parent = with_realistic_logits(trained_looking(genome, gen), x)
    last, narrow = len(widths) - 1, widths[-1][0]
    dead = torch.randperm(widths[-1][-1], generator=gen)[: widths[-1][-1] - narrow]
    with torch.no_grad():
        parent.stages[last][0].project_bn.weight[dead] = 0
        parent.stages[last][0].project_bn.bias[dead] = 0
    site = (last, narrow)
    assert site in NarrowStage().sites(genome, SPACE)
    child_genome = NarrowStage().child(genome, site)
    state = MorphismPlan(genome, MorphismStep(NarrowStage(), site), parent.state_dict()).child_weights(SPACE.config, gen)
    kept = torch.tensor(sorted(set(range(widths[-1][-1])) - set(dead.tolist())))
    assert torch.equal(state["classifier.weight"], parent.state_dict()["classifier.weight"][:, kept])
    with torch.no_grad():
        expected = parent(x)
        diff = (child_model(child_genome, state)(x) - expected).abs().max() / expected.abs().max()
    assert diff.item() <= 1e-5


def test_swap_activation_flips_one_stage_and_keeps_every_weight():
    from morphisms.operators import SwapActivation

    rng = np.random.default_rng(4)
    genome = SPACE.sample(rng)
    state = trained_looking(genome, torch.Generator().manual_seed(4)).state_dict()
    for (i,) in SwapActivation().sites(genome, SPACE):
        child = SwapActivation().child(genome, (i,))
        assert [s.act for s in child.stages] == [s.act.other if k == i else s.act for k, s in enumerate(genome.stages)]
        assert child.stages[i].act is not genome.stages[i].act and isinstance(child.stages[i].act, Activation)
        plan = MorphismPlan(genome, MorphismStep(SwapActivation(), (i,)), state)
        weights = plan.child_weights(SPACE.config, torch.Generator().manual_seed(0))
        assert all(torch.equal(weights[k], v) for k, v in state.items())


def _digits(n: int = 600) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return torch.tensor(digits.images[:n] / 16.0, dtype=torch.float32)[:, None], torch.tensor(digits.target[:n])


@pytest.mark.slow
def test_distill_pulls_a_student_towards_its_teacher():
    x, y = _digits()
    gen = torch.Generator().manual_seed(5)
    genome = Genome(8, tuple(Stage(w[0], Activation.HSWISH, False, (Block(3, 3),)) for w in SPACE.config.stage_widths))
    teacher = train(build(genome, SPACE.config, INPUT, CLASSES, gen), x, y, TrainConfig(batch_size=32), gen, 3)
    student = build(genome, SPACE.config, INPUT, CLASSES, gen)

    def gap() -> float:
        student.eval(), teacher.eval()
        with torch.no_grad():
            return kd_loss(student(x), teacher(x), y, alpha=1.0).item()

    before = gap()
    distill(student, teacher, x, y, TrainConfig(batch_size=32), gen, epochs=3, alpha=1.0, finetune=False)  # a fresh student
    assert gap() < 0.5 * before


@pytest.mark.slow
def test_a_finetune_starts_at_a_learning_rate_scaled_by_the_starting_loss():
    x, y = _digits()
    config = TrainConfig(batch_size=32, lr=3e-2)
    genome = Genome(8, tuple(Stage(w[0], Activation.HSWISH, False, (Block(3, 3),)) for w in SPACE.config.stage_widths))
    fresh = build(genome, SPACE.config, INPUT, CLASSES, torch.Generator().manual_seed(1))
    trained = train(build(genome, SPACE.config, INPUT, CLASSES, torch.Generator().manual_seed(1)), x, y, config,
                    torch.Generator().manual_seed(2), 3)
    at_chance, learned = (loss_scaled_fraction(m, x, y, config) for m in (fresh, trained))
    assert at_chance > 0.9 and learned < 0.25 and 0 <= learned
    assert finetune_fraction(fresh, x, y, TrainConfig(finetune_lr_fraction=0.1)) == 0.1  # a fixed fraction wins

    # a network far from trained moves further than a fixed small fraction lets it; a trained one keeps its accuracy
    def finetuned(model: torch.nn.Module, fraction: float | None) -> float:
        copy = build(genome, SPACE.config, INPUT, CLASSES)
        copy.load_state_dict(model.state_dict())
        train(copy, x, y, TrainConfig(batch_size=32, lr=3e-2, finetune_lr_fraction=fraction),
              torch.Generator().manual_seed(3), 1, finetune=True)
        return accuracy(copy, x, y)

    assert finetuned(fresh, None) > finetuned(fresh, 0.1) + 0.1
    assert finetuned(trained, None) >= accuracy(trained, x, y) - 0.02


@pytest.mark.slow
def test_repair_takes_more_rounds_only_while_the_child_is_worse_than_its_parent():
    x, y = _digits()
    config = TrainConfig(batch_size=32, lr=3e-2, repair_rounds=3)
    genome = Genome(8, tuple(Stage(w[0], Activation.HSWISH, False, (Block(3, 3),)) for w in SPACE.config.stage_widths))
    teacher = train(build(genome, SPACE.config, INPUT, CLASSES, torch.Generator().manual_seed(1)), x, y, config,
                    torch.Generator().manual_seed(2), 3)

    def rounds(student: torch.nn.Module, cfg: TrainConfig = config) -> float:
        return repair(student, teacher, x, y, cfg, torch.Generator().manual_seed(3), 0.25) / 0.25

    copy = build(genome, SPACE.config, INPUT, CLASSES)
    copy.load_state_dict(teacher.state_dict())
    assert rounds(copy) == 1  # as good as its parent after the first round
    assert rounds(build(genome, SPACE.config, INPUT, CLASSES, torch.Generator().manual_seed(4))) == 3  # at chance: all
    assert rounds(build(genome, SPACE.config, INPUT, CLASSES), TrainConfig(batch_size=32, lr=3e-2)) == 1  # the default


@pytest.mark.parametrize("bad", [{"repair_rounds": 0}, {"finetune_lr_fraction": 0.0}, {"finetune_lr_fraction": 1.5}])
def test_train_config_refuses_impossible_fine_tune_settings(bad):
    with pytest.raises(UserError, match=next(iter(bad))):
        TrainConfig(**bad)


def _reader_output(model: MobileNetLike, genome: Genome, i: int, j: int, x: torch.Tensor,
                   removed: bool = False) -> torch.Tensor:
    """What the layer reading the output of the parent ``genome``'s block (i, j) computes in ``model``
    (the parent, or with ``removed`` the child without that block): the next block's expand
    BatchNorm, or the logits."""
    from morphisms.operators import module_io

    if j + 1 < genome.stages[i].depth:
        return module_io(model, model.stages[i][j if removed else j + 1].expand_bn, x)[1]
    if i + 1 < len(genome.stages):
        return module_io(model, model.stages[i + 1][0].expand_bn, x)[1]
    with torch.no_grad():
        return model(x)


def _refine_cases(op, cases: int):
    """(genome, parent, step) for ``cases`` random applicable sites of ``op``, parents trained-looking."""
    rng = np.random.default_rng(zlib.crc32(op.name.encode()))
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(8, *INPUT, generator=gen)
    for _ in range(cases):
        genome = SPACE.sample(rng)
        while not op.applies(genome, SPACE):
            genome = SPACE.sample(rng)
        yield genome, with_realistic_logits(trained_looking(genome, gen), x), op.propose(genome, SPACE, rng)


@pytest.mark.parametrize("op_name", ["remove_block", "shrink_kernel"])
def test_refined_approximate_children_fit_the_parent_better_on_the_sample(op_name):
    """Least squares on the parent's activations: what the layer after the edit computes (the next
    block's expand BatchNorm or the logits, for a removed block; the depthwise convolution, for a
    shrunk kernel) is nearer the parent's on the fitting sample than after a plain transfer, never
    farther (up to the small ridge), and on held-out inputs too on average."""
    from morphisms.operators import module_io

    op = next(o for o in APPROXIMATE if o.name == op_name)
    gen = torch.Generator().manual_seed(5)
    sample, held_out = torch.randn(96, *INPUT, generator=gen), torch.randn(96, *INPUT, generator=gen)
    ratios, held_out_ratios = [], []
    for genome, parent, step in _refine_cases(op, 20):
        plain = child_model(step.genome(genome), step.weights(genome, parent.state_dict(), SPACE.config, gen))
        refined = child_model(step.genome(genome),
                              step.weights(genome, parent.state_dict(), SPACE.config, gen, sample))
        errors = []
        for x in (sample, held_out):
            if op_name == "remove_block":
                i, j = step.site
                want = _reader_output(parent, genome, i, j, x)
                got = [_reader_output(m, genome, i, j, x, removed=True) for m in (plain, refined)]
            else:
                i, j, _ = step.site
                want = module_io(parent, parent.stages[i][j].dw_conv, x)[1]
                got = [module_io(m, m.stages[i][j].dw_conv, x)[1] for m in (plain, refined)]
            errors.append([(g - want).pow(2).sum().item() for g in got])
            scale = want.pow(2).sum().item()
        (plain_err, refined_err), (plain_held, refined_held) = errors
        assert refined_err <= plain_err * 1.01 + 1e-6 * scale, f"{step}: {refined_err:.4g} > {plain_err:.4g}"
        if plain_err > 1e-6 * scale:  # on a 1x1 map the outer taps see only padding: the crop is exact
            ratios.append(refined_err / plain_err)
            held_out_ratios.append(refined_held / plain_held)
    assert len(ratios) >= 8 and np.mean(ratios) < 0.9, ratios
    assert np.median(held_out_ratios) < 1.0, held_out_ratios
