"""Caffe-style ResNet-v1 (the MSRA code's backbone) with deformable last 3x3 convs.

As the original ``resnet_v1_101_*`` symbols (paper section 2.3):
* stride on the 1x1 ``branch2a`` conv of the first block of a stage;
* BatchNorm with frozen statistics (``use_global_stats``), eps 1e-5, by default
  (``norm``: batch-statistics BN for pretraining, GroupNorm from scratch: ``dcn.modeling.norm``);
* conv5 with stride 1 and dilation 2 by default (effective stride 16); the
  dilation is configurable (2, 4, 6, 8 for the paper's Table 3) and
  ``res5_dilation=1`` gives the plain stride-32 conv5 used by FPN;
* ``num_deformable_layers`` = 0, 1 (res5c), 2 (res5b,c), 3 (res5a,b,c) or 6
  (res5a,b,c and res4b20,b21,b22), the rows of the paper's Table 1 — in
  general the last n blocks, so shallow nets take res4 blocks earlier;
* ``deformable_stage_ends``: the last block of these stages is deformable too
  (FPN's ``with_dpyramid``: stages (3, 4) -> res3b3 and res4b22 for ResNet-101);
* an optional randomly initialised 1x1 conv + ReLU after conv5
  (``reduce_channels``: 1024 for R-FCN/DeepLab, 256 for the Faster R-CNN head),
  named ``conv_new_1`` as in the original.

Parameter names follow the original symbols (``conv1``, ``bn_conv1``,
``res4b22_branch2b``, ``res5a_branch2b_offset``, ``bn5a_branch2b``...) so the
released checkpoints map onto them; BatchNorm's moving statistics are called
``running_mean``/``running_var`` here (``moving_*`` in the original).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from mxnet.gluon import HybridBlock, nn

from operators.blocks import DeformableConv2D

from ..norm import NORM_KINDS, make_norm

# depth -> (block type, blocks per stage res2..res5)
DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
STAGE_WIDTHS = (64, 128, 256, 512)  # bottleneck mid width (basic: output width)
DEFORMABLE_LAYER_CHOICES = (0, 1, 2, 3, 6)


def block_names(stage: int, count: int, depth: int) -> list[str]:
    """Caffe names: 'a','b','c'... for short stages, 'a','b1','b2'... for long ones (ResNet-101/152)."""
    if depth >= 101 and count > 3:
        return ["a"] + [f"b{i}" for i in range(1, count)]
    return [chr(ord("a") + i) for i in range(count)]


def _bn(name: str, channels: int = 0, norm: str = "frozen_bn") -> HybridBlock:
    return make_norm(norm, channels, prefix=f"bn{name}_")


def _conv(name: str, channels: int, kernel: int, stride: int = 1, dilation: int = 1) -> nn.Conv2D:
    pad = dilation * (kernel // 2)
    return nn.Conv2D(channels, kernel, strides=stride, padding=pad, dilation=dilation,
                     use_bias=False, prefix=f"res{name}_")


def _conv3x3(name: str, channels: int, stride: int, dilation: int, deformable: bool,
             deformable_groups: int, offset_lr_mult: float, offset_dilation: int = 0) -> HybridBlock:
    """``offset_dilation`` 0: the offset conv dilates as the conv (the released *_dcn models)."""
    if deformable:
        return DeformableConv2D(channels, 3, strides=stride, padding=dilation, dilation=dilation,
                                num_deformable_group=deformable_groups, use_bias=False,
                                offset_lr_mult=offset_lr_mult, offset_dilation=offset_dilation or dilation,
                                prefix=f"res{name}_")
    return _conv(name, channels, 3, stride, dilation)


class BottleneckV1(HybridBlock):
    """1x1 (stride here, Caffe style) -> 3x3 (maybe deformable, dilated) -> 1x1, + shortcut."""

    def __init__(self, name: str, mid: int, out: int, stride: int, dilation: int, projection: bool,
                 deformable: bool = False, deformable_groups: int = 1, offset_lr_mult: float = 1.0,
                 offset_dilation: int = 0, norm: str = "frozen_bn"):
        super().__init__(prefix="")
        with self.name_scope():
            self.branch2a = _conv(f"{name}_branch2a", mid, 1, stride)
            self.bn2a = _bn(f"{name}_branch2a", mid, norm)
            self.branch2b = _conv3x3(f"{name}_branch2b", mid, 1, dilation, deformable,
                                     deformable_groups, offset_lr_mult, offset_dilation)
            self.bn2b = _bn(f"{name}_branch2b", mid, norm)
            self.branch2c = _conv(f"{name}_branch2c", out, 1)
            self.bn2c = _bn(f"{name}_branch2c", out, norm)
            self.branch1 = _conv(f"{name}_branch1", out, 1, stride) if projection else None
            self.bn1 = _bn(f"{name}_branch1", out, norm) if projection else None

    def hybrid_forward(self, F, x):
        y = F.relu(self.bn2a(self.branch2a(x)))
        y = F.relu(self.bn2b(self.branch2b(y)))
        y = self.bn2c(self.branch2c(y))
        shortcut = self.bn1(self.branch1(x)) if self.branch1 is not None else x
        return F.relu(y + shortcut)


class BasicBlockV1(HybridBlock):
    """3x3 (stride) -> 3x3 (maybe deformable, dilated), + shortcut (ResNet-18/34)."""

    def __init__(self, name: str, mid: int, out: int, stride: int, dilation: int, projection: bool,
                 deformable: bool = False, deformable_groups: int = 1, offset_lr_mult: float = 1.0,
                 offset_dilation: int = 0, norm: str = "frozen_bn"):
        super().__init__(prefix="")
        with self.name_scope():
            self.branch2a = _conv(f"{name}_branch2a", out, 3, stride, dilation)
            self.bn2a = _bn(f"{name}_branch2a", out, norm)
            self.branch2b = _conv3x3(f"{name}_branch2b", out, 1, dilation, deformable,
                                     deformable_groups, offset_lr_mult, offset_dilation)
            self.bn2b = _bn(f"{name}_branch2b", out, norm)
            self.branch1 = _conv(f"{name}_branch1", out, 1, stride) if projection else None
            self.bn1 = _bn(f"{name}_branch1", out, norm) if projection else None

    def hybrid_forward(self, F, x):
        y = F.relu(self.bn2a(self.branch2a(x)))
        y = self.bn2b(self.branch2b(y))
        shortcut = self.bn1(self.branch1(x)) if self.branch1 is not None else x
        return F.relu(y + shortcut)


@dataclass(frozen=True)
class ResNetV1Spec:
    depth: int = 101
    num_deformable_layers: int = 3
    deformable_groups: int = 4
    res5_dilation: int = 2          # 1: plain stride-2 conv5 (effective stride 32)
    reduce_channels: int = 0        # 1x1 conv after conv5 (0: none)
    offset_lr_mult: float = 1.0
    offset_dilation: int = 0        # dilation of the offset convs; 0 = that of their deformable conv
    out_stages: Sequence[str] = ("res4", "res5")
    width_divisor: int = 1          # >1 shrinks every width, for CPU-sized experiments
    deformable_stage_ends: Sequence[int] = ()  # also the last block of these stages (FPN: (3, 4))
    norm: str = "frozen_bn"         # dcn.modeling.norm.NORM_KINDS

    def validate(self) -> None:
        if self.depth not in DEPTHS:
            raise ValueError(f"ResNet depth must be one of {sorted(DEPTHS)}, got {self.depth}")
        if self.num_deformable_layers not in DEFORMABLE_LAYER_CHOICES:
            raise ValueError(f"num_deformable_layers must be one of {DEFORMABLE_LAYER_CHOICES}, "
                             f"got {self.num_deformable_layers}")
        if self.norm not in NORM_KINDS:
            raise ValueError(f"norm must be one of {NORM_KINDS}, got {self.norm!r}")
        if self.offset_dilation < 0:
            raise ValueError(f"offset_dilation must be >= 0 (0 = as the deformable conv), got {self.offset_dilation}")
        if self.res5_dilation < 1:
            raise ValueError(f"res5_dilation must be >= 1, got {self.res5_dilation}")
        if not set(self.deformable_stage_ends) <= {2, 3, 4, 5}:
            raise ValueError(f"deformable_stage_ends must be stages in 2..5, got {self.deformable_stage_ends}")
        bad = set(self.out_stages) - {"res2", "res3", "res4", "res5"}
        if bad or not self.out_stages:
            raise ValueError(f"out_stages must be a non-empty subset of res2..res5, got {self.out_stages}")


def deformable_block_names(spec: ResNetV1Spec) -> set[str]:
    """Names ('5c', '4b22', ...) of the blocks whose 3x3 conv is deformable: the
    last ``num_deformable_layers`` blocks of the network (res5 first, then res4),
    which for ResNet-101 gives exactly the rows of the paper's Table 1; plus the
    last block of each stage in ``deformable_stage_ends``."""
    _, counts = DEPTHS[spec.depth]
    ordered = [f"{stage}{n}" for stage, count in zip((2, 3, 4, 5), counts)
               for n in block_names(stage, count, spec.depth)]
    n = spec.num_deformable_layers
    names = set(ordered[len(ordered) - n:]) if n else set()
    for stage in spec.deformable_stage_ends:
        names.add(f"{stage}{block_names(stage, counts[stage - 2], spec.depth)[-1]}")
    return names


class StagedBackbone(HybridBlock):
    """The forward both backbone families share: stem (conv1, bn_conv1, pool1), stages res2..res5,
    the optional ``conv_new_1`` reduction after res5, and the ``spec.out_stages`` outputs."""

    @property
    def stage_strides(self) -> dict[str, int]:
        return {"res2": 4, "res3": 8, "res4": 16, "res5": 16 if self.spec.res5_dilation > 1 else 32}

    def hybrid_forward(self, F, x):
        x = self.pool1(F.relu(self.bn_conv1(self.conv1(x))))
        outs = []
        for name, stage in zip(("res2", "res3", "res4", "res5"), self.stages):
            x = stage(x)
            if name == "res5" and self.conv_new_1 is not None:
                x = F.relu(self.conv_new_1(x))
            if name in self.spec.out_stages:
                outs.append(x)
        return outs[0] if len(outs) == 1 else tuple(outs)


class ResNetV1(StagedBackbone):
    """ResNet-v1 backbone returning the feature maps of ``spec.out_stages`` (in order)."""

    def __init__(self, spec: ResNetV1Spec = ResNetV1Spec()):
        super().__init__(prefix="")
        spec.validate()
        self.spec = spec
        kind, counts = DEPTHS[spec.depth]
        block_cls = BottleneckV1 if kind == "bottleneck" else BasicBlockV1
        expansion = 4 if kind == "bottleneck" else 1
        deformable = deformable_block_names(spec)
        div = spec.width_divisor
        with self.name_scope():
            self.conv1 = nn.Conv2D(64 // div, 7, strides=2, padding=3, use_bias=False, prefix="conv1_")
            self.bn_conv1 = make_norm(spec.norm, 64 // div, prefix="bn_conv1_")
            self.pool1 = nn.MaxPool2D(pool_size=3, strides=2, padding=0, ceil_mode=True)
            self.stages = []
            for s, (count, width) in enumerate(zip(counts, STAGE_WIDTHS)):
                stage = s + 2
                mid, out = width // div, width * expansion // div
                stride = 1 if stage == 2 else 2
                dilation = 1
                if stage == 5 and spec.res5_dilation > 1:
                    stride, dilation = 1, spec.res5_dilation
                seq = nn.HybridSequential(prefix="")
                with seq.name_scope():
                    for i, bname in enumerate(block_names(stage, count, spec.depth)):
                        name = f"{stage}{bname}"
                        seq.add(block_cls(name, mid, out, stride if i == 0 else 1, dilation,
                                          projection=(i == 0), deformable=name in deformable,
                                          deformable_groups=spec.deformable_groups,
                                          offset_lr_mult=spec.offset_lr_mult,
                                          offset_dilation=spec.offset_dilation, norm=spec.norm))
                self.register_child(seq, f"res{stage}")
                self.stages.append(seq)
            self.conv_new_1 = (nn.Conv2D(spec.reduce_channels, 1, prefix="conv_new_1_")
                               if spec.reduce_channels else None)



def resnet_v1(depth: int = 101, **kwargs) -> ResNetV1:
    """Builds a ResNet-v1 backbone; keyword arguments are ResNetV1Spec fields."""
    return ResNetV1(ResNetV1Spec(depth=depth, **kwargs))
