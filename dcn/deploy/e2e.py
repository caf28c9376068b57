"""One ONNX graph for a whole detector: ``data`` (1, 3, H, W), ``im_info`` (1, 3) = (resized h, w, scale)
-> ``detections`` (K, 6) [class, score, x1, y1, x2, y2] in original-image pixels, best first.

The NumPy steps of :mod:`dcn.deploy.pipeline` as graph ops: proposals with ``TopK`` (ties: lower index
first, as our stable sort) and ``NonMaxSuppression`` (checked equal to ``greedy_nms``: IoU with x2 - x1
widths, suppressed when > threshold, scores > 0), the whole-image fallback box, the FPN level assignment
(``NonZero`` per level, a throw-away RoI per level, order restored), head box decoding and clipping, then
per-class ``NonMaxSuppression`` with the score threshold, sort, ``max_per_image``. Not for
TEST.USE_SOFTNMS / BBOX_AVERAGING (the body + head graphs and the NumPy pipeline do those). No MXNet here.
"""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from dcn.detection.settings import BOX_DELTA_CLIP

from .convert import ConvertOptions, convert_into
from .graph import GraphBuilder

Graph = Tuple[dict, Mapping[str, np.ndarray], Mapping[str, tuple]]  # symbol JSON, params, shapes
INT64, FLOAT, DOUBLE = 7, 1, 11


def _col(g: GraphBuilder, x: str, k: int, axis: int = -1) -> str:
    return g.op("Slice", [x, g.ints([k]), g.ints([k + 1]), g.ints([axis])])


def decode(g: GraphBuilder, deltas: str, anchors: str, stds: Sequence[float], hint: str) -> str:
    """(..., 4) deltas on (..., 4) corner anchors -> corner boxes (``mx.nd.contrib.box_decode``, clipped)."""
    a = [_col(g, anchors, k) for k in range(4)]
    d = [_col(g, deltas, k) for k in range(4)]
    aw, ah = g.op("Sub", [a[2], a[0]]), g.op("Sub", [a[3], a[1]])
    ax = g.op("Add", [a[0], g.op("Mul", [aw, g.scalar(0.5)])])
    ay = g.op("Add", [a[1], g.op("Mul", [ah, g.scalar(0.5)])])
    ox = g.op("Add", [g.op("Mul", [g.op("Mul", [d[0], g.scalar(stds[0])]), aw]), ax])
    oy = g.op("Add", [g.op("Mul", [g.op("Mul", [d[1], g.scalar(stds[1])]), ah]), ay])
    clip = g.scalar(BOX_DELTA_CLIP)
    ow = g.op("Div", [g.op("Mul", [g.op("Exp", [g.op("Min", [g.op("Mul", [d[2], g.scalar(stds[2])]), clip])]), aw]),
                      g.scalar(2.0)])
    oh = g.op("Div", [g.op("Mul", [g.op("Exp", [g.op("Min", [g.op("Mul", [d[3], g.scalar(stds[3])]), clip])]), ah]),
                      g.scalar(2.0)])
    return g.op("Concat", [g.op("Sub", [ox, ow]), g.op("Sub", [oy, oh]), g.op("Add", [ox, ow]), g.op("Add", [oy, oh])],
                hint, axis=-1)


def clip_boxes(g: GraphBuilder, boxes: str, height: str, width: str, hint: str) -> str:
    """x to [0, w - 1], y to [0, h - 1] (``height``/``width``: float scalars)."""
    one, zero = g.scalar(1.0), g.scalar(0.0)
    wm, hm = g.op("Sub", [width, one]), g.op("Sub", [height, one])
    parts = [g.op("Clip", [_col(g, boxes, k), zero, wm if k % 2 == 0 else hm]) for k in range(4)]
    return g.op("Concat", parts, hint, axis=-1)


def _count(g: GraphBuilder, x: str) -> str:
    """Rows of ``x`` as an int64 (1,) tensor."""
    return g.op("Slice", [g.op("Shape", [x]), g.ints([0]), g.ints([1])])


def _start_graph(body: Graph, body_inputs: Sequence[str], settings, options: Optional[ConvertOptions],
                 split_graphs: str):
    """A one-graph model's start: the body converted on input ``data``, and ``im_info``'s height, width, scale.
    Soft-NMS and box averaging are refused (they run on ``split_graphs`` with ``dcn.deploy.pipeline``)."""
    if settings.use_softnms or settings.bbox_averaging:
        raise NotImplementedError("the end-to-end graph has per-class NMS only: TEST.USE_SOFTNMS / BBOX_AVERAGING "
                                  f"need {split_graphs} and dcn.deploy.pipeline")
    g = GraphBuilder()
    for nm in ("data", "im_info", "detections"):
        g.fresh(nm)
    outs = convert_into(g, body[0], body[1], {body_inputs[0]: "data"}, body[2], options)
    info = g.op("Reshape", ["im_info", g.ints([3])])
    return g, outs, tuple(g.op("Gather", [info, g.const(np.int64(k))]) for k in range(3))


def detector_graph(kind: str, body: Graph, head: Graph, body_inputs: Sequence[str], body_outputs: Sequence[str],
                   head_inputs: Sequence[str], settings, agnostic: bool, options: Optional[ConvertOptions] = None,
                   first_level: int = 2):
    """The end-to-end ONNX model of an R-FCN / Faster R-CNN / FPN from its traced body and head symbols.

    ``settings``: ``dcn.detection.settings.DetectParams``. ``body_outputs``: names of the body's outputs
    (features first, then rpn_logits, rpn_deltas, anchors). ``agnostic``: the head predicts one box per RoI
    (bbox_pred (R, 4)) rather than one per class (R, 4 (C + 1))."""
    s = settings
    g, outs, (height, width, scale) = _start_graph(body, body_inputs, s, options, "the body + head graphs")
    feats, (logits, deltas, anchors) = outs[:-3], outs[-3:]
    # proposals (dcn.detection.rpn.propose)
    probs = g.op("Softmax", [g.op("Squeeze", [logits, g.ints([0])])], axis=-1)
    fg = g.op("Sub", [g.scalar(1.0), g.op("Squeeze", [_col(g, probs, 0), g.ints([1])])], "rpn_fg")  # (N,)
    boxes = clip_boxes(g, decode(g, g.op("Squeeze", [deltas, g.ints([0])]), g.op("Squeeze", [anchors, g.ints([0])]),
                                 (1.0, 1.0, 1.0, 1.0), "rpn_boxes"), height, width, "rpn_clipped")
    if s.rpn_min_size > 0:  # in original-image pixels
        side = g.op("Mul", [g.scalar(s.rpn_min_size), scale])
        one = g.scalar(1.0)
        ws = g.op("Add", [g.op("Sub", [_col(g, boxes, 2), _col(g, boxes, 0)]), one])
        hs = g.op("Add", [g.op("Sub", [_col(g, boxes, 3), _col(g, boxes, 1)]), one])
        small = g.op("Squeeze", [g.op("Or", [g.op("Less", [ws, side]), g.op("Less", [hs, side])]), g.ints([1])])
        fg = g.op("Where", [small, g.scalar(-1.0), fg], "rpn_fg_sized")
    n = _count(g, fg)
    k = n if s.rpn_pre_nms_top_n <= 0 else g.op("Min", [n, g.ints([s.rpn_pre_nms_top_n])])
    top, top_idx = g.op("TopK", [fg, k], "rpn_top", outputs=2, axis=0, largest=1, sorted=1)
    top_boxes = g.op("Gather", [boxes, top_idx], "rpn_top_boxes", axis=0)
    keep_n = s.rpn_post_nms_top_n if s.rpn_post_nms_top_n > 0 else 1 << 30
    sel = g.op("NonMaxSuppression", [g.op("Unsqueeze", [top_boxes, g.ints([0])]),
                                     g.op("Unsqueeze", [top, g.ints([0, 1])]), g.ints([keep_n]),
                                     g.scalar_1d(s.rpn_nms_thresh), g.scalar_1d(0.0)], "rpn_nms")
    picked = g.op("Gather", [top_boxes, g.op("Squeeze", [_col(g, sel, 2), g.ints([1])])], "rpn_picked", axis=0)
    zero = g.scalar(0.0)
    whole = g.op("Reshape", [g.op("Concat", [g.op("Unsqueeze", [v, g.ints([0])]) for v in
                                             (zero, zero, g.op("Sub", [width, g.scalar(1.0)]),
                                              g.op("Sub", [height, g.scalar(1.0)]))], axis=0), g.ints([1, 4])])
    rois = g.op("Slice", [g.op("Concat", [picked, whole], axis=0), g.ints([0]),
                          g.op("Max", [_count(g, picked), g.ints([1])]), g.ints([0])], "rois")  # >= 1 RoI
    cls_score, bbox_pred = _head(g, kind, head, head_inputs, feats, rois, options, first_level)
    # decoding (dcn.detection.inference.decode_head_boxes) and per-class NMS (postprocess)
    probs = g.op("Softmax", [cls_score], "cls_prob", axis=-1)
    means = (np.asarray(s.bbox_means, np.float32) / np.asarray(s.bbox_stds, np.float32)).reshape(1, 1, 4)
    deltas = g.op("Add", [g.op("Reshape", [bbox_pred, g.ints([0, -1, 4])]), g.const(means)])  # (R, K, 4)
    boxes = decode(g, deltas, g.op("Unsqueeze", [rois, g.ints([1])]), s.bbox_stds, "det_boxes")
    boxes = g.op("Div", [clip_boxes(g, boxes, height, width, "det_clipped"), scale])  # (R, K, 4)
    fg_probs = g.op("Slice", [probs, g.ints([1]), g.ints([1 << 30]), g.ints([1])])  # (R, C)
    _final_nms(g, boxes, fg_probs, s, agnostic)
    return _io(kind, g)


def _final_nms(g: GraphBuilder, boxes: str, fg_probs: str, s, agnostic: bool) -> None:
    """Per-class NMS with the score threshold, best first, ``max_per_image`` -> the ``detections`` output.
    ``boxes`` (R, K, 4) in original pixels (K = 1: shared by the classes), ``fg_probs`` (R, C)."""
    thresh = g.scalar_1d(s.score_thresh)
    big = g.ints([1 << 30])
    scores_t = g.op("Transpose", [fg_probs], perm=[1, 0])  # (C, R)
    if agnostic:  # one batch of shared boxes, the classes as NMS classes
        sel = g.op("NonMaxSuppression", [g.op("Transpose", [boxes], perm=[1, 0, 2]),
                                         g.op("Unsqueeze", [scores_t, g.ints([0])]), big, g.scalar_1d(s.nms), thresh],
                   "det_nms")
        cls, box_idx = _col(g, sel, 1), _col(g, sel, 2)
        box_col = g.op("Mul", [cls, g.ints([0])])
    else:  # class-specific boxes: the classes as NMS batches
        per_class = g.op("Transpose", [g.op("Slice", [boxes, g.ints([1]), g.ints([1 << 30]), g.ints([1])])],
                         perm=[1, 0, 2])  # (C, R, 4)
        sel = g.op("NonMaxSuppression", [per_class, g.op("Unsqueeze", [scores_t, g.ints([1])]), big,
                                         g.scalar_1d(s.nms), thresh], "det_nms")
        cls, box_idx = _col(g, sel, 0), _col(g, sel, 2)
        box_col = g.op("Add", [cls, g.ints([1])])
    cls = g.op("Squeeze", [cls, g.ints([1])], "det_cls")
    score = g.op("GatherND", [fg_probs, g.op("Concat", [box_idx, g.op("Unsqueeze", [cls, g.ints([1])])], axis=1)],
                 "det_score")
    box = g.op("GatherND", [boxes, g.op("Concat", [box_idx, box_col], axis=1)], "det_box")
    m = _count(g, score)
    if s.max_per_image > 0:
        m = g.op("Min", [m, g.ints([s.max_per_image])])
    best, order = g.op("TopK", [score, m], "det_top", outputs=2, axis=0, largest=1, sorted=1)
    dets = g.op("Concat", [g.op("Unsqueeze", [g.op("Cast", [g.op("Gather", [cls, order])], to=FLOAT), g.ints([1])]),
                           g.op("Unsqueeze", [best, g.ints([1])]), g.op("Gather", [box, order], axis=0)], axis=1)
    g.op("Identity", [dets], out_names=["detections"])


def _io(kind: str, g: GraphBuilder):
    from onnx import TensorProto, helper
    inputs = [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, "height", "width"]),
              helper.make_tensor_value_info("im_info", TensorProto.FLOAT, [1, 3])]
    return g.model(inputs, [helper.make_tensor_value_info("detections", TensorProto.FLOAT, [None, 6])],
                   f"{kind}_end2end")


def class_aware_rpn_graph(body: Graph, body_inputs: Sequence[str], settings,
                          options: Optional[ConvertOptions] = None):
    """The class-aware RPN (one-stage R-FCN variant) in one graph: every anchor's (C+1)-way softmax, the
    ``rpn_pre_nms_top_n`` best by foreground score, their boxes (unit stds, clipped, / scale), per-class
    NMS (``dcn.detection.inference.raw_detections``, class-aware branch)."""
    s = settings
    g, (logits, deltas, anchors), (height, width, scale) = _start_graph(body, body_inputs, s, options,
                                                                      "the body graph")
    probs = g.op("Softmax", [g.op("Squeeze", [logits, g.ints([0])])], "anchor_probs", axis=-1)  # (N, C+1)
    fg = g.op("Sub", [g.scalar(1.0), g.op("Squeeze", [_col(g, probs, 0), g.ints([1])])], "anchor_fg")
    n = _count(g, fg)
    k = n if s.rpn_pre_nms_top_n <= 0 else g.op("Min", [n, g.ints([s.rpn_pre_nms_top_n])])
    keep = g.op("TopK", [fg, k], "anchor_top", outputs=2, axis=0, largest=1, sorted=1)[1]
    boxes = clip_boxes(g, decode(g, g.op("Squeeze", [deltas, g.ints([0])]), g.op("Squeeze", [anchors, g.ints([0])]),
                                 (1.0, 1.0, 1.0, 1.0), "anchor_boxes"), height, width, "anchor_clipped")
    boxes = g.op("Div", [g.op("Gather", [boxes, keep], axis=0), scale])
    fg_probs = g.op("Slice", [g.op("Gather", [probs, keep], axis=0), g.ints([1]), g.ints([1 << 30]), g.ints([1])])
    _final_nms(g, g.op("Unsqueeze", [boxes, g.ints([1])]), fg_probs, s, agnostic=True)
    return _io("class_aware_rpn", g)


def _head(g: GraphBuilder, kind: str, head: Graph, head_inputs: Sequence[str], feats: List[str], rois: str,
          options: Optional[ConvertOptions], first_level: int) -> Tuple[str, str]:
    def with_index(r: str) -> str:
        zeros = g.op("ConstantOfShape", [g.op("Concat", [_count(g, r), g.ints([1])], axis=0)])
        return g.op("Concat", [g.op("Cast", [zeros], to=FLOAT), r], axis=1)
    if kind != "fpn":
        return tuple(convert_into(g, head[0], head[1], {head_inputs[0]: feats[0], head_inputs[1]: with_index(rois)},
                                  head[2], options))
    levels = [nm for nm in head_inputs if not nm.startswith("rois")]
    # fpn.pyramid.assign_levels in float64: floor(4 + log2(sqrt(w h) / 224)), clipped to the levels
    r64 = g.op("Cast", [rois], to=DOUBLE)
    one = g.const(np.float64(1.0), dtype=np.float64)
    w = g.op("Max", [g.op("Add", [g.op("Sub", [_col(g, r64, 2), _col(g, r64, 0)]), one]), one])
    h = g.op("Max", [g.op("Add", [g.op("Sub", [_col(g, r64, 3), _col(g, r64, 1)]), one]), one])
    lv = g.op("Div", [g.op("Log", [g.op("Div", [g.op("Sqrt", [g.op("Mul", [w, h])]),
                                                g.const(np.float64(224.0), dtype=np.float64)])]),
                      g.const(np.float64(math.log(2.0)), dtype=np.float64)])
    lv = g.op("Floor", [g.op("Add", [lv, g.const(np.float64(4.0), dtype=np.float64)])])
    lv = g.op("Squeeze", [g.op("Cast", [g.op("Clip", [lv, g.const(np.float64(first_level), dtype=np.float64),
                                                       g.const(np.float64(first_level + len(levels) - 1),
                                                               dtype=np.float64)])], to=INT64), g.ints([1])],
              "fpn_level")
    dummy = g.const(np.array([[0, 0, 0, 15, 15]], np.float32), "fpn_dummy_roi")
    feeds: Dict[str, str] = dict(zip(levels, feats))
    real_parts, index_parts = [], []
    for i, name in enumerate(levels):
        idx = g.op("Reshape", [g.op("NonZero", [g.op("Equal", [lv, g.ints([first_level + i])])]), g.ints([-1])])
        feeds[f"rois_{name}"] = g.op("Concat", [with_index(g.op("Gather", [rois, idx], axis=0)), dummy], axis=0)
        index_parts.append(idx)
        real_parts += [g.op("Cast", [g.op("ConstantOfShape", [_count(g, idx)], value=_one_int())], to=INT64),
                       g.ints([0])]
    cls_score, bbox_pred = convert_into(g, head[0], head[1], feeds, head[2], options)
    real = g.op("Reshape", [g.op("NonZero", [g.op("Concat", real_parts, axis=0)]), g.ints([-1])])
    original = g.op("Concat", index_parts, axis=0)  # RoI index of each real row, in level order
    back = g.op("TopK", [original, _count(g, original)], outputs=2, axis=0, largest=0, sorted=1)[1]
    rows = g.op("Gather", [real, back])
    return g.op("Gather", [cls_score, rows], axis=0), g.op("Gather", [bbox_pred, rows], axis=0)


def _one_int():
    from onnx import TensorProto, helper
    return helper.make_tensor("value", TensorProto.INT64, [1], [1])
