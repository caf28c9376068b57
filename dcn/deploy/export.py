"""Export a network to ONNX (needs MXNet): the graphs of ``dcn.export`` traced and converted.

    python -m dcn.checkpoint export --format onnx --cfg CFG (--params P | --random-init) --out PREFIX
                                    [--image-size H W] [--border-rule v1|onnx]

* DeepLab, a backbone or any HybridBlock: ``PREFIX.onnx``, ``data`` (N, 3, H, W) -> the block's output.
* R-FCN, Faster R-CNN 2fc (class-aware RPN: the body alone): ``PREFIX_body.onnx`` (``data`` (1, 3, H, W) ->
  feature, RPN logits, deltas, anchors) and ``PREFIX_head.onnx`` (``feat``, ``rois`` (R, 5) -> cls_score, bbox_pred), as the MXNet
  export; FPN: body (-> P2..P5, logits, deltas, anchors) and one head of ``p2..p5`` and the RoIs of each
  level ``rois_p2..rois_p5`` (each (Ri, 5), at least one row) -> cls_score, bbox_pred of the RoIs in level
  order. With these split graphs, proposals, the level assignment and NMS are NumPy steps
  (:mod:`dcn.deploy.pipeline`).
* Detectors also get ``PREFIX.onnx``, the whole detector in one graph (``dcn.deploy.e2e``): ``data``,
  ``im_info`` (1, 3) -> ``detections`` (K, 6) [class, score, x1, y1, x2, y2] in original pixels (not with
  TEST.USE_SOFTNMS / BBOX_AVERAGING, which stay NumPy steps).
* ``PREFIX-meta.json``: network kind, graph files and their inputs/outputs, and what the NumPy steps
  need (test scale, pixel means, detection parameters, class names).

H, W are dynamic in every graph; ``image_size`` is the example size used to check the shapes.
``border_rule="v1"`` (default) keeps DCNv1 convolutions exact; ``"onnx"`` writes plain ``DeformConv``
(the zero-padded DCNv2 rule) for them too (exact for networks built with ``border_rule="dcnv2"``).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mxnet as mx
import numpy as np
from mxnet.gluon import HybridBlock

import operators
from dcn.checkpoint.build import network_kind
from dcn.modeling.parts import HybridPart
from dcn.utils.fileio import atomic_write_text

from .convert import ConvertOptions, convert_symbol

logger = logging.getLogger(__name__)
PathLike = Union[str, Path]
# block, input names, output names (None: output / output0..), input dims
GraphSpec = Tuple[HybridBlock, List[str], Optional[List[str]], Dict[str, Tuple]]


class FPNHeadGraph(HybridBlock):
    """``p2..p5, rois_p2..rois_p5 -> cls_score, bbox_pred``: each level's RoIs through its own pooling
    (with its offset fc), concatenated in level order, then the shared 2fc head of an ``fpn.FPN``."""

    def __init__(self, net):
        super().__init__(prefix="")
        self.pools = net.roi_pool.pools
        for i, pool in enumerate(self.pools):
            self.register_child(pool, f"pool_{i}")
        self.fc, self.outputs = net.fc, net.head

    def hybrid_forward(self, F, *args):
        k = len(self.pools)
        levels, rois = args[:k], args[k:]
        pooled = F.concat(*[pool(f, r) for pool, f, r in zip(self.pools, levels, rois)], dim=0)
        return self.outputs(self.fc(pooled))


def _dims(batch, channels: Optional[int] = None) -> Tuple:
    return (batch, channels if channels else "channels", "height", "width")


def graph_specs(net) -> Tuple[str, Dict[str, GraphSpec]]:
    """The network kind and its graphs: name -> (block, input names, output names, input dims)."""
    kind = network_kind(net)
    image = {"data": (1, 3, "height", "width")}
    rois = ("rois", 5)
    body = HybridPart(net, "body_outputs")  # the network's own body forward (a None output is dropped)
    if kind in ("rfcn", "faster_rcnn"):
        if getattr(net.spec, "class_aware_rpn", False):  # one stage: the RPN's (C+1)-way scores are the result
            return kind, {"body": (body, ["data"], ["rpn_logits", "rpn_deltas", "anchors"], image)}
        head = net.head
        return kind, {"body": (body, ["data"], ["feat", "rpn_logits", "rpn_deltas", "anchors"], image),
                      "head": (head, ["feat", "rois"], ["cls_score", "bbox_pred"],
                               {"feat": _dims(1), "rois": rois})}
    if kind == "fpn":
        levels = [f"p{k}" for k in range(net.roi_pool.first_level, net.roi_pool.first_level + len(net.roi_pool.pools))]
        head_dims = {**{p: _dims(1) for p in levels}, **{f"rois_{p}": (f"rois_{p}", 5) for p in levels}}
        return kind, {"body": (body, ["data"], levels + ["rpn_logits", "rpn_deltas", "anchors"], image),
                      "head": (FPNHeadGraph(net), levels + [f"rois_{p}" for p in levels], ["cls_score", "bbox_pred"],
                               head_dims)}
    if isinstance(net, HybridBlock):
        return kind or type(net).__name__, {"net": (net, ["data"], None, {"data": ("batch", 3, "height",
                                                                                          "width")})}
    raise TypeError(f"cannot export a {type(net).__name__} to ONNX: not a HybridBlock and no export recipe")


def trace(block: HybridBlock, input_names: Sequence[str]) -> Tuple[mx.sym.Symbol, Dict[str, np.ndarray]]:
    """The symbol of ``block`` on symbolic inputs and the arrays of every parameter it uses."""
    operators.load()
    out = block(*[mx.sym.var(n) for n in input_names])
    if isinstance(out, (list, tuple)):
        out = mx.sym.Group([o for o in out if o is not None])
    params = block.collect_params()
    arrays = {}
    for name in out.list_arguments() + out.list_auxiliary_states():
        if name in input_names:
            continue
        if name not in params:
            raise KeyError(f"graph variable {name!r} is neither an input {list(input_names)} nor a parameter")
        arrays[name] = params[name].data().asnumpy()
    return out, arrays


def internal_shapes(sym: mx.sym.Symbol, shapes: Dict[str, Tuple[int, ...]]) -> Dict[str, Tuple[int, ...]]:
    """Output shape of every internal node at the example input shapes (MXNet names)."""
    internals = sym.get_internals()
    _, out_shapes, _ = internals.infer_shape_partial(**shapes)
    return {n: tuple(s) for n, s in zip(internals.list_outputs(), out_shapes) if s}


def example_shapes(net, kind: str, image_size: Tuple[int, int]) -> Dict[str, Dict[str, Tuple[int, ...]]]:
    """Concrete input shapes of each graph at ``image_size`` (the head's from one body forward)."""
    from mxnet import autograd
    h, w = image_size
    x = mx.nd.zeros((1, 3, h, w))
    shapes = {"data": (1, 3, h, w)}
    if kind in ("rfcn", "faster_rcnn"):
        if getattr(net.spec, "class_aware_rpn", False):
            return {"body": shapes}
        with autograd.predict_mode():
            feat = net(x)[0]
        return {"body": shapes, "head": {"feat": feat.shape, "rois": (4, 5)}}
    if kind == "fpn":
        with autograd.predict_mode():
            levels = net.body_outputs(mx.nd, x)[:4]
        head = {f"p{k}": lv.shape for k, lv in zip(range(2, 6), levels)}
        head.update({f"rois_p{k}": (2, 5) for k in range(2, 6)})
        return {"body": shapes, "head": head}
    return {"net": shapes}


def export_onnx(net, prefix: PathLike, image_size: Tuple[int, int] = (128, 160), border_rule: str = "v1",
                meta_extra: Optional[dict] = None, psroi_impl: str = "auto") -> Dict[str, Dict]:
    """Write the ONNX graph(s) of ``net`` and ``PREFIX-meta.json``; returns the graphs written."""
    if border_rule not in ("v1", "onnx"):
        raise ValueError(f"border_rule must be 'v1' (exact DCNv1) or 'onnx' (ONNX's DCNv2 rule), got {border_rule!r}")
    import onnx
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    kind, specs = graph_specs(net)
    examples = example_shapes(net, kind, image_size)
    options = ConvertOptions(emulate_v1=border_rule == "v1", psroi_impl=psroi_impl)
    written, traced = {}, {}
    for name, (block, inputs, outputs, dims) in specs.items():
        sym, arrays = trace(block, inputs)
        shapes = internal_shapes(sym, examples[name])
        traced[name] = (json.loads(sym.tojson()), arrays, shapes, sym.infer_shape_partial(**examples[name])[1])
        model = convert_symbol(json.loads(sym.tojson()), arrays, dims, outputs, shapes, options, name=f"{kind}_{name}")
        onnx.checker.check_model(model)
        path = Path(f"{prefix}.onnx") if name == "net" else Path(f"{prefix}_{name}.onnx")
        onnx.save(model, str(path))
        written[name] = {"file": path.name, "inputs": list(inputs), "outputs": [o.name for o in model.graph.output]}
        logger.info("wrote %s (%d nodes)", path, len(model.graph.node))
    if kind in ("rfcn", "faster_rcnn", "fpn"):
        e2e = _end_to_end(kind, specs, traced, (meta_extra or {}).get("detect"), options)
        if e2e is not None:
            onnx.save(e2e, f"{prefix}.onnx")
            written["end2end"] = {"file": Path(f"{prefix}.onnx").name, "inputs": ["data", "im_info"],
                                  "outputs": ["detections"]}
            logger.info("wrote %s.onnx (%d nodes): data, im_info -> detections", prefix, len(e2e.graph.node))
    meta = {"format": "onnx", "network": kind, "class": type(net).__name__, "graphs": written,
            "border_rule": border_rule, "example_image_size": list(image_size), **(meta_extra or {})}
    atomic_write_text(f"{prefix}-meta.json", json.dumps(meta, indent=2) + "\n")
    return written


def _end_to_end(kind: str, specs: Dict[str, GraphSpec], traced: dict, detect: Optional[dict], options):
    """The one-graph detector (``dcn.deploy.e2e``), or None (logged) where it does not apply."""
    import onnx
    from .e2e import detector_graph
    from dcn.detection.settings import DetectParams
    if detect is None:
        logger.info("no detection parameters (meta_extra['detect']): %s_body/_head only, no end-to-end graph", kind)
        return None
    settings = DetectParams.from_dict(detect)
    body = traced["body"]
    try:
        if "head" not in traced:
            from .e2e import class_aware_rpn_graph
            model = class_aware_rpn_graph(body[:3], specs["body"][1], settings, options)
        else:
            head = traced["head"]
            agnostic = tuple(head[3][1])[1] == 4  # bbox_pred (R, 4): one box per RoI
            model = detector_graph(kind, body[:3], head[:3], specs["body"][1], specs["body"][2], specs["head"][1],
                                   settings, agnostic, options)
    except NotImplementedError as err:
        logger.warning("no end-to-end graph: %s", err)
        return None
    onnx.checker.check_model(model)
    return model


def _segmentation_classes(cfg) -> Tuple[str, ...]:
    from dcn.data.seg_classes import segmentation_class_names
    return segmentation_class_names(cfg.dataset.dataset, cfg.dataset.NUM_CLASSES)


def config_meta(cfg, kind: str) -> dict:
    """What the NumPy steps of :mod:`dcn.deploy.pipeline` need from the experiment config."""
    import dataclasses
    meta = {"test_scale": [int(v) for v in cfg.test_scales[0]],
            "pixel_means": [float(v) for v in cfg.network.PIXEL_MEANS],
            "image_stride": int(cfg.network.IMAGE_STRIDE), "num_classes": int(cfg.dataset.NUM_CLASSES)}
    if kind in ("rfcn", "faster_rcnn", "fpn"):
        from dcn.detection.data import class_names
        from dcn.detection.params import detect_params
        meta["detect"] = dataclasses.asdict(detect_params(cfg))
        meta["class_names"] = list(class_names(cfg))
    elif kind == "deeplab":
        meta["class_names"] = list(_segmentation_classes(cfg))
        meta["dataset"] = cfg.dataset.dataset
    return meta
