"""Region proposal network: a softmax head over anchors, and proposal generation.

The classifier is softmax over ``num_classes`` per anchor as in the original
(2 = background/object). With ``num_classes = C + 1`` it is the paper's
class-aware RPN (an SSD-like one-stage detector). Anchors come from gluoncv's
``RPNAnchorGenerator`` (same enumeration as the original ``generate_anchors``:
ratios outer, scales inner, centred on ``stride / 2``).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import mxnet as mx
from gluoncv.model_zoo.rcnn.rpn.anchor import RPNAnchorGenerator
from mxnet import autograd
from mxnet.gluon import HybridBlock, nn

from .nms import greedy_nms
from .settings import BOX_DELTA_CLIP

# largest log size ratio a box delta may encode (as Detectron's BBOX_XFORM_CLIP)


class RPNHead(HybridBlock):
    """3x3 conv (``rpn_conv_3x3``) -> per-anchor class logits and box deltas.

    Outputs are flattened in (H, W, anchor) order, matching the anchor generator:
    logits (B, H*W*A, num_classes), deltas (B, H*W*A, 4).
    """

    def __init__(self, num_anchors: int, num_classes: int = 2, channels: int = 512, **kwargs):
        kwargs.setdefault("prefix", "")  # the original symbol's parameter names
        super().__init__(**kwargs)
        self._k = num_classes
        init = mx.init.Normal(0.01)
        with self.name_scope():
            self.conv = nn.Conv2D(channels, 3, padding=1, activation="relu", weight_initializer=init,
                                  prefix="rpn_conv_3x3_")
            self.cls = nn.Conv2D(num_anchors * num_classes, 1, weight_initializer=init, prefix="rpn_cls_score_")
            self.bbox = nn.Conv2D(num_anchors * 4, 1, weight_initializer=init, prefix="rpn_bbox_pred_")

    def hybrid_forward(self, F, x):
        h = self.conv(x)
        logits = self.cls(h).transpose((0, 2, 3, 1)).reshape((0, -1, self._k))
        deltas = self.bbox(h).transpose((0, 2, 3, 1)).reshape((0, -1, 4))
        return logits, deltas


def make_anchor_generator(stride: int, scales: Sequence[float], ratios: Sequence[float],
                          alloc_size: Tuple[int, int] = (128, 128), prefix: str = "anchors_") -> RPNAnchorGenerator:
    """Anchors of side ``stride * scale`` (the original's base size 16 x ANCHOR_SCALES)."""
    return RPNAnchorGenerator(stride=stride, base_size=stride, ratios=list(ratios), scales=list(scales),
                              alloc_size=alloc_size, prefix=prefix)


def decode_boxes(deltas: mx.nd.NDArray, anchors: mx.nd.NDArray, stds: Sequence[float]) -> mx.nd.NDArray:
    """(B, N, 4) deltas on (B, N, 4) corner anchors -> corner boxes (inverse of gluoncv's encoder)."""
    return mx.nd.contrib.box_decode(deltas, anchors, *[float(s) for s in stds], clip=BOX_DELTA_CLIP,
                                    format="corner")


def clip_boxes(boxes: mx.nd.NDArray, height: float, width: float) -> mx.nd.NDArray:
    x1, y1, x2, y2 = mx.nd.split(boxes, num_outputs=4, axis=-1)
    return mx.nd.concat(x1.clip(0, width - 1), y1.clip(0, height - 1), x2.clip(0, width - 1),
                        y2.clip(0, height - 1), dim=-1)


def propose(anchors: mx.nd.NDArray, fg_scores: mx.nd.NDArray, deltas: mx.nd.NDArray, im_info: mx.nd.NDArray,
            pre_nms_top_n: int, post_nms_top_n: int, nms_thresh: float, min_size: float = 0
            ) -> Tuple[mx.nd.NDArray, mx.nd.NDArray]:
    """Proposals of one image: decode, clip, drop small boxes, greedy NMS, keep the best.

    anchors (1, N, 4), fg_scores (1, N), deltas (1, N, 4), im_info (1, 3) = (h, w, scale).
    Returns rois (P, 4) and their scores (P,), P <= post_nms_top_n, best first.
    """
    with autograd.pause():
        h, w, scale = (float(v) for v in im_info[0].asnumpy())
        boxes = clip_boxes(decode_boxes(deltas, anchors, (1.0, 1.0, 1.0, 1.0)), h, w)[0]
        scores = fg_scores[0]
        if min_size > 0:  # RPN_MIN_SIZE is in original-image pixels, as in the original
            ws = boxes[:, 2] - boxes[:, 0] + 1
            hs = boxes[:, 3] - boxes[:, 1] + 1
            small = (ws < min_size * scale) + (hs < min_size * scale)
            scores = mx.nd.where(small > 0, -mx.nd.ones_like(scores), scores)
        boxes_np, scores_np = boxes.asnumpy(), scores.asnumpy()
        keep = greedy_nms(boxes_np, scores_np, nms_thresh, max_keep=post_nms_top_n, pre_top_n=pre_nms_top_n)
        ctx = boxes.context
        if len(keep) == 0:  # degenerate image: fall back to one whole-image box
            return mx.nd.array([[0, 0, w - 1, h - 1]], ctx=ctx), mx.nd.zeros((1,), ctx=ctx)
        return mx.nd.array(boxes_np[keep], ctx=ctx), mx.nd.array(scores_np[keep], ctx=ctx)
