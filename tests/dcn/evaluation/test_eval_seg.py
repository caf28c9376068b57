"""mIoU from a hand-computed confusion matrix."""
import numpy as np
import pytest

from dcn.evaluation import SegmentationEvaluator


def test_hand_computed_confusion_and_accumulation():
    label = np.array([[0, 0, 1], [1, 2, 255]])
    pred = np.array([[0, 1, 1], [1, 0, 2]])
    ev = SegmentationEvaluator(4, ignore_label=255, class_names=["bg", "a", "b", "c"])
    ev.update(pred, label)
    # rows = GT: gt0 -> {0: 1, 1: 1}, gt1 -> {1: 2}, gt2 -> {0: 1}; the 255 pixel is ignored
    expected = np.array([[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(ev.confusion, expected)
    res = ev.evaluate()
    # IoU0 = 1/(2+2-1), IoU1 = 2/(2+3-2), IoU2 = 0, class 3 absent -> NaN (excluded)
    np.testing.assert_allclose(res.iou[:3], [1 / 3, 2 / 3, 0.0])
    assert np.isnan(res.iou[3])
    assert res.miou == pytest.approx(1 / 3)
    assert res.pixel_accuracy == pytest.approx(3 / 5)
    ev.update(pred, label)  # accumulates: counts double, IoUs unchanged
    np.testing.assert_array_equal(ev.confusion, 2 * expected)
    assert ev.evaluate().miou == pytest.approx(1 / 3)
    assert "mIoU" in res.table()


def test_bad_values_raise():
    ev = SegmentationEvaluator(3)
    with pytest.raises(ValueError):
        ev.update(np.array([0, 5]), np.array([0, 1]))
    with pytest.raises(ValueError):
        ev.update(np.array([0, 1]), np.array([0, 7]))
    with pytest.raises(ValueError):
        ev.update(np.array([0, 1, 2]), np.array([0, 1]))
