"""DeepLab (Chen et al.) on a ResNet-v1 backbone with deformable conv5 layers (Dai et al. 2017, section 3).

As the original ``resnet_v1_101_deeplab(_dcn)`` symbols:
ResNet-v1 (conv5 stride 1, dilation 2 -> output stride 16; the last 0/1/2/3/6
3x3 convs deformable, one offset group) -> ``fc6`` 1x1 conv (1024) + ReLU ->
``score`` 1x1 conv to the class maps -> ``upsampling``: a fixed bilinear
Deconvolution (kernel 32, stride 16, one group per class, lr_mult 0) cropped
at offset (8, 8) to the input size. Training applies softmax cross-entropy with
the ignore label (``deeplab.loss``).

The original DeepLab offset convs are plain 3x3 convs (pad 1, no dilation),
unlike R-FCN's, which copy the deformable conv's dilation; ``offset_dilation``
keeps that choice (the parameter shapes are the same either way).
"""
from __future__ import annotations

from dataclasses import dataclass

import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from dcn.modeling.backbones.resnet_v1 import ResNetV1, ResNetV1Spec
from dcn.modeling.scratch_init import initialize_and_probe, zero_last_bn_gammas

OUTPUT_STRIDE = 16


@dataclass(frozen=True)
class DeepLabSpec:
    num_classes: int                  # output maps: VOC 21 (20 + background), Cityscapes 19
    depth: int = 101
    width_divisor: int = 1            # >1 shrinks every width (CPU-sized experiments)
    norm: str = "frozen_bn"            # backbone normalisation (dcn.modeling.norm)
    num_deformable_layers: int = 3    # paper Table 1: 0/1/2/3/6
    deformable_groups: int = 1        # the original DeepLab: one offset group (18-channel offsets)
    dilation: int = 2                 # conv5 atrous rate (paper Table 3: 2/4/6/8)
    fc6_channels: int = 1024
    offset_dilation: int = 1          # dilation of the offset convs (original DeepLab: 1, pad 1)
    input_scale: float = 1.0          # multiplies the mean-subtracted image; 1/PIXEL_STD for scratch nets

    def validate(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        if self.dilation < 2:
            raise ValueError("DeepLab needs a dilated conv5 (dilation >= 2) for its output stride of 16; "
                             f"got dilation={self.dilation}")
        if self.offset_dilation < 1:
            raise ValueError(f"offset_dilation must be >= 1, got {self.offset_dilation}")


class BilinearUpsampling(HybridBlock):
    """Fixed bilinear x``factor`` upsampling of each map, cropped to ``like``'s size.

    A grouped ``Conv2DTranspose`` (kernel 2f, stride f) with bilinear weights
    that are never trained, then a crop at offset f/2: the original's
    Deconvolution + Crop, so feature cell i peaks at pixel f*i + (f-1)/2.
    """

    def __init__(self, channels: int, factor: int = OUTPUT_STRIDE, **kwargs):
        super().__init__(**kwargs)
        self._offset = factor // 2
        with self.name_scope():
            self.deconv = nn.Conv2DTranspose(channels, 2 * factor, strides=factor, groups=channels,
                                             use_bias=False, in_channels=channels,
                                             weight_initializer=mx.init.Bilinear(), prefix="")
        self.deconv.weight.grad_req = "null"
        self.deconv.weight.lr_mult = 0.0

    def hybrid_forward(self, F, x, like):
        y = self.deconv(x)
        y = F.slice(y, begin=(None, None, self._offset, self._offset), end=(None, None, None, None))
        return F.slice_like(y, like, axes=(2, 3))


class DeepLab(HybridBlock):
    """``data`` (N, 3, H, W) -> class scores (N, num_classes, H, W) (before softmax)."""

    def __init__(self, spec: DeepLabSpec, **kwargs):
        super().__init__(prefix="", **kwargs)
        spec.validate()
        self.spec = spec
        div = spec.width_divisor
        with self.name_scope():
            self.backbone = ResNetV1(ResNetV1Spec(
                depth=spec.depth, num_deformable_layers=spec.num_deformable_layers,
                deformable_groups=spec.deformable_groups, offset_dilation=spec.offset_dilation,
                res5_dilation=spec.dilation, reduce_channels=0, out_stages=("res5",), width_divisor=div, norm=spec.norm))
            # the original initialises both 1x1 convs with N(0, 0.01) and zero bias
            self.fc6 = nn.Conv2D(max(spec.fc6_channels // div, 16), 1,
                                 weight_initializer=mx.init.Normal(0.01), prefix="fc6_")
            self.score = nn.Conv2D(spec.num_classes, 1, weight_initializer=mx.init.Normal(0.01),
                                   prefix="score_")
            self.upsampling = BilinearUpsampling(spec.num_classes, OUTPUT_STRIDE, prefix="upsampling_")

    def initialize_weights(self, ctx=None, scratch: bool = True) -> None:
        """MSRA init for the backbone, N(0, 0.01) for fc6/score as the original. ``scratch`` (nothing
        pretrained to load): residual blocks start as the identity (:mod:`dcn.modeling.scratch_init`)
        and fc6/score get MSRA init too."""
        ctx, _ = initialize_and_probe(self, ctx)
        if scratch:
            zero_last_bn_gammas(self.backbone)
            # N(0, 0.01) heads suit a pretrained backbone; on a scratch one they pass back too little
            # gradient to open the identity-initialised blocks, and a small net predicts only background
            for conv in (self.fc6, self.score):
                conv.weight.set_data(mx.nd.random.normal(0, (2.0 / conv.weight.shape[1]) ** 0.5,
                                                         conv.weight.shape, ctx=ctx))

    def features(self, F, x):
        """fc6 features (N, fc6, H/16, W/16)."""
        if self.spec.input_scale != 1.0:
            x = x * self.spec.input_scale
        return F.relu(self.fc6(self.backbone(x)))

    def hybrid_forward(self, F, x):
        return self.upsampling(self.score(self.features(F, x)), x)
