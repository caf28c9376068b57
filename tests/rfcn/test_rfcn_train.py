"""R-FCN targets, losses, a few training steps on one synthetic image, and the test-time output format."""
import mxnet as mx
import numpy as np
import pytest

from dcn.data.synthetic import CLASSES
from dcn.detection.inference import DetectParams, detect, postprocess
from dcn.detection.loss import TrainParams
from dcn.detection.targets import (AnchorTargetParams, ProposalTargetParams, anchor_targets, ohem_select,
                                    proposal_targets)
from tests.detection_cases import check_detections, synthetic_batch, train_steps
from rfcn.model import RFCN, RFCNSpec


def small_net(**kw):
    mx.random.seed(0)
    net = RFCN(RFCNSpec(num_classes=len(CLASSES) + 1, depth=18, width_divisor=8, anchor_scales=(2, 4, 8),
                        input_scale=1 / 58.0, **kw))
    net.initialize_weights()
    net.hybridize()
    return net


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


@pytest.mark.parametrize("class_aware", [False, True])
def test_training_steps_lower_the_loss(class_aware):
    np.random.seed(0)
    net = small_net(class_aware_rpn=class_aware, num_deformable_layers=3)
    batch, _ = synthetic_batch()
    params = TrainParams(ProposalTargetParams(num_classes=7, batch_rois=-1), rpn_pre_nms_top_n=500,
                         rpn_post_nms_top_n=100, ohem=True, batch_rois_ohem=64)
    losses, metrics = train_steps(net, batch, params)
    assert ("RCNNLogLoss" in metrics) != class_aware
    assert np.mean(losses[-2:]) < losses[0], losses


@pytest.mark.parametrize("class_aware", [False, True])
def test_detect_output_format(class_aware):
    net = small_net(class_aware_rpn=class_aware, num_deformable_layers=0, deformable_psroi=False)
    batch, rec = synthetic_batch()
    dets = detect(net, batch["data"], batch["im_info"], DetectParams(max_per_image=20, score_thresh=0.0))
    check_detections(dets, rec, len(CLASSES), 20)  # original-image pixels (the network saw a 0.75x image)


def test_postprocess_per_class_nms_threshold_and_scale():
    boxes = mx.nd.array([[10, 10, 50, 50], [12, 12, 52, 52], [100, 100, 140, 140]])
    #                      bg    c0    c1
    probs = mx.nd.array([[0.1, 0.8, 0.1],
                         [0.1, 0.5, 0.4],
                         [0.9, 0.05, 0.05]])
    dets = postprocess(boxes, probs, 2.0, DetectParams(nms=0.3, score_thresh=0.2, max_per_image=10))
    # class 0: box 1 suppressed by box 0; class 1: box 1 (0.4) kept, box 0 (0.1) under the threshold
    np.testing.assert_allclose(dets, [[0, 0.8, 5, 5, 25, 25], [1, 0.4, 6, 6, 26, 26]], rtol=1e-6)
    assert len(postprocess(boxes, probs, 1.0, DetectParams(score_thresh=0.0, max_per_image=1))) == 1


def test_demo_draws_png(tmp_path):
    from dcn.detection.demo import draw_detections

    img = np.full((64, 80, 3), 127, np.uint8)
    dets = np.array([[0, 0.9, 5, 5, 40, 30], [1, 0.2, 10, 10, 20, 20]], np.float32)
    out = tmp_path / "x.png"
    assert draw_detections(img, dets, CLASSES, out, thresh=0.5) == 1
    assert out.stat().st_size > 0
