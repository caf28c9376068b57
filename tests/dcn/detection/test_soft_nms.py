"""Soft-NMS against hand-computed cases (linear and gaussian), and its use in the detection post-processing."""
import math

import mxnet as mx
import numpy as np
import pytest

from dcn.detection.inference import DetectParams, postprocess
from dcn.detection.nms import pairwise_iou
from dcn.detection.soft_nms import soft_nms

A = [0, 0, 10, 10]    # area 100
B = [0, 0, 10, 5]     # IoU(A, B) = 50 / 100 = 0.5
C = [20, 20, 30, 30]  # disjoint from A and B
D = [0, 5, 10, 10]    # IoU(A, D) = 0.5, IoU(B, D) = 0 (they only touch)


def test_iou():
    np.testing.assert_allclose(pairwise_iou(np.array(A, float), np.array([A, B, C, D], float)), [1, 0.5, 0, 0.5])


def test_gaussian_hand_computed():
    out = soft_nms(np.array([A, B, C]), np.array([0.9, 0.8, 0.7]), "gaussian", sigma=0.5)
    # B: 0.8 * exp(-0.5^2 / 0.5) = 0.48522 falls below C; C's pick leaves B as it is (IoU 0)
    np.testing.assert_allclose(out[:, 4], [0.9, 0.7, 0.8 * math.exp(-0.5)], rtol=1e-6)
    np.testing.assert_array_equal(out[:, :4], [A, C, B])


def test_gaussian_decays_once_per_overlapping_pick():
    out = soft_nms(np.array([A, B, D]), np.array([0.9, 0.8, 0.75]), "gaussian", sigma=0.5)
    np.testing.assert_allclose(out[:, 4], [0.9, 0.8 * math.exp(-0.5), 0.75 * math.exp(-0.5)], rtol=1e-6)
    np.testing.assert_array_equal(out[:, :4], [A, B, D])


def test_linear_hand_computed():
    out = soft_nms(np.array([A, B, C]), np.array([0.9, 0.8, 0.7]), "linear", iou_thresh=0.3)
    np.testing.assert_allclose(out[:, 4], [0.9, 0.7, 0.4], rtol=1e-6)  # B: 0.8 * (1 - 0.5)
    np.testing.assert_array_equal(out[:, :4], [A, C, B])
    out = soft_nms(np.array([A, B, C]), np.array([0.9, 0.8, 0.7]), "linear", iou_thresh=0.6)
    np.testing.assert_allclose(out[:, 4], [0.9, 0.8, 0.7], rtol=1e-6)  # IoU 0.5 <= 0.6: untouched
    out = soft_nms(np.array([A, B, C]), np.array([0.9, 0.8, 0.7]), "linear", iou_thresh=0.3, score_thresh=0.45)
    np.testing.assert_array_equal(out[:, :4], [A, C])  # B decayed to 0.4 < 0.45: dropped


def test_identical_boxes_and_edge_cases():
    out = soft_nms(np.array([A, A]), np.array([0.9, 0.6]), "linear", iou_thresh=0.3)
    np.testing.assert_allclose(out[:, 4], [0.9])  # IoU 1: the copy decays to 0 and goes
    assert soft_nms(np.zeros((0, 4)), np.zeros(0)).shape == (0, 5)
    with pytest.raises(ValueError, match="method"):
        soft_nms(np.array([A]), np.array([0.5]), "cubic")
    with pytest.raises(ValueError, match="sigma"):
        soft_nms(np.array([A]), np.array([0.5]), "gaussian", sigma=0)


def test_postprocess_soft_nms_per_class_and_class_specific_boxes():
    # per-class boxes (R, C+1, 4): class 0 gets A and B, class 1 gets C for both RoIs
    boxes = mx.nd.array([[[0, 0, 1, 1], A, C], [[0, 0, 1, 1], B, C]])
    probs = mx.nd.array([[0.05, 0.9, 0.05], [0.1, 0.8, 0.1]])
    params = DetectParams(use_softnms=True, softnms_method="gaussian", softnms_sigma=0.5, score_thresh=0.005)
    dets = postprocess(boxes, probs, 2.0, params)
    expected = [[0, 0.9] + [v / 2 for v in A], [0, 0.8 * math.exp(-0.5)] + [v / 2 for v in B],
                [1, 0.1] + [v / 2 for v in C], [1, 0.05 * math.exp(-1 / 0.5)] + [v / 2 for v in C]]
    np.testing.assert_allclose(dets, expected, rtol=1e-5)
    hard = postprocess(boxes, probs, 2.0, DetectParams(nms=0.3, score_thresh=0.01))
    assert len(hard) == 2  # NMS removes B (IoU 0.5) and the second C (IoU 1)
