"""The pretraining network (plain ResNet-v1 + global average pooling + ``fc1000``) and its export
in the file format and parameter names of the released MSRA ImageNet models."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Union

import mxnet as mx
from mxnet import gluon
from mxnet.gluon import nn

from dcn.checkpoint.tables import BACKBONE_PARAM
from dcn.modeling.backbones.resnet_v1 import ResNetV1, ResNetV1Spec
from dcn.engine.finite import NonFiniteWeightsError, check_finite_params, non_finite_arrays
from dcn.utils.fileio import atomic_write

CLASSIFIER = "fc1000"  # the ImageNet classifier's name in the original files; load_pretrained ignores it
_TO_ORIGINAL = {"running_mean": "moving_mean", "running_var": "moving_var"}


def backbone_spec(depth: int, width_divisor: int) -> ResNetV1Spec:
    """The plain ImageNet-style net: no deformable layers (their offset convs are new layers, initialised at
    detection time), stride-32 conv5, batch-statistics BatchNorm."""
    return ResNetV1Spec(depth=depth, width_divisor=width_divisor, norm="bn", res5_dilation=1,
                        num_deformable_layers=0, out_stages=("res5",))


class Classifier(gluon.HybridBlock):
    """ResNet-v1 -> global average pool -> ``fc1000`` (with ``num_classes`` outputs). Unprefixed names, so
    the backbone's parameters are exactly the original ones (``conv1_weight``, ``bn2a_branch2a_gamma`` ...)."""

    def __init__(self, depth: int, width_divisor: int, num_classes: int):
        super().__init__(prefix="")
        with self.name_scope():
            self.backbone = ResNetV1(backbone_spec(depth, width_divisor))
            self.fc = nn.Dense(num_classes, prefix=f"{CLASSIFIER}_")

    def hybrid_forward(self, F, x):
        return self.fc(F.mean(self.backbone(x), axis=(2, 3)))

    def initialize_weights(self, ctx: mx.Context) -> None:
        """He init for convs (ReLU net), BN gamma 1 / beta 0 / stats 0, 1; small classifier. (Zero-init of
        each block's last gamma trained slower here.)"""
        self.initialize(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2), ctx=ctx)
        self.fc.weight.initialize(mx.init.Normal(0.01), ctx=ctx, force_reinit=True)


def original_arrays(net: Classifier) -> Dict[str, mx.nd.NDArray]:
    """``arg:``/``aux:`` arrays in the original naming: BatchNorm stats as ``aux:*_moving_mean/var``."""
    out: Dict[str, mx.nd.NDArray] = {}
    for name, param in net.collect_params().items():
        if not (BACKBONE_PARAM.match(name) or name.startswith(f"{CLASSIFIER}_")):
            raise ValueError(f"unexpected parameter {name!r}: not an ImageNet ResNet-v1 layer")
        key = f"arg:{name}"
        for ours, original in _TO_ORIGINAL.items():
            if name.endswith(f"_{ours}"):
                key = f"aux:{name[:-len(ours)]}{original}"
        out[key] = param.data().copyto(mx.cpu())
    return out


def check_finite(net: gluon.Block, where: str) -> None:
    check_finite_params(net, where, hint="lower --lr?")


def save_original(net: Classifier, path: Union[str, Path]) -> Path:
    """Write ``path`` (``PREFIX-0000.params``) atomically with ``mx.nd.save``, after checking every value."""
    arrays = original_arrays(net)
    bad = non_finite_arrays(arrays)
    if bad:
        raise NonFiniteWeightsError(f"{path}: non-finite values in {', '.join(bad[:5])}; not written")
    return atomic_write(path, lambda tmp: mx.nd.save(tmp, arrays))

