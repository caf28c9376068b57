"""Gluon blocks for deformable convolution that own their offset (and mask) branch.

As in the paper (section 2.1), the offsets come from a regular convolution over
the same input with the same kernel, stride, padding and dilation (or another
``offset_dilation``, padded to the same output size), initialised to zero (so
training starts from the regular convolution) and trained with its own
learning-rate multiplier.

Parameter names follow the original MXNet symbols: a block created with
``prefix='res5a_branch2b_'`` owns ``res5a_branch2b_weight`` and
``res5a_branch2b_offset_weight`` / ``res5a_branch2b_offset_bias``.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import mxnet as mx
from mxnet.gluon import Block, HybridBlock, nn

from .library import load

IntPair = Union[int, Sequence[int]]


def _pair(v: IntPair) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(x) for x in v)
    if len(v) != 2:
        raise ValueError(f"expected an int or a pair of ints, got {v}")
    return v


def offset_conv_padding(kernel: Tuple[int, int], padding: Tuple[int, int], dilation: Tuple[int, int],
                        offset_dilation: Tuple[int, int]) -> Tuple[int, int]:
    """Padding that gives an offset conv of ``offset_dilation`` the output size of the deformable conv.

    Same dilation: the same padding (the released ``*_dcn`` models). The original
    deform_conv demo model has 3x3 offset convs with dilation 1, pad 1 beside deformable
    convs with dilation 2, pad 2: pad + (offset_dilation - dilation) * (k - 1) / 2.
    """
    pads = []
    for k, p, d, od in zip(kernel, padding, dilation, offset_dilation):
        twice = 2 * p + (od - d) * (k - 1)
        if od < 1 or twice < 0 or twice % 2:
            raise ValueError(f"offset conv dilation {od} cannot give the output size of a kernel-{k}, pad-{p}, "
                             f"dilation-{d} deformable conv")
        pads.append(twice // 2)
    return pads[0], pads[1]


class _DeformableConvBase(HybridBlock):
    """Shared parts: the main weight/bias and the zero-initialised offset conv."""

    def __init__(self, channels: int, kernel_size: IntPair, strides: IntPair, padding: IntPair,
                 dilation: IntPair, groups: int, num_deformable_group: int, use_bias: bool,
                 in_channels: int, offset_channels_per_tap: int, offset_lr_mult: float,
                 weight_initializer, bias_initializer, prefix, params, offset_dilation: Optional[IntPair] = None):
        super().__init__(prefix=prefix, params=params)
        load()
        kh, kw = _pair(kernel_size)
        offset_dilation = _pair(dilation if offset_dilation is None else offset_dilation)
        self._kwargs = dict(kernel=(kh, kw), stride=_pair(strides), dilate=_pair(dilation),
                            pad=_pair(padding), num_filter=channels, num_group=groups,
                            num_deformable_group=num_deformable_group, no_bias=not use_bias)
        self._channels = channels
        with self.name_scope():
            self.weight = self.params.get(
                "weight", shape=(channels, in_channels // groups if in_channels else 0, kh, kw),
                init=weight_initializer, allow_deferred_init=True)
            self.bias = (self.params.get("bias", shape=(channels,), init=bias_initializer,
                                         allow_deferred_init=True) if use_bias else None)
            self.offset = nn.Conv2D(
                offset_channels_per_tap * num_deformable_group * kh * kw, kernel_size=(kh, kw),
                strides=self._kwargs["stride"], dilation=offset_dilation,
                padding=offset_conv_padding((kh, kw), self._kwargs["pad"], self._kwargs["dilate"], offset_dilation),
                in_channels=in_channels, weight_initializer="zeros", bias_initializer="zeros",
                prefix="offset_")
        for p in self.offset.collect_params().values():
            p.lr_mult = offset_lr_mult

    def _params_for_op(self, F, weight, bias):
        # Extension ops ignore grad_req='add' (mxnet_extension_notes.md); the
        # built-in identity between the parameter and the op honours it.
        args = [F.identity(weight)]
        if bias is not None:
            args.append(F.identity(bias))
        return args

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._channels}, {self._kwargs})"


class DeformableConv2D(_DeformableConvBase):
    """Deformable convolution (DCNv1), a drop-in for ``nn.Conv2D`` (NCHW).

    ``border_rule='dcnv1'`` (default) samples exactly like MXNet's contrib op
    and the released models; ``'dcnv2'`` uses the zero-padded bilinear rule.
    ``forward`` returns the output; ``offsets(x)`` returns the learned offsets
    (N, 2 * num_deformable_group * kh * kw, Ho, Wo), (dy, dx) per tap.
    """

    def __init__(self, channels: int, kernel_size: IntPair = 3, strides: IntPair = 1,
                 padding: IntPair = 1, dilation: IntPair = 1, groups: int = 1,
                 num_deformable_group: int = 1, use_bias: bool = False, in_channels: int = 0,
                 offset_lr_mult: float = 1.0, border_rule: str = "dcnv1",
                 weight_initializer=None, bias_initializer="zeros", prefix=None, params=None,
                 offset_dilation: Optional[IntPair] = None):
        if border_rule not in ("dcnv1", "dcnv2"):
            raise ValueError(f"border_rule must be 'dcnv1' or 'dcnv2', got {border_rule!r}")
        super().__init__(channels, kernel_size, strides, padding, dilation, groups,
                         num_deformable_group, use_bias, in_channels, 2, offset_lr_mult,
                         weight_initializer, bias_initializer, prefix, params, offset_dilation)
        self._kwargs["border_rule"] = border_rule

    def offsets(self, x):
        return self.offset(x)

    def hybrid_forward(self, F, x, weight, bias=None):
        offset = self.offset(x)
        return F.DeformableConvolution(x, offset, *self._params_for_op(F, weight, bias),
                                       **self._kwargs)


class ModulatedDeformableConv2D(_DeformableConvBase):
    """Modulated deformable convolution (DCNv2): offsets and a mask per tap.

    The owned conv predicts 3 values per tap and deformable group: (dy, dx)
    offsets and a mask ``2 * sigmoid(m)``; with the zero initialisation the
    mask starts at 1, so the block starts as a regular convolution (as MSRA's
    DCNv2 example).
    """

    def __init__(self, channels: int, kernel_size: IntPair = 3, strides: IntPair = 1,
                 padding: IntPair = 1, dilation: IntPair = 1, groups: int = 1,
                 num_deformable_group: int = 1, use_bias: bool = True, in_channels: int = 0,
                 offset_lr_mult: float = 1.0, weight_initializer=None, bias_initializer="zeros",
                 prefix=None, params=None, offset_dilation: Optional[IntPair] = None):
        super().__init__(channels, kernel_size, strides, padding, dilation, groups,
                         num_deformable_group, use_bias, in_channels, 3, offset_lr_mult,
                         weight_initializer, bias_initializer, prefix, params, offset_dilation)
        kh, kw = self._kwargs["kernel"]
        self._n_offset = 2 * num_deformable_group * kh * kw

    def offsets(self, x):
        return self.offsets_and_mask(mx.nd, x)[0]

    def offsets_and_mask(self, F, x):
        om = self.offset(x)
        offset = F.slice_axis(om, axis=1, begin=0, end=self._n_offset)
        mask = 2 * F.sigmoid(F.slice_axis(om, axis=1, begin=self._n_offset, end=None))
        return offset, mask

    def hybrid_forward(self, F, x, weight, bias=None):
        offset, mask = self.offsets_and_mask(F, x)
        return F.ModulatedDeformableConvolution(x, offset, mask,
                                                *self._params_for_op(F, weight, bias),
                                                **self._kwargs)


def import_block(symbol_file: str, input_names: Union[str, Sequence[str]] = "data",
                 param_file: str | None = None, ctx=None) -> mx.gluon.SymbolBlock:
    """``SymbolBlock.imports`` that loads the operator library first."""
    load()
    return mx.gluon.SymbolBlock.imports(symbol_file, input_names, param_file, ctx=ctx)


def set_border_rule(net: Block, rule: str) -> int:
    """Set ``border_rule`` ('dcnv1' or 'dcnv2') on every :class:`DeformableConv2D` in ``net`` (before it is
    hybridised); returns how many. The config key ``network.border_rule`` does this when a network is built.
    A network trained with 'dcnv2' exports to ONNX ``DeformConv`` exactly."""
    if rule not in ("dcnv1", "dcnv2"):
        raise ValueError(f"border_rule must be 'dcnv1' or 'dcnv2', got {rule!r}")
    count = 0

    def visit(block: Block) -> None:
        nonlocal count
        if isinstance(block, DeformableConv2D):
            block._kwargs["border_rule"] = rule
            count += 1
        for child in block._children.values():
            visit(child)
    visit(net)
    return count
