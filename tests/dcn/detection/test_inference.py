"""Detection post-processing (per-class NMS, score threshold, rescaling) and the demo drawing."""
import mxnet as mx
import numpy as np

from dcn.data.synthetic import CLASSES
from dcn.detection.inference import DetectParams, postprocess


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
