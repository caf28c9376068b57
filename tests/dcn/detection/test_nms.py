"""Greedy NMS (dcn.detection.nms) against MXNet's box_nms, and the RPN proposals built on it."""
import mxnet as mx
import numpy as np
import pytest

from dcn.detection.nms import greedy_nms


def _random_boxes(rng, n):
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(4, 80, (n, 2))
    return np.concatenate([xy, xy + wh], 1).astype(np.float32), rng.uniform(0.01, 1, n).astype(np.float32)


@pytest.mark.parametrize("seed,n,thresh,pre,post", [(0, 500, 0.7, 400, 100), (1, 2000, 0.5, 2000, 300),
                                                      (2, 300, 0.3, -1, -1), (3, 50, 0.9, 10, 5)])
def test_greedy_nms_matches_box_nms(seed, n, thresh, pre, post):
    rng = np.random.RandomState(seed)
    boxes, scores = _random_boxes(rng, n)
    scores[rng.rand(n) < 0.1] = -1.0  # invalid, as the RPN's too-small boxes
    keep = greedy_nms(boxes, scores, thresh, max_keep=post, pre_top_n=pre)
    dets = mx.nd.array(np.concatenate([scores[:, None], boxes], 1))
    ref = mx.nd.contrib.box_nms(dets, overlap_thresh=thresh, valid_thresh=0.0, topk=pre, coord_start=1,
                                score_index=0, id_index=-1, force_suppress=True).asnumpy()
    ref = ref[ref[:, 0] >= 0]
    if post >= 0:
        ref = ref[:post]
    assert len(keep) == len(ref) > 0
    np.testing.assert_array_equal(boxes[keep], ref[:, 1:])
    np.testing.assert_array_equal(scores[keep], ref[:, 0])


def test_greedy_nms_edge_cases():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_array_equal(greedy_nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5), [0, 2])
    np.testing.assert_array_equal(greedy_nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5, max_keep=1), [0])
    np.testing.assert_array_equal(greedy_nms(boxes, np.array([np.nan, 0.8, -1.0]), 0.5), [1])
    assert greedy_nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)
