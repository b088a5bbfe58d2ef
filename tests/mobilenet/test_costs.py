"""FLOP counting: the hooked count of a MobileNetLike equals torch's flop counter."""

import numpy as np
import pytest
import torch
from torch import nn

from evonas.mobilenet.builder import build
from evonas.mobilenet.costs import _dispatched_flops, count_flops, count_params
from evonas.mobilenet.space import MobileNetSpace, SpaceConfig


@pytest.mark.parametrize("resolution, classes", [(12, 10), (32, 100)])
def test_hooked_flops_equal_torchs_flop_counter(resolution, classes):
    space = MobileNetSpace(SpaceConfig.for_resolution(resolution))
    rng = np.random.default_rng(resolution)
    genomes = [space.smallest(), space.largest(), *(space.sample(rng) for _ in range(12))]
    shape = (3, resolution, resolution)
    for genome in genomes:
        model = build(genome, space.config, shape, classes)
        assert count_flops(model, shape) == _dispatched_flops(model.eval(), shape) > 0, genome


def test_other_networks_use_torchs_counter_and_training_mode_is_kept():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 10)).train()
    conv = 2 * (4 * 8 * 8) * (1 * 3 * 3)
    linear = 2 * 10 * (4 * 8 * 8)
    assert count_flops(model, (1, 8, 8)) == conv + linear
    assert model.training


def test_hooks_are_removed():
    space = MobileNetSpace(SpaceConfig.for_resolution(12))
    model = build(space.smallest(), space.config, (1, 12, 12), 10)
    count_flops(model, (1, 12, 12))
    assert all(not m._forward_hooks for m in model.modules())
    assert count_params(model) == sum(p.numel() for p in model.parameters())
    assert isinstance(model(torch.zeros(2, 1, 12, 12)), torch.Tensor)
