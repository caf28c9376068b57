"""Name mapping tables: the original MSRA symbols' layers -> the parameters of our networks.

Every layer of the original ``resnet_v1_101_rfcn(_dcn)`` and
``resnet_v1_101_deeplab(_dcn)`` symbols is listed here with the layer of our
network that takes its arrays. Parameter names are ``<layer>_<suffix>``, suffix
one of ``weight bias gamma beta moving_mean moving_var`` in the original files
(``arg:``/``aux:`` prefixed) and ``... running_mean running_var`` in ours.

Our layer names equal the original ones for every layer (the backbone and
heads were built with the original names), so every row below is a rename to
the same name; two rows change the *values* on the way:

* ``rpn_cls_score``: the original reshapes its 2A channels to (2, A, H, W), so
  channel ``k*A + a`` is class k of anchor a (class-major); our RPN reads
  (H, W, A, 2), channel ``a*2 + k`` (anchor-major). The rows of the weight and
  bias are permuted (``class_major_to_anchor_major``).
* ``rfcn_bbox`` with ``_test`` arrays: the original's checkpoint callback
  (``rfcn/core/callback.py`` ``do_checkpoint``) also saves
  ``rfcn_bbox_{weight,bias}_test`` = the trained layer with the box-target
  normalisation folded in (weight x std, bias x std + mean, per output
  channel), and its test code loads them with ``load_param(process=True)``,
  which renames ``*_test`` to the base name. Our ``dcn.detection.inference`` decodes
  ``bbox_pred`` with ``TRAIN.BBOX_MEANS/STDS`` itself, so the ``_test``
  arrays are re-normalised here ((w / std), (b - mean) / std) — the boxes then
  come out exactly as the original's test computed them, whatever stds the
  config holds, and the loaded net is a normal (normalised) net that can be
  trained further or exported.

Faster R-CNN 2fc (``resnet_v1_101_rcnn(_dcn)``, ``fpn.rcnn.FasterRCNN``) and FPN
(``resnet_v1_101_fpn(_dcn)_rcnn``, ``fpn.pyramid_net.FPN``) use the same two
value changes: the RPN classifier permutation (the original FPN reshapes each
level's ``rpn_cls_score`` to (2, -1) as well) and ``bbox_pred_{weight,bias}_test``
(the original callback's ``(w.T * stds).T``, ``b * stds + means`` with
means/stds tiled over the 4·NUM_CLASSES outputs, so output c is coordinate
c % 4: ``layout='rcnn'``). One name differs: the original FPN's RPN, shared
by P2-P6, is ``rpn_conv_weight/bias`` (``get_rpn_subnet``'s shared
Variables); ours is ``rpn_conv_3x3`` as in the single-map networks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

PARAM_SUFFIXES = ("weight", "bias", "gamma", "beta", "moving_mean", "moving_var", "running_mean", "running_var")
AUX_SUFFIXES = ("moving_mean", "moving_var", "running_mean", "running_var")
GLUON_SUFFIX = {"moving_mean": "running_mean", "moving_var": "running_var"}

# the ImageNet ResNet-v1 layers (conv1, bn_conv1, res4b22_branch2b, bn5a_branch1 ...), without offset convs
BACKBONE_PARAM = re.compile(r"^(conv1|bn_conv1|(res|bn)\d+[a-z]\d*_branch(1|2[abc]))_"
                            r"(weight|bias|gamma|beta|running_mean|running_var|moving_mean|moving_var)$")

def split_param(name: str) -> Tuple[str, str]:
    """'bn5a_branch2b_moving_var' -> ('bn5a_branch2b', 'moving_var'); ('', '') if no known suffix."""
    for suffix in PARAM_SUFFIXES:
        if name.endswith("_" + suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix) - 1], suffix
    return "", ""


def class_major_to_anchor_major(arr: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows ``k*A + a`` (original RPN classifier) -> rows ``a*K + k`` (ours)."""
    n = arr.shape[0]
    if n % num_classes:
        raise ValueError(f"{n} rows are not a multiple of {num_classes} classes")
    return np.ascontiguousarray(arr.reshape((num_classes, n // num_classes) + arr.shape[1:])
                                .swapaxes(0, 1).reshape(arr.shape))


def box_coordinate_of_channel(num_channels: int, num_reg_classes: int, layout: str) -> np.ndarray:
    """Which box coordinate (0..3 = dx, dy, dw, dh) each output channel of a box layer predicts.

    ``layout='rfcn'``: position-sensitive maps, channel c belongs to pooled
    output ``c // (k*k)`` = reg_class*4 + coordinate (the original callback's
    ``mx.nd.repeat`` of the tiled means/stds); ``'rcnn'``: an FC layer with
    4 outputs per class (``tile``).
    """
    c = np.arange(num_channels)
    if layout == "rfcn":
        per_output = num_channels // (4 * num_reg_classes)
        if per_output * 4 * num_reg_classes != num_channels:
            raise ValueError(f"{num_channels} channels do not split into 4 x {num_reg_classes} outputs")
        return (c // per_output) % 4
    if layout == "rcnn":
        return c % 4
    raise ValueError(f"unknown box layout {layout!r}")


def renormalise_box_layer(weight_test: np.ndarray, bias_test: np.ndarray, means: Sequence[float],
                          stds: Sequence[float], num_reg_classes: int, layout: str
                          ) -> Tuple[np.ndarray, np.ndarray]:
    """Undo the original callback's de-normalisation: w = w_test / std, b = (b_test - mean) / std."""
    means, stds = np.asarray(means, np.float64), np.asarray(stds, np.float64)
    if means.shape != (4,) or stds.shape != (4,) or np.any(stds == 0):
        raise ValueError(f"BBOX_MEANS/BBOX_STDS must be 4 numbers, stds non-zero; got {means}, {stds}")
    coord = box_coordinate_of_channel(weight_test.shape[0], num_reg_classes, layout)
    s = stds[coord]
    w = weight_test / s.reshape((-1,) + (1,) * (weight_test.ndim - 1))
    b = (bias_test - means[coord]) / s
    return w.astype(weight_test.dtype), b.astype(bias_test.dtype)


@dataclass(frozen=True)
class LayerRule:
    """One layer of the original symbol and the layer of ours that takes its arrays."""
    original: str
    ours: str
    note: str = ""
    # (array, our network) -> array; applied to weight and bias alike
    transform: Optional[Callable[[np.ndarray, object], np.ndarray]] = None
    # the original saves de-normalised '<layer>_{weight,bias}_test' arrays for this layer
    test_arrays: Optional[Tuple[str, int]] = None  # (box layout, num_reg_classes)


@dataclass(frozen=True)
class ClassLayer:
    """A layer whose output count follows ``dataset.NUM_CLASSES``: named in the hint of a mis-shaped file."""
    param: str                                  # our parameter, e.g. 'cls_score_weight'
    per_class: Callable[[object], int]          # (our network) -> output channels per class
    advice: str = "set dataset.NUM_CLASSES"


@dataclass(frozen=True)
class NetworkTable:
    """Mapping of one network: head layers (explicit), backbone layers (identity), derived params."""
    network: str
    head: Tuple[LayerRule, ...]
    derived: Dict[str, str] = field(default_factory=dict)  # our param -> why it is not in any file
    offsets: str = "res5{a,b,c}_branch2b_offset (and res4b20..22 with 6 deformable layers)"
    class_layers: Tuple[ClassLayer, ...] = ()  # for the NUM_CLASSES hint of a mis-shaped file

    def rule_for_original(self, layer: str) -> Optional[LayerRule]:
        for rule in self.head:
            if rule.original == layer:
                return rule
        return None

    def our_layer(self, original_layer: str) -> Optional[str]:
        """Our layer for an original one; None for a name the original network never has (a renamed layer's
        new name, e.g. ``rpn_conv_3x3`` in an FPN file, whose original is ``rpn_conv``)."""
        rule = self.rule_for_original(original_layer)
        if rule is not None:
            return rule.ours
        if any(r.ours == original_layer for r in self.head):
            return None
        return original_layer  # backbone layers keep their names

    def original_of(self, our_layer: str) -> Optional[str]:
        for rule in self.head:
            if rule.ours == our_layer:
                return rule.original
        return None

    def rows(self) -> list:
        """(original layer, our layer, note) rows, for documentation and ``--table``."""
        rows = [("conv1, bn_conv1", "same", "ResNet-v1 stem (moving_* -> running_*)"),
                ("res{2..5}{a,b,c,b1..b22}_branch{1,2a,2b,2c}, bn...", "same",
                 "ResNet-v1 blocks; the deformable 3x3 keeps the name res5x_branch2b"),
                (self.offsets, "same", "offset convs (dcn only)")]
        rows += [(r.original, r.ours, r.note) for r in self.head]
        rows += [("(none)", name, why) for name, why in self.derived.items()]
        return rows


def rpn_classifier_rows(arr: np.ndarray, net) -> np.ndarray:
    """The original RPN classifier's rows in our order (``LayerRule.transform`` of ``rpn_cls_score``)."""
    return class_major_to_anchor_major(arr, int(getattr(getattr(net, "spec", None), "rpn_classes", 2)))


# the RPN on res4 of the single-map networks (R-FCN, Faster R-CNN), shared by their tables
RPN_RULES = (LayerRule("rpn_conv_3x3", "rpn_conv_3x3", "RPN 3x3 conv on res4b22_relu"),
             LayerRule("rpn_cls_score", "rpn_cls_score", "rows permuted: class-major (original) -> anchor-major "
                       "(ours)", transform=rpn_classifier_rows),
             LayerRule("rpn_bbox_pred", "rpn_bbox_pred", "anchor-major (a*4 + coordinate) in both"))
ANCHORS_DERIVED = {"anchors_anchor_": "anchor boxes computed from ANCHOR_SCALES/RATIOS (the original computes them "
                                      "in Python); never read from a file"}

BACKBONE_TABLE = NetworkTable(network="resnet_v1", head=())
