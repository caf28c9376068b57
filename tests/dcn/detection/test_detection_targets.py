"""RPN anchor labelling against the original ``assign_anchor`` rule (transcribed below); anchor sampling,
proposal targets and OHEM selection."""
import numpy as np
import pytest

from dcn.detection.targets import (AnchorTargetParams, ProposalTargetParams, anchor_targets,
                                    assign_anchor_labels, ohem_select, proposal_targets)
from gluoncv.utils.bbox import bbox_iou

BIG = 10 ** 6  # a batch size that keeps every label (no subsampling)


def original_labels(overlaps: np.ndarray, neg: float, pos: float, clobber: bool) -> np.ndarray:
    """Deformable-ConvNets rfcn/core/rpn.py assign_anchor, the labelling part, before subsampling."""
    labels = np.full(overlaps.shape[0], -1, np.int32)
    argmax_overlaps = overlaps.argmax(axis=1)
    max_overlaps = overlaps[np.arange(len(overlaps)), argmax_overlaps]
    gt_argmax_overlaps = overlaps.argmax(axis=0)
    gt_max_overlaps = overlaps[gt_argmax_overlaps, np.arange(overlaps.shape[1])]
    gt_argmax_overlaps = np.where(overlaps == gt_max_overlaps)[0]
    if not clobber:
        labels[max_overlaps < neg] = 0
    labels[gt_argmax_overlaps] = 1
    labels[max_overlaps >= pos] = 1
    if clobber:
        labels[max_overlaps < neg] = 0
    return labels


def random_case(rng, n_anchors=300, n_gt=4, size=200):
    xy = rng.uniform(0, size - 20, (n_anchors, 2))
    wh = rng.choice([8.0, 16.0, 32.0, 64.0], (n_anchors, 2))
    anchors = np.concatenate([xy, np.minimum(xy + wh, size - 1)], 1).astype(np.float32)
    gxy = rng.uniform(0, size - 40, (n_gt, 2))
    gt = np.concatenate([gxy, gxy + rng.uniform(6, 40, (n_gt, 2))], 1).astype(np.float32)
    return anchors, gt


@pytest.mark.parametrize("clobber", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_labels_match_the_original_rule(seed, clobber):
    rng = np.random.default_rng(seed)
    anchors, gt = random_case(rng)
    ious = bbox_iou(anchors, gt).astype(np.float32)
    params = AnchorTargetParams(batch_size=BIG, fg_fraction=0.5, clobber_positives=clobber)
    ours = assign_anchor_labels(ious, np.ones(len(anchors), bool), params, rng)
    ref = original_labels(ious, params.negative_overlap, params.positive_overlap, clobber)
    np.testing.assert_array_equal(ours, ref)


def test_small_object_keeps_its_best_anchor():
    """A 10 px object among 32 px anchors: best IoU ~0.1 < 0.3, still one positive (gluoncv's sampler lost it)."""
    anchors = np.array([[x, y, x + 31, y + 31] for x in range(0, 160, 16) for y in range(0, 160, 16)], np.float32)
    gt = np.array([[50, 50, 60, 60]], np.float32)
    labels, targets, weights = anchor_targets(anchors, gt, np.array([3]), 200, 200,
                                              AnchorTargetParams(batch_size=256), rng=np.random.default_rng(0))
    iou = bbox_iou(anchors, gt)[:, 0]
    best = np.flatnonzero(iou == iou.max())  # the object sits in 4 anchors alike: all are its best
    assert iou.max() < 0.3 and len(best) == 4
    assert (labels[best] == 1).all() and (labels == 1).sum() == len(best)
    assert (weights[best] == 1).all() and np.isfinite(targets[best]).all()
    clobbered, _, _ = anchor_targets(anchors, gt, np.array([3]), 200, 200,
                                     AnchorTargetParams(batch_size=256, clobber_positives=True),
                                     rng=np.random.default_rng(0))
    assert (clobbered == 1).sum() == 0


def test_sampling_caps_and_border():
    rng = np.random.default_rng(1)
    anchors, gt = random_case(rng, n_anchors=2000, n_gt=6, size=260)
    params = AnchorTargetParams(batch_size=64, fg_fraction=0.25)
    labels, _, _ = anchor_targets(anchors, gt, np.arange(6), 200, 200, params, rng=rng)
    inside = (anchors[:, 2] < 200) & (anchors[:, 3] < 200)
    assert (labels[~inside] == -1).all()
    assert 0 < (labels == 1).sum() <= 16 and (labels >= 0).sum() == 64
    # every object overlapping an inside anchor has a positive before subsampling
    full = assign_anchor_labels(bbox_iou(anchors, gt).astype(np.float32), inside,
                                AnchorTargetParams(batch_size=BIG), rng)
    ious = np.where(inside[:, None], bbox_iou(anchors, gt), -1)
    for j in range(len(gt)):
        if ious[:, j].max() > 0:
            assert (full[ious[:, j] == ious[:, j].max()] == 1).all()


def test_no_object_gives_background_only():
    rng = np.random.default_rng(2)
    anchors, _ = random_case(rng)
    labels, targets, weights = anchor_targets(anchors, np.zeros((0, 4)), np.zeros(0), 200, 200,
                                              AnchorTargetParams(batch_size=32), rng=rng)
    assert set(np.unique(labels)) <= {-1, 0} and (labels == 0).sum() == 32
    assert not weights.any() and not targets.any()


def test_rpn_and_head_box_coding_round_trip():
    """Targets encoded for training decode back to the ground truth at test time (RPN: unnormalised deltas;
    head: BBOX_MEANS/STDS), and the deltas agree with the original bbox_transform (centres exactly; log sizes
    up to its +1 pixel width convention)."""
    import mxnet as mx

    from dcn.detection.inference import DetectParams, decode_head_boxes
    from dcn.detection.rpn import decode_boxes
    from dcn.detection.targets import ProposalTargetParams, proposal_targets

    rng = np.random.default_rng(4)
    anchors, gt = random_case(rng, n_anchors=800, n_gt=3)
    labels, targets, _ = anchor_targets(anchors, gt, np.arange(3), 200, 200, AnchorTargetParams(batch_size=BIG),
                                        rng=rng)
    pos = np.flatnonzero(labels > 0)
    match = bbox_iou(anchors, gt).argmax(1)[pos]
    dec = decode_boxes(mx.nd.array(targets[pos][None]), mx.nd.array(anchors[pos][None]), (1, 1, 1, 1))[0]
    np.testing.assert_allclose(dec.asnumpy(), gt[match], atol=2e-3)
    ex, g = anchors[pos], gt[match]
    ew, gw = ex[:, 2] - ex[:, 0] + 1, g[:, 2] - g[:, 0] + 1
    orig_dx = ((g[:, 0] + 0.5 * (gw - 1)) - (ex[:, 0] + 0.5 * (ew - 1))) / ew  # bbox_transform
    np.testing.assert_allclose(targets[pos, 0] * (ew - 1) / ew, orig_dx, rtol=1e-4, atol=1e-5)

    means, stds = (0.01, -0.02, 0.03, 0.0), (0.1, 0.1, 0.2, 0.2)
    rois = gt.repeat(20, 0) + rng.normal(0, 3, (60, 4)).astype(np.float32)
    p = ProposalTargetParams(num_classes=4, batch_rois=64, fg_fraction=1.0, bbox_means=means, bbox_stds=stds)
    r, lab, t, w = proposal_targets(rois, gt, np.arange(3), p, rng)
    fg = lab > 0
    boxes = decode_head_boxes(mx.nd.array(t[fg]), mx.nd.array(r[fg]), DetectParams(bbox_means=means,
                                                                                  bbox_stds=stds)).asnumpy()
    np.testing.assert_allclose(boxes, gt[bbox_iou(r[fg], gt).argmax(1)], atol=2e-3)


def test_anchor_targets_sampling():
    anchors = np.array([[x, y, x + s, y + s] for x in range(0, 200, 8) for y in range(0, 200, 8) for s in (16, 48)],
                       np.float32)
    gt = np.array([[10, 10, 58, 58], [100, 120, 148, 168]], np.float32)
    np.random.seed(0)
    labels, targets, weights = anchor_targets(anchors, gt, np.array([2, 4]), 200, 200,
                                              AnchorTargetParams(batch_size=64), class_aware=True)
    assert (labels >= 0).sum() <= 64 and (labels > 0).sum() <= 32 and (labels > 0).sum() >= 2
    assert set(np.unique(labels[labels > 0])) <= {3, 5}  # class + 1
    assert (weights[labels <= 0] == 0).all() and (weights[labels > 0] == 1).all()
    inside = (anchors[:, 2] < 200) & (anchors[:, 3] < 200)
    assert (labels[~inside] == -1).all()  # anchors crossing the border are ignored
    labels2, _, _ = anchor_targets(anchors, gt, np.array([2, 4]), 200, 200, class_aware=False)
    assert set(np.unique(labels2)) <= {-1, 0, 1}


def test_proposal_targets_and_ohem():
    rng = np.random.default_rng(0)
    gt = np.array([[10, 10, 60, 60]], np.float32)
    rois = np.concatenate([gt + rng.uniform(-4, 4, (40, 4)), rng.uniform(0, 200, (200, 2)).repeat(2, 1)
                           + np.array([0, 0, 30, 30])]).astype(np.float32)
    params = ProposalTargetParams(num_classes=7, batch_rois=32)
    r, labels, t, w = proposal_targets(rois, gt, np.array([5]), params, rng)
    assert len(r) == 32 and (labels > 0).sum() == 8 and (labels[labels > 0] == 6).all()
    assert (w[labels == 0] == 0).all() and np.abs(t[labels > 0]).max() < 5
    r, labels, _, w = proposal_targets(rois, gt, np.array([5]), ProposalTargetParams(7, batch_rois=-1), rng)
    assert len(r) >= 200  # all RoIs (+ gt) for OHEM
    loss = rng.uniform(size=len(labels))
    l2, w2 = ohem_select(loss, 16, labels, w)
    assert (l2 >= 0).sum() == 16 and set(np.flatnonzero(l2 >= 0)) == set(np.argsort(-loss)[:16])
    assert (w2[l2 < 0] == 0).all()
