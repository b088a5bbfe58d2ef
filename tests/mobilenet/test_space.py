import json

import numpy as np
import pytest
import torch

from evonas.mobilenet.builder import build, fold_batchnorm
from conftest import trained_batchnorm
from evonas.core.errors import UserError
from evonas.mobilenet.space import Activation, Block, Genome, MobileNetSpace, SpaceConfig, Stage, parse_genome

SPACE = MobileNetSpace(SpaceConfig())


@pytest.mark.parametrize("seed", range(50))
def test_string_round_trip_and_mutation_on_many_seeds(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        g = SPACE.sample(rng)
        assert SPACE.parse(str(g)) == g
        assert SPACE.decode(SPACE.encode(g)) == g
        child, op = SPACE.mutate(g, rng)
        assert child != g and op.startswith("mutate_")
        SPACE.validate(child)


def test_sampling_is_seeded_and_covers_choices():
    a = [str(SPACE.sample(np.random.default_rng(7))) for _ in range(3)]
    b = [str(SPACE.sample(np.random.default_rng(7))) for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(0)
    genomes = [SPACE.sample(rng) for _ in range(300)]
    assert len({str(g) for g in genomes}) == 300
    kernels = {b.kernel for g in genomes for s in g.stages for b in s.blocks}
    depths = {s.depth for g in genomes for s in g.stages}
    assert kernels == set(SPACE.config.kernels) and depths == set(SPACE.config.depths)


def test_canonical_string_form():
    g = Genome(16, (Stage(24, Activation.RELU, False, (Block(3, 3), Block(5, 4))),
                    Stage(40, Activation.HSWISH, True, (Block(7, 6),))))
    assert str(g) == "stem16|c24_re_se0:k3e3-k5e4|c40_hs_se1:k7e6"
    assert parse_genome(str(g)) == g
    assert [s.act for s in parse_genome(str(g)).stages] == [Activation.RELU, Activation.HSWISH]


def test_activations_are_an_enum_that_serialises_as_its_token():
    assert all(isinstance(s.act, Activation) for s in SPACE.sample(np.random.default_rng(3)).stages)
    assert (str(Activation.RELU), f"{Activation.HSWISH}", json.dumps([Activation.RELU])) == ("re", "hs", '["re"]')
    assert Stage(8, "hs", False, ()) == Stage(8, Activation.HSWISH, False, ())  # a token is stored as the member
    assert hash(Stage(8, "hs", False, ())) == hash(Stage(8, Activation.HSWISH, False, ()))
    assert Stage(8, "re", False, ()).act is Activation.RELU and Activation.RELU.other is Activation.HSWISH
    with pytest.raises(UserError, match="unknown activation 'relu'"):
        Stage(8, "relu", False, ())


@pytest.mark.parametrize("bad", ["", "stem16", "stemX|c24_re_se0:k3e3", "stem16|c24_xx_se0:k3e3",
                                 "stem16|c24_re_se0:", "stem16|c24_re_se0:k3"])
def test_malformed_strings_raise_user_error(bad):
    with pytest.raises(UserError, match="malformed genome"):
        parse_genome(bad)


def test_out_of_space_genome_is_rejected():
    g = SPACE.sample(np.random.default_rng(0))
    bad = str(g).replace("stem", "stem9", 1)
    with pytest.raises(UserError, match="outside the search space"):
        SPACE.parse(bad)


@pytest.mark.parametrize("shape,classes", [((1, 8, 8), 10), ((3, 32, 32), 7), ((1, 28, 28), 2), ((4, 15, 17), 5)])
def test_builder_shapes_for_random_genomes(shape, classes):
    space = MobileNetSpace(SpaceConfig.for_resolution(min(shape[1:])))
    rng = np.random.default_rng(sum(shape) + classes)
    for _ in range(8):
        g = space.sample(rng)
        model = build(g, space.config, shape, classes).eval()
        with torch.no_grad():
            assert model(torch.randn(3, *shape)).shape == (3, classes)
        blocks = [b for stage in model.stages for b in stage]
        assert len(blocks) == g.num_blocks


def test_builder_initialisation_is_seeded():
    g = SPACE.sample(np.random.default_rng(3))
    a = build(g, SPACE.config, (3, 16, 16), 10, torch.Generator().manual_seed(1))
    b = build(g, SPACE.config, (3, 16, 16), 10, torch.Generator().manual_seed(1))
    c = build(g, SPACE.config, (3, 16, 16), 10, torch.Generator().manual_seed(2))
    wa, wb, wc = (m.stem[0].weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


@pytest.mark.parametrize("seed", range(3))
def test_folding_batchnorm_keeps_the_eval_function_and_leaves_the_model_alone(seed):
    config = SpaceConfig.for_resolution(16)
    model = trained_batchnorm(build(MobileNetSpace(config).sample(np.random.default_rng(seed)), config,
                                    (3, 16, 16), 10), seed)
    generator = torch.Generator().manual_seed(seed)
    batchnorms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    folded = fold_batchnorm(model)
    assert model.training and not folded.training
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == batchnorms > 0
    x = torch.randn(4, 3, 16, 16, generator=generator)
    with torch.no_grad():
        expected = model.eval()(x)
        assert torch.allclose(folded(x), expected, atol=1e-5)


def test_largest_genome_is_in_space_and_biggest():
    from evonas.mobilenet.costs import count_params
    big = SPACE.largest()
    SPACE.validate(big)
    p_big = count_params(build(big, SPACE.config, (3, 16, 16), 10))
    rng = np.random.default_rng(5)
    for _ in range(10):
        assert count_params(build(SPACE.sample(rng), SPACE.config, (3, 16, 16), 10)) <= p_big


def test_embedded_digits_are_presented_at_12x12_unless_a_resolution_is_given():
    from evonas.mobilenet.data import embedded_default
    from evonas.mobilenet.problem import EMBEDDED_RESOLUTION, ImageClassification, accuracy_objective, resized
    from hardware.objectives import params

    objectives = (accuracy_objective(), params())
    assert ImageClassification.from_options(objectives).splits.input_shape == (1, EMBEDDED_RESOLUTION, EMBEDDED_RESOLUTION) == (1, 12, 12)
    assert ImageClassification.from_options(objectives, resolution=8).splits.input_shape == (1, 8, 8)
    assert ImageClassification.from_options(objectives, resolution=16).splits.input_shape == (1, 16, 16)
    with pytest.raises(UserError, match="--resolution"):
        ImageClassification.from_options(objectives, resolution=0)
    digits = embedded_default()
    up = resized(digits, 12)
    assert up.x.shape == (len(digits), 1, 12, 12) and up.x.dtype == np.float32 and np.array_equal(up.y, digits.y)
    # bilinear weights sum to one: the per-channel normalisation stays (nearly) mean 0
    assert abs(float(up.x.mean())) < 0.05 and resized(digits, 8) is digits


def test_a_resolution_whose_images_do_not_fit_in_memory_is_refused_in_one_line_before_resizing():
    import psutil

    from evonas.mobilenet.data import embedded_default
    from evonas.mobilenet.problem import ImageClassification, accuracy_objective

    digits = embedded_default()
    need = len(digits) * 2048 * 2048 * 4  # float32, one channel: 30 GiB
    if need <= psutil.virtual_memory().available / 2:
        pytest.skip("this machine has room for the digits at 2048x2048; nothing to refuse")
    used = psutil.Process().memory_info().rss
    with pytest.raises(UserError, match=r"^--resolution 2048: the 1797 images .* GiB") as info:
        ImageClassification.from_options((accuracy_objective(),), resolution=2048)
    assert "\n" not in str(info.value)
    assert psutil.Process().memory_info().rss - used < 2 ** 30  # refused before allocating the resized images
