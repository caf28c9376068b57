"""Aligned-Inception-ResNet (paper appendix B, Table 6) with deformable stages.

Stages conv2..conv5 stack 3/4/23/3 Inception Residual Blocks (IRB) of
256/512/1024/2048-d; the first block of a stage changes the dimension with a
stride-2 1x1 conv (stride 1 for conv2); every conv and pool is padded so that
feature cells stay aligned with their receptive-field centres.

The branch widths of the IRB (paper figure 8) are not in the text we have, so
this is a reconstruction: three branches — 1x1; 1x1 -> 3x3; 1x1 -> 3x3 -> 3x3 —
each ``bw = width_ratio * out`` wide (40/80/160/320 with the default 5/32),
concatenated and projected back by a 1x1 conv, plus the shortcut. The default
width was chosen to match the paper's size: 62.1M parameters here, 64.1M with
a 1000-way classifier (Table 7: 64.3M).
Deformable options mirror ResNet-v1: the 3x3 convs of the last
``num_deformable_layers`` blocks become deformable; conv5 may use stride 1 and
dilation (``res5_dilation``) for an effective stride of 16.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from mxnet.gluon import HybridBlock, nn

from .resnet_v1 import DEFORMABLE_LAYER_CHOICES, StagedBackbone, _bn, _conv, _conv3x3

STAGES = ((3, 256), (4, 512), (23, 1024), (3, 2048))


@dataclass(frozen=True)
class AlignedInceptionResNetSpec:
    num_deformable_layers: int = 3
    deformable_groups: int = 4
    res5_dilation: int = 2
    reduce_channels: int = 0
    offset_lr_mult: float = 1.0
    out_stages: Sequence[str] = ("res4", "res5")
    width_ratio: float = 5 / 32
    width_divisor: int = 1

    def validate(self) -> None:
        if self.num_deformable_layers not in DEFORMABLE_LAYER_CHOICES:
            raise ValueError(f"num_deformable_layers must be one of {DEFORMABLE_LAYER_CHOICES}, "
                             f"got {self.num_deformable_layers}")
        bad = set(self.out_stages) - {"res2", "res3", "res4", "res5"}
        if bad or not self.out_stages:
            raise ValueError(f"out_stages must be a non-empty subset of res2..res5, got {self.out_stages}")


class InceptionResidualBlock(HybridBlock):
    """Three Inception branches, concatenated, projected by 1x1, plus the shortcut."""

    def __init__(self, name: str, branch_width: int, out: int, stride: int, dilation: int,
                 projection: bool, deformable: bool, deformable_groups: int, offset_lr_mult: float):
        super().__init__(prefix="")

        def conv3x3(suffix: str) -> HybridBlock:
            return _conv3x3(f"{name}_{suffix}", branch_width, 1, dilation, deformable,
                            deformable_groups, offset_lr_mult)

        with self.name_scope():
            self.b1 = _conv(f"{name}_branch1x1", branch_width, 1, stride)
            self.b1_bn = _bn(f"{name}_branch1x1")
            self.b2a = _conv(f"{name}_branch3x3_reduce", branch_width, 1, stride)
            self.b2a_bn = _bn(f"{name}_branch3x3_reduce")
            self.b2b = conv3x3("branch3x3")
            self.b2b_bn = _bn(f"{name}_branch3x3")
            self.b3a = _conv(f"{name}_branch3x3dbl_reduce", branch_width, 1, stride)
            self.b3a_bn = _bn(f"{name}_branch3x3dbl_reduce")
            self.b3b = conv3x3("branch3x3dbl_1")
            self.b3b_bn = _bn(f"{name}_branch3x3dbl_1")
            self.b3c = conv3x3("branch3x3dbl_2")
            self.b3c_bn = _bn(f"{name}_branch3x3dbl_2")
            self.proj = _conv(f"{name}_proj", out, 1)
            self.proj_bn = _bn(f"{name}_proj")
            self.shortcut = _conv(f"{name}_branch1", out, 1, stride) if projection else None
            self.shortcut_bn = _bn(f"{name}_branch1") if projection else None

    def hybrid_forward(self, F, x):
        y1 = F.relu(self.b1_bn(self.b1(x)))
        y2 = F.relu(self.b2b_bn(self.b2b(F.relu(self.b2a_bn(self.b2a(x))))))
        y3 = F.relu(self.b3a_bn(self.b3a(x)))
        y3 = F.relu(self.b3c_bn(self.b3c(F.relu(self.b3b_bn(self.b3b(y3))))))
        y = self.proj_bn(self.proj(F.concat(y1, y2, y3, dim=1)))
        shortcut = self.shortcut_bn(self.shortcut(x)) if self.shortcut is not None else x
        return F.relu(y + shortcut)


class AlignedInceptionResNet(StagedBackbone):
    """Backbone returning the feature maps of ``spec.out_stages`` (in order)."""

    def __init__(self, spec: AlignedInceptionResNetSpec = AlignedInceptionResNetSpec()):
        super().__init__(prefix="")
        spec.validate()
        self.spec = spec
        div = spec.width_divisor
        total = sum(count for count, _ in STAGES)
        first_deformable = total - spec.num_deformable_layers
        index = 0
        with self.name_scope():
            self.conv1 = nn.Conv2D(64 // div, 7, strides=2, padding=3, use_bias=False, prefix="conv1_")
            self.bn_conv1 = nn.BatchNorm(use_global_stats=True, epsilon=1e-5, prefix="bn_conv1_")
            self.pool1 = nn.MaxPool2D(pool_size=3, strides=2, padding=1)  # padded: stays aligned
            self.stages = []
            for s, (count, width) in enumerate(STAGES):
                stage = s + 2
                out = width // div
                bw = max(1, int(round(width * spec.width_ratio)) // div)
                stride, dilation = (1 if stage == 2 else 2), 1
                if stage == 5 and spec.res5_dilation > 1:
                    stride, dilation = 1, spec.res5_dilation
                seq = nn.HybridSequential(prefix="")
                with seq.name_scope():
                    for i in range(count):
                        seq.add(InceptionResidualBlock(
                            f"{stage}_{i + 1}", bw, out, stride if i == 0 else 1, dilation,
                            projection=(i == 0), deformable=index >= first_deformable,
                            deformable_groups=spec.deformable_groups, offset_lr_mult=spec.offset_lr_mult))
                        index += 1
                self.register_child(seq, f"res{stage}")
                self.stages.append(seq)
            self.conv_new_1 = (nn.Conv2D(spec.reduce_channels, 1, prefix="conv_new_1_")
                               if spec.reduce_channels else None)


def aligned_inception_resnet(**kwargs) -> AlignedInceptionResNet:
    """Builds the backbone; keyword arguments are AlignedInceptionResNetSpec fields."""
    return AlignedInceptionResNet(AlignedInceptionResNetSpec(**kwargs))
