"""Initialising a network's ResNet-v1 backbone from ImageNet parameter files, strictly.

Two kinds of file are read (told apart by their keys), given as a local path;
nothing is downloaded at run time:

* the original MSRA ``resnet_v1_101-0000.params`` (``arg:``/``aux:`` keys, the
  Caffe names ``conv1``, ``bn_conv1``, ``res2a_branch1`` ..., BatchNorm
  ``moving_mean/var``): ``network.pretrained: ./model/pretrained_model/resnet_v1_101``
  with ``pretrained_epoch: 0``. Its ImageNet classifier ``fc1000`` is ignored
  explicitly (logged).
* gluoncv's ResNet-v1 files (``resnet101_v1-<hash>.params``, structural keys
  ``features.4.0.body.0.weight`` or prefixed ``resnetv10_stage1_conv0_weight``):
  ``network.pretrained`` is then the file's path itself. The names are mapped
  structurally (gluoncv's network is built locally, without weights, to walk
  it). gluoncv's v1 has the stride on the 1x1 ``branch2a`` conv like ours
  (and the original), so every shape matches; what differs is folded in
  exactly: its 1x1 body convs have biases (folded into the next BatchNorm's
  running mean, which is exact with frozen statistics), and it expects RGB in
  [0, 1] normalised by ImageNet mean/std whereas our input is RGB minus
  ``PIXEL_MEANS`` in 0..255 (folded into ``conv1`` and ``bn_conv1``: exact
  except within conv1's 3-pixel zero padding at the image border, where the
  difference is about 0.5/255/0.23 ~ 0.01 of an input unit). Its ``dense0``
  classifier is ignored (logged). gluoncv's max pool pads by 1 (ours: no
  padding, ceil mode, as the original), a half-stride shift of the stride-4
  grid that fine-tuning absorbs; nothing to convert.

Strict: every backbone parameter of the network (conv1, bn_conv1, res*/bn*
``_branch*``) must be in the file with the right shape, and every array of the
file must be used or be the classifier, else :class:`ParamMismatchError` lists
each offender (``allow_missing`` / ``ignore_extra`` relax this, logged).
Parameters outside the backbone (offset convs, RPN, heads, ``conv_new_1``,
``fc6`` ...) keep their initialisation; they are listed in the log.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np
from mxnet import gluon

from dcn.checkpoint.errors import FitReport
from dcn.checkpoint.loader import _shape, assign_values, enforce, read_params
from dcn.checkpoint.tables import AUX_SUFFIXES, BACKBONE_PARAM, GLUON_SUFFIX, split_param

logger = logging.getLogger(__name__)

PIXEL_MEANS_BGR = (103.06, 115.90, 123.15)      # our input: RGB minus these (given BGR), 0..255
GLUONCV_MEAN_RGB = (0.485, 0.456, 0.406)        # gluoncv input: (RGB / 255 - mean) / std
GLUONCV_STD_RGB = (0.229, 0.224, 0.225)
CLASSIFIER_LAYERS = ("fc1000",)                  # the original ImageNet file's classifier


def missing_file_message(path: Path, depth: int = 101) -> str:
    return (f"network.pretrained: {path} does not exist. Put an ImageNet ResNet-v1-{depth} there, either\n"
            f"  * the original MSRA resnet_v1_{depth}-0000.params (linked from the Deformable-ConvNets README) "
            f"as ./model/pretrained_model/resnet_v1_{depth}-0000.params, with "
            f"network.pretrained: ./model/pretrained_model/resnet_v1_{depth} and pretrained_epoch: 0; or\n"
            f"  * gluoncv's resnet{depth}_v1-<hash>.params (written to ~/.mxnet/models/ by "
            f"gluoncv.model_zoo.get_model('resnet{depth}_v1', pretrained=True) on a machine with internet), "
            f"with network.pretrained set to that file's path.\n"
            "Nothing is downloaded at run time. (For the synthetic data, `python -m dcn.pretrain --cfg CFG` trains "
            f"./model/pretrained_model/synthetic_resnet_v1_{depth}_w4 instead, which is also made on first use.)")


def resolve_pretrained_path(prefix: str, epoch: int = 0) -> Path:
    """``prefix-000E.params``, or ``prefix`` itself when it names a ``.params`` file."""
    path = Path(prefix) if str(prefix).endswith(".params") else Path(f"{prefix}-{epoch:04d}.params")
    if not path.is_file():
        # a synthetic-pretrained backbone (.../synthetic_resnet_v1_{depth}_w{div}) is trained on first use
        from dcn.pretrain import ensure_for_prefix
        made = ensure_for_prefix(str(prefix), epoch)
        if made is not None:
            return made
        raise FileNotFoundError(missing_file_message(path))
    return path


def find_backbone(net: gluon.Block):
    from dcn.modeling.backbones.resnet_v1 import ResNetV1
    if isinstance(net, ResNetV1):
        return net
    backbone = getattr(net, "backbone", None)
    if isinstance(backbone, ResNetV1):
        return backbone
    raise TypeError(f"{type(net).__name__} has no ResNet-v1 backbone (expected a ResNetV1 or a .backbone)")


def backbone_params(net: gluon.Block) -> Dict[str, gluon.Parameter]:
    """The parameters of ``net`` that an ImageNet ResNet-v1 provides (no offset convs, no heads)."""
    return {n: p for n, p in net.collect_params().items() if BACKBONE_PARAM.match(n)}


def is_gluoncv_file(keys: Sequence[str]) -> bool:
    return any(re.match(r"^(resnetv1\d+_)?(stage\d+_|conv0_|batchnorm0_|dense0_)", k) or k.startswith("features.")
               for k in keys) and not any(k.startswith(("arg:", "aux:")) for k in keys)


# ---------------------------------------------------------------------------------------------- original
def _from_original(arrays, net, report: FitReport) -> Dict[str, np.ndarray]:
    wanted = backbone_params(net)
    values: Dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        prefix, _, name = key.partition(":")
        layer, suffix = split_param(name)
        if prefix in ("arg", "aux") and layer in CLASSIFIER_LAYERS:
            report.ignored[key] = "ImageNet classifier, not part of the network"
            continue
        ours = f"{layer}_{GLUON_SUFFIX.get(suffix, suffix)}"
        ok_kind = prefix in ("arg", "aux") and suffix and (prefix == "aux") == (suffix in AUX_SUFFIXES)
        if not ok_kind or ours not in wanted:
            report.unexpected.append((key, _shape(value)))
        elif _shape(wanted[ours]) not in ((), _shape(value)) and 0 not in _shape(wanted[ours]):
            report.mismatched.append((key, ours, _shape(value), _shape(wanted[ours])))
        else:
            report.matched[ours] = key
            values[ours] = value
    return values


# ---------------------------------------------------------------------------------------------- gluoncv
def gluoncv_layer_map(depth: int):
    """gluoncv ``resnet{depth}_v1`` (built locally, no weights) -> rows
    (our layer, kind, {file key alias: suffix}) for conv/bn/classifier layers, in network order."""
    from gluoncv.model_zoo import get_model
    from mxnet.gluon import nn

    from dcn.modeling.backbones.resnet_v1 import DEPTHS, block_names

    gnet = get_model(f"resnet{depth}_v1", pretrained=False)
    struct = {id(p): k for k, p in gnet._collect_params_with_prefix().items()}
    gprefix = gnet.prefix
    rows = []

    def add(layer_block, ours: str, kind: str):
        aliases = {}
        for p in layer_block.params.values():
            suffix = p.name[len(layer_block.prefix):]
            short = p.name[len(gprefix):] if p.name.startswith(gprefix) else p.name
            for alias in (struct[id(p)], p.name, short):
                aliases[alias] = suffix
        rows.append((ours, kind, aliases))

    feats = gnet.features
    add(feats[0], "conv1", "stem_conv")
    add(feats[1], "bn_conv1", "stem_bn")
    kind_, counts = DEPTHS[depth]
    for s, count in enumerate(counts):
        stage = s + 2
        for block, bname in zip(feats[3 + stage - 1], block_names(stage, count, depth)):
            convs = [c for c in block.body if isinstance(c, nn.Conv2D)]
            bns = [c for c in block.body if isinstance(c, nn.BatchNorm)]
            branches = ["2a", "2b", "2c"][:len(convs)]
            for conv, bn, br in zip(convs, bns, branches):
                add(conv, f"res{stage}{bname}_branch{br}", "conv")
                add(bn, f"bn{stage}{bname}_branch{br}", "bn")
            if block.downsample is not None:
                add(block.downsample[0], f"res{stage}{bname}_branch1", "conv")
                add(block.downsample[1], f"bn{stage}{bname}_branch1", "bn")
    add(gnet.output, "dense0", "classifier")
    return rows


def _from_gluoncv(arrays, net, report: FitReport, pixel_means_bgr: Sequence[float],
                  fold_input_normalization: bool) -> Dict[str, np.ndarray]:
    depth = find_backbone(net).spec.depth
    wanted = backbone_params(net)
    rows = gluoncv_layer_map(depth)
    by_alias: Dict[str, Tuple[str, str, str]] = {}
    for ours, kind, aliases in rows:
        for alias, suffix in aliases.items():
            by_alias[alias] = (ours, kind, suffix)
    # the prefix of a gluoncv net depends on how many were built in that process (resnetv10_, resnetv11_ ...)
    norm = {}
    for key in arrays:
        alias = key if key in by_alias else re.sub(r"^resnetv1\d+_", "", key)
        norm[key] = alias if alias in by_alias else None
    layers: Dict[str, Dict[str, Tuple[str, np.ndarray]]] = {}
    for key, value in arrays.items():
        if norm[key] is None:
            report.unexpected.append((key, _shape(value)))
            continue
        ours, kind, suffix = by_alias[norm[key]]
        if kind == "classifier":
            report.ignored[key] = "ImageNet classifier (gluoncv dense0), not part of the network"
            continue
        layers.setdefault(ours, {})[suffix] = (key, value.asnumpy().astype(np.float32))

    values: Dict[str, np.ndarray] = {}
    folded_bias: Dict[str, Tuple[str, np.ndarray]] = {}   # our BatchNorm -> (file key, bias of the conv before it)
    input_shift = None                                     # per-channel conv1 response to the input offset
    for ours, kind, _ in rows:
        parts = layers.get(ours, {})
        if kind == "conv" and "bias" in parts:  # fold into the BatchNorm that follows
            folded_bias["bn" + ours[3:]] = parts.pop("bias")
        if kind == "stem_conv" and fold_input_normalization and "weight" in parts:
            key, w = parts["weight"]
            mean_rgb = np.asarray(pixel_means_bgr, np.float64)[::-1]
            std = np.asarray(GLUONCV_STD_RGB, np.float64)
            offset = (mean_rgb - 255.0 * np.asarray(GLUONCV_MEAN_RGB)) / (255.0 * std)
            parts["weight"] = (key, (w / (255.0 * std)[None, :, None, None]).astype(np.float32))
            input_shift = (w * offset[None, :, None, None]).sum(axis=(1, 2, 3)).astype(np.float32)
            report.notes.append("gluoncv input normalisation ((RGB/255 - mean)/std) folded into conv1/bn_conv1 "
                                f"for our input RGB - PIXEL_MEANS{list(pixel_means_bgr)} (BGR order)")
        for suffix, (key, arr) in parts.items():
            name = f"{ours}_{suffix}"
            if name not in wanted:
                report.unexpected.append((key, arr.shape))
            elif _shape(wanted[name]) != arr.shape and 0 not in _shape(wanted[name]):
                report.mismatched.append((key, name, arr.shape, _shape(wanted[name])))
            else:
                report.matched[name] = key
                values[name] = arr
    shifts = {bn: bias for bn, (_, bias) in folded_bias.items()}
    if input_shift is not None:
        shifts["bn_conv1"] = shifts.get("bn_conv1", 0) + input_shift
    for bn, shift in shifts.items():
        name = f"{bn}_running_mean"
        if name in values and values[name].shape == np.shape(shift):
            values[name] = values[name] - shift  # BN(x + b) with frozen stats == BN'(x), mean' = mean - b
    if folded_bias:
        report.notes.append(f"{len(folded_bias)} conv biases of gluoncv's 1x1 convs folded into the running_mean of "
                            "the BatchNorm after each (exact with frozen statistics)")
    return values


# ---------------------------------------------------------------------------------------------- entry point
def load_pretrained(net: gluon.Block, prefix: str, epoch: int = 0, *, allow_missing: bool = False,
                    ignore_extra: bool = False, pixel_means_bgr: Sequence[float] = PIXEL_MEANS_BGR,
                    fold_input_normalization: bool = True) -> int:
    """Load the backbone of ``net`` from ``prefix-000E.params`` (original) or a gluoncv ``.params`` path.

    Returns the number of parameters loaded. Raises ``FileNotFoundError`` (saying
    where to put the file) or :class:`dcn.checkpoint.ParamMismatchError`.
    """
    norm = find_backbone(net).spec.norm
    if norm != "frozen_bn":
        raise ValueError(f"network.pretrained: an ImageNet-style backbone brings BatchNorm statistics to freeze; "
                         f"set network.norm: frozen_bn (got {norm!r}: that network has no place for them)")
    path = resolve_pretrained_path(prefix, epoch)
    arrays = read_params(path)
    gluoncv = is_gluoncv_file(list(arrays))
    report = FitReport(path=str(path), network=f"{type(net).__name__} backbone",
                       source="gluoncv" if gluoncv else "original")
    if gluoncv:
        values = _from_gluoncv(arrays, net, report, pixel_means_bgr, fold_input_normalization)
    else:
        values = _from_original(arrays, net, report)
    for name, param in backbone_params(net).items():
        if name not in values:
            report.missing.append((name, _shape(param)))
    enforce(report, allow_missing, ignore_extra)
    assign_values(net, values)
    for name, why in report.ignored.items():
        logger.info("pretrained %s: ignored %s: %s", path, name, why)
    for note in report.notes:
        logger.info("pretrained %s: %s", path, note)
    rest = sorted({split_param(n)[0] or n for n in net.collect_params() if n not in values})
    logger.info("pretrained %s (%s): %s; layers keeping their initialisation: %s", path, report.source,
                report.summary(), ", ".join(rest) or "none")
    return len(values)


def prepare_for_training(net: gluon.Block, cfg, ctx) -> gluon.Block:
    """Initialise a new network (scratch start unless ``network.pretrained``, whose backbone weights are then
    loaded strictly) and hybridise it. ``net`` provides ``initialize_weights(ctx=, scratch=)``."""
    from dcn.engine.checkpoint import seed_everything
    seed_everything(cfg.default.seed)  # the initial weights depend on the seed, not on what ran before
    net.initialize_weights(ctx=ctx, scratch=not cfg.network.pretrained)
    if cfg.network.pretrained:
        load_pretrained(net, cfg.network.pretrained, cfg.network.pretrained_epoch)
    net.hybridize()
    return net
