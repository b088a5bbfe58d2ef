"""Genome -> ``torch.nn.Module``: inverted residual blocks with squeeze-excite and h-swish."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from evonas.mobilenet.space import Activation, Genome, SpaceConfig


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to a multiple of ``divisor`` without dropping below 90% of it (MobileNet rule)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


_MODULES = {Activation.RELU: nn.ReLU, Activation.HSWISH: nn.Hardswish}


def activation(act: Activation | str) -> nn.Module:
    """The module of an :class:`Activation` (or its token): ReLU or h-swish."""
    return _MODULES[Activation(act)]()


class SqueezeExcite(nn.Module):
    """MobileNetV3 squeeze-excite: global pool, reduce, ReLU, expand, hard-sigmoid gate."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        squeezed = make_divisible(channels / reduction)
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.act = nn.ReLU()
        self.expand = nn.Conv2d(squeezed, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


class InvertedResidual(nn.Module):
    """1x1 expand -> depthwise kxk -> optional SE -> 1x1 project, residual when shapes allow."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, expand: int, stride: int, act: str, se: bool):
        super().__init__()
        mid = in_ch * expand
        self.expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.expand_bn = nn.BatchNorm2d(mid)
        self.expand_act = activation(act)
        self.dw_conv = nn.Conv2d(mid, mid, kernel, stride, padding=kernel // 2, groups=mid, bias=False)
        self.dw_bn = nn.BatchNorm2d(mid)
        self.dw_act = activation(act)
        self.se = SqueezeExcite(mid) if se else nn.Identity()
        self.project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.project_bn = nn.BatchNorm2d(out_ch)
        self.use_residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand_act(self.expand_bn(self.expand_conv(x)))
        y = self.se(self.dw_act(self.dw_bn(self.dw_conv(y))))
        y = self.project_bn(self.project_conv(y))
        return x + y if self.use_residual else y


class MobileNetLike(nn.Module):
    """Stem conv, stages of inverted residual blocks, global pool and a linear classifier."""

    def __init__(self, genome: Genome, config: SpaceConfig, in_channels: int, num_classes: int):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, genome.stem, 3, config.stem_stride, padding=1, bias=False),
            nn.BatchNorm2d(genome.stem),
            nn.Hardswish(),
        )
        stages, ch = [], genome.stem
        for stage, stride in zip(genome.stages, config.strides):
            blocks = []
            for j, b in enumerate(stage.blocks):
                blocks.append(InvertedResidual(ch, stage.width, b.kernel, b.expand,
                                               stride if j == 0 else 1, stage.act, stage.se))
                ch = stage.width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.classifier = nn.Linear(ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.classifier(torch.flatten(x.mean(dim=(2, 3)), 1))


def build(genome: Genome, config: SpaceConfig, input_shape: tuple[int, int, int], num_classes: int,
          generator: torch.Generator | None = None) -> MobileNetLike:
    """Build ``genome`` for inputs of ``input_shape`` (C, H, W) and ``num_classes`` outputs.

    Weights are initialised from ``generator`` (He-normal convolutions, small-normal linear),
    never from torch's global random state.
    """
    model = MobileNetLike(genome, config, input_shape[0], num_classes)
    init_weights(model, generator or torch.Generator().manual_seed(0))
    return model


def init_weights(model: nn.Module, generator: torch.Generator) -> None:
    """Initialise every parameter of ``model`` from ``generator``."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.bias.zero_()
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01, generator=generator)
                m.bias.zero_()


_CONV_BN = (("expand_conv", "expand_bn"), ("dw_conv", "dw_bn"), ("project_conv", "project_bn"))


def fold_batchnorm(model: MobileNetLike) -> MobileNetLike:
    """A copy of ``model`` in eval mode with every BatchNorm folded into the convolution before it.

    The convolutions gain a bias and the BatchNorms become identities: the same function in eval
    mode (the running statistics), with fewer operators to trace or emit. ``model`` is unchanged.
    """
    folded = copy.deepcopy(model).eval()
    folded.stem[0], folded.stem[1] = fuse_conv_bn_eval(folded.stem[0], folded.stem[1]), nn.Identity()
    for block in (m for m in folded.stages.modules() if isinstance(m, InvertedResidual)):
        for conv, bn in _CONV_BN:
            setattr(block, conv, fuse_conv_bn_eval(getattr(block, conv), getattr(block, bn)))
            setattr(block, bn, nn.Identity())
    return folded
