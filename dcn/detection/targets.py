"""Training targets of one image (numpy; a few thousand anchors and a few
hundred RoIs, so this costs little next to the network).

* ``anchor_targets``: the original ``assign_anchor`` (positive IoU >= 0.7 or
  best anchor of a ground-truth box, which stays positive even under the
  negative threshold, negative < 0.3, anchors crossing the border ignored, 256
  sampled, at most half positive); labels are the ground-truth class + 1 for
  the class-aware RPN. (gluoncv's ``RPNTargetSampler`` applies the negative
  rule last, so a small object's best anchor became background.)
* ``proposal_targets``: the original ``proposal_target``: proposals plus the
  ground-truth boxes, foreground IoU >= FG_THRESH, background in
  [BG_THRESH_LO, BG_THRESH_HI), FG_FRACTION of ``batch_rois`` foreground
  (``batch_rois = -1`` keeps every RoI, for OHEM).
* ``ohem_select``: keep the ``k`` RoIs with the largest loss (BoxAnnotatorOHEM).

Box deltas use gluoncv's center encoder; boxes are handled as ``x2 - x1`` wide
(gluoncv's convention), consistently between encoding and decoding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np
from gluoncv.nn.coder import NumPyNormalizedBoxCenterEncoder
from gluoncv.utils.bbox import bbox_iou

RPN_STDS = (1.0, 1.0, 1.0, 1.0)  # the original's RPN deltas are not normalised


@dataclass
class AnchorTargetParams:
    batch_size: int = 256
    fg_fraction: float = 0.5
    positive_overlap: float = 0.7
    negative_overlap: float = 0.3
    allowed_border: float = 0.0
    clobber_positives: bool = False  # RPN_CLOBBER_POSITIVES: the negative rule applied after the positive ones


@dataclass
class ProposalTargetParams:
    num_classes: int  # including background
    batch_rois: int = 128  # -1: all RoIs (OHEM picks afterwards)
    fg_fraction: float = 0.25
    fg_thresh: float = 0.5
    bg_thresh_hi: float = 0.5
    bg_thresh_lo: float = 0.0
    bbox_means: Sequence[float] = (0.0, 0.0, 0.0, 0.0)
    bbox_stds: Sequence[float] = (0.1, 0.1, 0.2, 0.2)


def _safe_gt(gt_boxes: np.ndarray) -> np.ndarray:
    """Ground truth with at least 1 pixel of width/height, so log(w_gt / w) is finite."""
    gt = np.asarray(gt_boxes, np.float32).reshape(-1, 4).copy()
    gt[:, 2] = np.maximum(gt[:, 2], gt[:, 0] + 1)
    gt[:, 3] = np.maximum(gt[:, 3], gt[:, 1] + 1)
    return gt


def _encode(boxes: np.ndarray, gt: np.ndarray, matches: np.ndarray, positive: np.ndarray,
            stds: Sequence[float], means: Sequence[float] = (0.0, 0.0, 0.0, 0.0)
            ) -> Tuple[np.ndarray, np.ndarray]:
    """(N, 4) targets and weights; only ``positive`` rows are non-zero."""
    if len(gt) == 0 or len(boxes) == 0:
        z = np.zeros((len(boxes), 4), np.float32)
        return z, z.copy()
    enc = NumPyNormalizedBoxCenterEncoder(stds=tuple(stds), means=tuple(means))
    samples = np.where(positive, 1.0, -1.0)[None]
    with np.errstate(divide="ignore", invalid="ignore"):  # degenerate (clipped) boxes; their rows are masked
        targets, masks = enc(samples, matches[None].astype(np.int64), boxes[None].astype(np.float32), gt[None])
    return targets[0].astype(np.float32), masks[0].astype(np.float32)


def assign_anchor_labels(ious: np.ndarray, valid: np.ndarray, params: AnchorTargetParams,
                         rng: np.random.Generator) -> np.ndarray:
    """The original ``assign_anchor`` labelling from (N, M) anchor/ground-truth IoUs.

    ``valid`` (N,): anchors that may be sampled (inside the image). Returns (N,)
    labels -1 ignore, 0 background, 1 object. Negatives (IoU < NEG) are set first,
    then each object's best anchors (ties included) and every anchor with IoU >= POS
    become positive, so an object's best anchor stays positive even when its IoU is
    under the negative threshold (``RPN_CLOBBER_POSITIVES: false``; ``true`` applies
    the negative rule last). An object overlapping no valid anchor (best IoU 0) gets
    none (the original would then mark every zero-IoU anchor positive). At most
    ``fg_fraction * batch_size`` positives and ``batch_size - positives`` negatives
    are kept, drawn without replacement.
    """
    n, m = ious.shape
    labels = np.full(n, -1, np.int32)
    if m == 0:  # no object: every valid anchor is background
        labels[valid] = 0
    else:
        ious = np.where(valid[:, None], ious, -1.0)
        max_iou = ious.max(axis=1)
        gt_max = ious.max(axis=0)
        best = ((ious == gt_max[None, :]) & (gt_max[None, :] > 0)).any(axis=1)
        negative = valid & (max_iou < params.negative_overlap)
        if not params.clobber_positives:
            labels[negative] = 0
        labels[best] = 1
        labels[valid & (max_iou >= params.positive_overlap)] = 1
        if params.clobber_positives:
            labels[negative] = 0
    max_fg = int(params.fg_fraction * params.batch_size)
    fg = np.flatnonzero(labels == 1)
    if len(fg) > max_fg:
        labels[rng.choice(fg, len(fg) - max_fg, replace=False)] = -1
    max_bg = params.batch_size - int((labels == 1).sum())
    bg = np.flatnonzero(labels == 0)
    if len(bg) > max_bg:
        labels[rng.choice(bg, len(bg) - max_bg, replace=False)] = -1
    return labels


def anchor_targets(anchors: np.ndarray, gt_boxes: np.ndarray, gt_labels: np.ndarray, height: float,
                   width: float, params: AnchorTargetParams = AnchorTargetParams(), class_aware: bool = False,
                   rng: Optional[np.random.Generator] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns labels (N,) (-1 ignore, 0 background, 1 object or class + 1),
    box targets (N, 4) and box weights (N, 4) (:func:`assign_anchor_labels`; anchors
    crossing the image border by more than ``allowed_border`` are never sampled).
    Box targets of positives are towards the object each overlaps most."""
    rng = rng if rng is not None else np.random.default_rng(np.random.randint(2 ** 31))
    anchors = np.asarray(anchors, np.float32).reshape(-1, 4)
    gt = _safe_gt(gt_boxes)
    b = params.allowed_border
    inside = ((anchors[:, 0] >= -b) & (anchors[:, 1] >= -b) & (anchors[:, 2] < width + b)
              & (anchors[:, 3] < height + b))
    ious = bbox_iou(anchors, gt).astype(np.float32) if len(gt) else np.zeros((len(anchors), 0), np.float32)
    labels = assign_anchor_labels(ious, inside, params, rng)
    if len(gt) == 0:
        z = np.zeros((len(anchors), 4), np.float32)
        return labels, z, z.copy()
    matches = ious.argmax(axis=1)
    pos = labels > 0
    if class_aware:
        labels[pos] = np.asarray(gt_labels, np.int32)[matches[pos]] + 1
    targets, weights = _encode(anchors, gt, matches, pos, RPN_STDS)
    return labels, targets, weights


def proposal_targets(rois: np.ndarray, gt_boxes: np.ndarray, gt_labels: np.ndarray,
                     params: ProposalTargetParams, rng: np.random.Generator
                     ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sampled RoIs (S, 4), labels (S,) in [0, num_classes), class-agnostic box
    targets (S, 4) and weights (S, 4) (foreground only)."""
    gt = _safe_gt(gt_boxes)
    all_rois = np.concatenate([np.asarray(rois, np.float32).reshape(-1, 4), gt], axis=0)
    if len(gt):
        ious = bbox_iou(all_rois, gt)
        matches, max_iou = ious.argmax(1), ious.max(1)
        cls = np.asarray(gt_labels, np.int32)[matches] + 1
    else:
        matches = np.zeros(len(all_rois), np.int64)
        max_iou = np.zeros(len(all_rois))
        cls = np.zeros(len(all_rois), np.int32)
    n = len(all_rois) if params.batch_rois < 0 else params.batch_rois
    fg = np.flatnonzero(max_iou >= params.fg_thresh)
    bg = np.flatnonzero((max_iou < params.bg_thresh_hi) & (max_iou >= params.bg_thresh_lo))
    n_fg = min(int(round(params.fg_fraction * n)), len(fg))
    fg = rng.choice(fg, n_fg, replace=False) if len(fg) > n_fg else fg
    n_bg = min(n - n_fg, len(bg))
    bg = rng.choice(bg, n_bg, replace=False) if len(bg) > n_bg else bg
    keep = np.concatenate([fg, bg]).astype(np.int64)
    labels = cls[keep].copy()
    labels[n_fg:] = 0
    positive = np.arange(len(keep)) < n_fg
    targets, weights = _encode(all_rois[keep], gt, matches[keep], positive, params.bbox_stds, params.bbox_means)
    return all_rois[keep], labels, targets, weights


def ohem_select(per_roi_loss: np.ndarray, k: int, labels: np.ndarray, weights: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray]:
    """Keep the ``k`` highest-loss RoIs: others get label -1 (ignored) and box weight 0."""
    order = np.argsort(-per_roi_loss, kind="stable")
    drop = order[k:]
    labels, weights = labels.copy(), weights.copy()
    labels[drop] = -1
    weights[drop] = 0
    return labels, weights
