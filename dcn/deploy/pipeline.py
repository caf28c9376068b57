"""The NumPy steps around the exported graphs (no MXNet): test-time image preparation, RPN
proposals (decode, clip, min size, greedy NMS), the FPN level assignment, head box decoding and the
per-class NMS, as ``dcn.detection.inference.detect`` and ``deeplab.inference`` do them.

    det = OnnxDetector("out/rfcn")         # reads out/rfcn-meta.json, out/rfcn_body.onnx, _head.onnx
    dets = det.detect_image(img_bgr)       # (K, 6) [class, score, x1, y1, x2, y2], original pixels
    seg = OnnxSegmenter("out/deeplab")
    labels = seg.predict_labels(img_bgr)   # (H, W) uint8

``OnnxDetector`` runs the one-graph ``PREFIX.onnx`` (:mod:`dcn.deploy.e2e`, the same steps as graph ops)
when the export has it, else these NumPy steps on the body + head graphs (always for Soft-NMS and
TEST.BBOX_AVERAGING).
TEST.BBOX_AVERAGING (a second head pass, box voting) runs on the split graphs too.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from dcn.data.transforms import normalize, pad_to_stride, resize_image
from dcn.detection.box_voting import vote_boxes
from dcn.detection.nms import greedy_nms
from dcn.detection.soft_nms import soft_nms

from dcn.detection.settings import BOX_DELTA_CLIP, DetectParams

from .runtime import Session, open_session

logger = logging.getLogger(__name__)
PathLike = Union[str, Path]


def read_meta(prefix: PathLike) -> Tuple[dict, Path]:
    """``PREFIX-meta.json`` of an ONNX export and its folder."""
    path = Path(f"{prefix}-meta.json")
    if not path.is_file():
        raise FileNotFoundError(f"no {path}: export with python -m dcn.checkpoint export --format onnx")
    meta = json.loads(path.read_text())
    if meta.get("format") != "onnx":
        raise ValueError(f"{path} describes a {meta.get('format', 'MXNet')!r} export, not an ONNX one")
    return meta, path.parent


def prefix_of(onnx_path: PathLike) -> Path:
    """The export prefix of one of its ``.onnx`` files (``x.onnx``, ``x_body.onnx``, ``x_head.onnx``)."""
    p = Path(onnx_path)
    stem = p.name[:-5] if p.name.endswith(".onnx") else p.name
    for suffix in ("_body", "_head"):
        if stem.endswith(suffix) and Path(p.parent, f"{stem[:-len(suffix)]}-meta.json").is_file():
            return p.parent / stem[:-len(suffix)]
    return p.parent / stem


def decode_boxes(deltas: np.ndarray, anchors: np.ndarray, stds: Sequence[float]) -> np.ndarray:
    """(N, 4) deltas on (N, 4) corner anchors -> corner boxes (``mx.nd.contrib.box_decode``, clip)."""
    deltas, anchors = np.asarray(deltas, np.float32), np.asarray(anchors, np.float32)
    aw = anchors[:, 2] - anchors[:, 0]
    ah = anchors[:, 3] - anchors[:, 1]
    ax = anchors[:, 0] + aw * np.float32(0.5)
    ay = anchors[:, 1] + ah * np.float32(0.5)
    s = np.asarray(stds, np.float32)
    ox = deltas[:, 0] * s[0] * aw + ax
    oy = deltas[:, 1] * s[1] * ah + ay
    ow = np.exp(np.minimum(deltas[:, 2] * s[2], np.float32(BOX_DELTA_CLIP))) * aw / np.float32(2)
    oh = np.exp(np.minimum(deltas[:, 3] * s[3], np.float32(BOX_DELTA_CLIP))) * ah / np.float32(2)
    return np.stack([ox - ow, oy - oh, ox + ow, oy + oh], axis=1).astype(np.float32)


def clip_boxes(boxes: np.ndarray, height: float, width: float) -> np.ndarray:
    out = boxes.copy()
    out[..., 0::2] = np.clip(out[..., 0::2], 0, width - 1)
    out[..., 1::2] = np.clip(out[..., 1::2], 0, height - 1)
    return out


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def propose(anchors: np.ndarray, fg: np.ndarray, deltas: np.ndarray, im_info: np.ndarray,
            s: DetectParams) -> np.ndarray:
    """RPN proposals (P, 4) of one image, best first (``dcn.detection.rpn.propose``)."""
    h, w, scale = (float(v) for v in im_info)
    boxes = clip_boxes(decode_boxes(deltas, anchors, (1.0, 1.0, 1.0, 1.0)), h, w)
    scores = fg.astype(np.float32).copy()
    if s.rpn_min_size > 0:  # in original-image pixels
        small = ((boxes[:, 2] - boxes[:, 0] + 1) < s.rpn_min_size * scale) | \
                ((boxes[:, 3] - boxes[:, 1] + 1) < s.rpn_min_size * scale)
        scores[small] = -1
    keep = greedy_nms(boxes, scores, s.rpn_nms_thresh, max_keep=s.rpn_post_nms_top_n, pre_top_n=s.rpn_pre_nms_top_n)
    if len(keep) == 0:  # degenerate image: one whole-image box, as propose
        return np.array([[0, 0, w - 1, h - 1]], np.float32)
    return boxes[keep]


def decode_head_boxes(bbox_pred: np.ndarray, rois: np.ndarray, s: DetectParams) -> np.ndarray:
    """Head deltas (R, 4 K) on RoIs (R, 4) -> boxes (R, 4) (K = 1) or (R, K, 4), de-normalised."""
    r, k = rois.shape[0], bbox_pred.shape[1] // 4
    means = np.asarray(s.bbox_means, np.float32) / np.asarray(s.bbox_stds, np.float32)
    deltas = bbox_pred.reshape(r, k, 4) + means
    anchors = np.broadcast_to(rois.reshape(r, 1, 4), (r, k, 4))
    boxes = decode_boxes(deltas.reshape(-1, 4), anchors.reshape(-1, 4), s.bbox_stds)
    return boxes.reshape(r, 4) if k == 1 else boxes.reshape(r, k, 4)


def postprocess(boxes: np.ndarray, probs: np.ndarray, s: DetectParams) -> np.ndarray:
    """Per-class NMS (or Soft-NMS), score threshold, ``max_per_image`` -> (K, 6), best first."""
    num_rois, num_fg = probs.shape[0], probs.shape[1] - 1
    if num_rois == 0 or num_fg == 0:
        return np.zeros((0, 6), np.float32)
    coords = np.broadcast_to(boxes[:, None], (num_rois, num_fg, 4)) if boxes.ndim == 2 else boxes[:, 1:]
    rows = []
    for c in range(num_fg):
        if s.use_softnms:
            kept = soft_nms(coords[:, c], probs[:, c + 1], s.softnms_method, s.softnms_sigma, s.nms, s.score_thresh)
            score, box = kept[:, 4], kept[:, :4]
        else:
            keep = greedy_nms(coords[:, c], probs[:, c + 1], s.nms, valid_thresh=s.score_thresh)
            score, box = probs[keep, c + 1], coords[keep, c]
        rows.append(np.concatenate([np.full((len(score), 1), c, np.float32), score[:, None], box], axis=1))
    dets = np.concatenate(rows, axis=0).astype(np.float32)
    dets = dets[np.argsort(-dets[:, 1], kind="stable")]
    dets = dets[:s.max_per_image] if s.max_per_image > 0 else dets
    if s.bbox_averaging and len(dets):
        dets = vote_boxes(dets, coords, probs[:, 1:], s.bbox_averaging_thresh, s.score_thresh)
    return dets


def assign_levels(rois: np.ndarray, k_min: int = 2, k_max: int = 5, k0: int = 4, canonical: float = 224.0
                  ) -> np.ndarray:
    """FPN level of each RoI (R, 4) (``fpn.pyramid.assign_levels``, which imports MXNet)."""
    rois = np.asarray(rois, np.float64).reshape(-1, 4)
    w = np.maximum(rois[:, 2] - rois[:, 0] + 1, 1)
    h = np.maximum(rois[:, 3] - rois[:, 1] + 1, 1)
    return np.clip(np.floor(k0 + np.log2(np.sqrt(w * h) / canonical)), k_min, k_max).astype(np.int64)


def _with_batch_index(rois: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros((len(rois), 1), np.float32), rois.astype(np.float32)], axis=1)


class OnnxDetector:
    """R-FCN, Faster R-CNN 2fc or FPN from an ONNX export (body + head graphs + NumPy steps)."""

    def __init__(self, prefix: PathLike, runtime: str = "onnxruntime", threads: int = 1,
                 end_to_end: Optional[bool] = None) -> None:
        """``end_to_end``: detect with the one-graph ``PREFIX.onnx`` (default: when the export has it)
        rather than body + head graphs and the NumPy steps (``raw_detections`` always uses those)."""
        meta, folder = read_meta(prefix)
        self.kind = meta["network"]
        if self.kind not in ("rfcn", "faster_rcnn", "fpn"):
            raise ValueError(f"{prefix}-meta.json describes a {self.kind!r} network, not a detector")
        self.meta = meta
        self.settings = DetectParams.from_dict(meta.get("detect", {}))
        graphs = meta["graphs"]
        self.body: Session = open_session(folder / graphs["body"]["file"], runtime, threads)
        # no head: the class-aware RPN (one stage), whose anchors' (C+1)-way scores are the result
        self.head: Optional[Session] = (open_session(folder / graphs["head"]["file"], runtime, threads)
                                        if "head" in graphs else None)
        self.levels = [n for n in graphs["head"]["inputs"] if not n.startswith("rois")] if self.head else []
        if end_to_end and "end2end" not in graphs:
            raise ValueError(f"{prefix}: the export has no end-to-end graph (TEST.USE_SOFTNMS / BBOX_AVERAGING, "
                             "or exported without detection parameters)")
        self.end_to_end = bool("end2end" in graphs if end_to_end is None else end_to_end)
        self.full: Optional[Session] = (open_session(folder / graphs["end2end"]["file"], runtime, threads)
                                        if self.end_to_end else None)

    def raw_detections(self, data: np.ndarray, im_info: np.ndarray,
                       proposals: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
        """Boxes (R, 4) or (R, C+1, 4), clipped, in input pixels divided by the scale, and probabilities (R, C+1)."""
        s = self.settings
        outs = self.body({"data": data})
        feats, (logits, deltas, anchors) = outs[:-3], outs[-3:]
        height, width, scale = (float(v) for v in np.asarray(im_info).reshape(-1)[:3])
        if self.head is None:  # class-aware RPN: the best anchors by foreground score, their boxes
            probs = softmax(logits[0], axis=-1)
            fg = 1 - probs[:, 0]
            top = min(s.rpn_pre_nms_top_n, len(fg)) if s.rpn_pre_nms_top_n > 0 else len(fg)
            keep = np.argsort(-fg, kind="stable")[:top]
            boxes = clip_boxes(decode_boxes(deltas[0], anchors[0], (1.0, 1.0, 1.0, 1.0)), height, width)
            return boxes[keep] / scale, probs[keep]
        if proposals is None:
            fg = 1 - softmax(logits[0], axis=-1)[:, 0]
            rois = propose(anchors[0], fg, deltas[0], np.array([height, width, scale]), s)
        else:
            rois = np.asarray(proposals, np.float32).reshape(-1, 4)
        cls_score, bbox_pred = self._head(feats, rois)
        boxes = clip_boxes(decode_head_boxes(bbox_pred, rois, s), height, width)
        probs = softmax(cls_score, axis=-1)
        if s.bbox_averaging:  # the regressed boxes through the head once more (inference._second_iteration)
            again = (boxes[np.arange(len(boxes)), probs[:, 1:].argmax(axis=1) + 1] if boxes.ndim == 3 else boxes)
            cls2, pred2 = self._head(feats, again)
            boxes = np.concatenate([boxes, clip_boxes(decode_head_boxes(pred2, again, s), height, width)], axis=0)
            probs = np.concatenate([probs, softmax(cls2, axis=-1)], axis=0)
        return boxes / scale, probs

    def _head(self, feats: List[np.ndarray], rois: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        if self.kind != "fpn":
            return tuple(self.head({"feat": feats[0], "rois": _with_batch_index(rois)}))
        first = int(self.levels[0][1:])
        level = assign_levels(rois, first, first + len(self.levels) - 1)
        feeds: Dict[str, np.ndarray] = dict(zip(self.levels, feats))
        order = []
        for i, name in enumerate(self.levels):
            idx = np.flatnonzero(level == first + i)
            part = rois[idx]
            if len(idx) == 0:  # every level's pooling runs: one throw-away RoI for an empty level
                part = np.array([[0, 0, 15, 15]], np.float32)
                idx = np.array([-1])
            feeds[f"rois_{name}"] = _with_batch_index(part)
            order.append(idx)
        cls_score, bbox_pred = self.head(feeds)
        order = np.concatenate(order)
        real = order >= 0
        back = np.empty(len(rois), np.int64)
        back[order[real]] = np.flatnonzero(real)
        return cls_score[back], bbox_pred[back]

    def detect(self, data: np.ndarray, im_info: np.ndarray) -> np.ndarray:
        """Detections (K, 6) of one prepared image (``data`` (1, 3, H, W), ``im_info`` (h, w, scale))."""
        if self.full is not None:
            info = np.asarray(im_info, np.float32).reshape(1, -1)[:, :3]
            return self.full({"data": data, "im_info": info})[0]
        return postprocess(*self.raw_detections(data, im_info), self.settings)

    def prepare(self, img_bgr: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """The test transform of ``dcn.detection.data.make_transform`` (resize, RGB minus means, stride pad)."""
        short, max_size = self.meta["test_scale"]
        img, scale = resize_image(np.ascontiguousarray(img_bgr), int(short), int(max_size))
        data = pad_to_stride(normalize(img, np.asarray(self.meta["pixel_means"], np.float32)),
                             int(self.meta.get("image_stride", 0)))
        return data[None], np.array([img.shape[0], img.shape[1], scale], np.float32)

    def detect_image(self, img_bgr: np.ndarray) -> np.ndarray:
        """Detections (K, 6) [class, score, x1, y1, x2, y2] of a BGR image, in its pixels."""
        return self.detect(*self.prepare(img_bgr))


class OnnxSegmenter:
    """DeepLab from an ONNX export: class scores -> softmax -> resized -> labels."""

    def __init__(self, prefix: PathLike, runtime: str = "onnxruntime", threads: int = 1) -> None:
        meta, folder = read_meta(prefix)
        if "net" not in meta["graphs"]:
            raise ValueError(f"{prefix}-meta.json describes a {meta['network']!r} export with graphs "
                             f"{sorted(meta['graphs'])}, not a one-graph network")
        self.meta = meta
        self.net: Session = open_session(folder / meta["graphs"]["net"]["file"], runtime, threads)

    def predict_scores(self, data: np.ndarray, out_hw: Tuple[int, int]) -> np.ndarray:
        """``data`` (3, h, w) -> probabilities (C, H, W) at ``out_hw`` (``deeplab.inference.predict_scores``)."""
        import cv2
        prob = softmax(self.net({"data": data[None]})[0], axis=1)[0]
        h, w = out_hw
        if prob.shape[1:] == (h, w):
            return prob
        hwc = cv2.resize(np.ascontiguousarray(prob.transpose(1, 2, 0)), (w, h), interpolation=cv2.INTER_LINEAR)
        return hwc.reshape(h, w, -1).transpose(2, 0, 1)

    def predict_labels(self, img_bgr: np.ndarray) -> np.ndarray:
        """Class id per pixel (H, W) uint8 of a BGR image (test scale of the export's config)."""
        short, max_size = self.meta["test_scale"]
        img, _ = resize_image(np.ascontiguousarray(img_bgr), int(short), int(max_size))
        data = normalize(img, np.asarray(self.meta["pixel_means"], np.float32))
        return self.predict_scores(data, img_bgr.shape[:2]).argmax(axis=0).astype(np.uint8)
