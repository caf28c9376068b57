"""Iterative box averaging (paper Table 5 "B"): voting against hand-computed cases, and the
two-iteration detection path of a class-agnostic (R-FCN) and a class-specific (Faster R-CNN) head."""
import mxnet as mx
import numpy as np
import pytest

from dcn.data.synthetic import CLASSES
from dcn.detection import inference
from dcn.detection.box_voting import vote_boxes
from dcn.detection.inference import DetectParams, detect, postprocess
from tests.detection_cases import check_detections, synthetic_batch


def test_vote_boxes_hand_computed():
    # class 0 candidates: A (0.9) and B (0.3) overlap (IoU 0.81), C (0.5) is far away; class 1: D only
    coords = np.array([[[0, 0, 10, 10], [50, 50, 60, 60]],
                       [[1, 1, 11, 11], [50, 50, 60, 60]],
                       [[40, 40, 50, 50], [0, 0, 4, 4]]], np.float32)
    scores = np.array([[0.9, 0.0], [0.3, 0.0], [0.5, 0.7]], np.float32)
    dets = np.array([[0, 0.9, 0, 0, 10, 10], [0, 0.5, 40, 40, 50, 50], [1, 0.7, 50, 50, 60, 60]], np.float32)
    out = vote_boxes(dets, coords, scores, iou_thresh=0.5)
    # A: (0.9 * A + 0.3 * B) / 1.2 = 0.25 px shift; C and D have no partner
    np.testing.assert_allclose(out[0], [0, 0.9, 0.25, 0.25, 10.25, 10.25], rtol=1e-6)
    np.testing.assert_allclose(out[1:], dets[1:])
    # a threshold above their IoU keeps A as it is; candidates under the score threshold do not vote
    np.testing.assert_allclose(vote_boxes(dets, coords, scores, iou_thresh=0.9)[0], dets[0])
    np.testing.assert_allclose(vote_boxes(dets, coords, scores, 0.5, score_thresh=0.4)[0], dets[0])


def test_postprocess_averages_after_nms():
    boxes = mx.nd.array([[10, 10, 50, 50], [12, 12, 52, 52], [100, 100, 140, 140]])
    probs = mx.nd.array([[0.1, 0.8, 0.1], [0.1, 0.5, 0.4], [0.9, 0.05, 0.05]])
    plain = postprocess(boxes, probs, 1.0, DetectParams(nms=0.3, score_thresh=0.2))
    voted = postprocess(boxes, probs, 1.0, DetectParams(nms=0.3, score_thresh=0.2, bbox_averaging=True))
    np.testing.assert_allclose(voted[:, :2], plain[:, :2])  # same detections and scores
    # class 0 keeps box 0 (0.8), averaged with the suppressed box 1 (0.5): 10 + 2 * 0.5 / 1.3
    np.testing.assert_allclose(voted[0, 2:], 10 + 2 * 0.5 / 1.3 + np.array([0, 0, 40, 40]), rtol=1e-5)


# the small detector both builders make: 18 layers, widths / 8, scratch input scale, no deformable convs
SMALL = dict(num_classes=len(CLASSES) + 1, depth=18, width_divisor=8, anchor_scales=(2, 4, 8), input_scale=1 / 58.0,
             num_deformable_layers=0)


def _seeded_ready(build):
    mx.random.seed(0)
    net = build()
    net.initialize_weights()
    net.hybridize()
    return net


def _rfcn():
    from rfcn.model import RFCN, RFCNSpec
    return _seeded_ready(lambda: RFCN(RFCNSpec(deformable_psroi=False, **SMALL)))


def _faster_rcnn():
    from fpn.config import make_net
    from fpn.spec import FasterRCNNSpec
    return _seeded_ready(lambda: make_net(FasterRCNNSpec(deformable_roi_pooling=True, **SMALL)))


@pytest.mark.parametrize("build", [_rfcn, _faster_rcnn], ids=["class_agnostic", "class_specific"])
def test_two_iterations_double_the_candidates(build, monkeypatch):
    net = build()
    batch, rec = synthetic_batch()
    seen = []
    real = inference.postprocess

    def spy(boxes, probs, scale, params):
        seen.append(probs.shape[0])
        return real(boxes, probs, scale, params)

    monkeypatch.setattr(inference, "postprocess", spy)
    params = DetectParams(max_per_image=20, score_thresh=0.0, rpn_post_nms_top_n=50)
    plain = detect(net, batch["data"], batch["im_info"], params)
    params.bbox_averaging = True
    averaged = detect(net, batch["data"], batch["im_info"], params)
    assert seen[1] == 2 * seen[0] > 0
    check_detections(averaged, rec, len(CLASSES), 20)
    check_detections(plain, rec, len(CLASSES), 20)
