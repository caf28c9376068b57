"""VOC AP on hand-computed cases (11-point and area, difficult, IoU 0.5 vs 0.7)."""
import numpy as np
import pytest

from dcn.evaluation import VOCDetectionEvaluator, metric_for_year, voc_ap

G1 = [0, 0, 9, 9]        # 10x10 inclusive box
FAR = [50, 50, 59, 59]   # overlaps nothing


def _ev(iou=(0.5, 0.7)):
    return VOCDetectionEvaluator(["a", "b"], iou)


def test_two_gt_three_detections():
    # image A: GT g1; detections 0.9 on g1 (TP), 0.8 far away (FP)
    # image B: GT g1; detection 0.7 on it (TP)
    # -> precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    ev = _ev()
    ev.update([G1, FAR], [0, 0], [0.9, 0.8], [G1], [0])
    ev.update([G1], [0], [0.7], [G1], [0])
    res = ev.evaluate()
    # area: 0.5 * 1 + 0.5 * 2/3
    assert res.ap[(0.5, "area")][0] == pytest.approx(5 / 6, abs=1e-12)
    # 11-point: recall thresholds 0..0.5 (6 points) -> 1, 0.6..1.0 (5 points) -> 2/3
    assert res.ap[(0.5, "11point")][0] == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-12)
    # class "b" has no ground truth: NaN, left out of the mean
    assert np.isnan(res.ap[(0.5, "area")][1])
    assert res.map(0.5, "area") == pytest.approx(5 / 6)
    assert res.summary()["mAP@0.5_07"] == pytest.approx(28 / 33)


def test_difficult_ignored_like_devkit():
    # GT: g1 normal, g2 difficult. Detections: 0.9 FP, 0.8 on g2 (ignored), 0.7 on g1 (TP)
    g2 = [20, 20, 29, 29]
    ev = _ev()
    ev.update([FAR, g2, G1], [0, 0, 0], [0.9, 0.8, 0.7], [G1, g2], [0, 0], [False, True])
    res = ev.evaluate()
    # sequence FP, TP over 1 positive: precision 0, 1/2 at recall 0, 1
    assert res.ap[(0.5, "area")][0] == pytest.approx(0.5)
    assert res.ap[(0.5, "11point")][0] == pytest.approx(0.5)
    # same data with g2 not difficult: FP, TP, TP over 2 positives -> 2/3
    ev2 = _ev()
    ev2.update([FAR, g2, G1], [0, 0, 0], [0.9, 0.8, 0.7], [G1, g2], [0, 0], [False, False])
    assert ev2.evaluate().ap[(0.5, "area")][0] == pytest.approx(2 / 3)


def test_duplicate_is_false_positive():
    ev = _ev()
    ev.update([G1, G1], [0, 0], [0.9, 0.8], [G1, FAR], [0, 0])
    rec, prec = ev.curves(0.5)
    np.testing.assert_allclose(rec[0], [0.5, 0.5])
    np.testing.assert_allclose(prec[0], [1.0, 0.5])
    assert ev.evaluate().ap[(0.5, "area")][0] == pytest.approx(0.5)


def test_iou_thresholds_05_vs_07():
    # inclusive areas: det 10x6 = 60 inside GT 10x10 = 100 -> IoU 0.6
    ev = _ev()
    ev.update([[0, 0, 9, 5]], [1], [0.5], [G1], [1])
    res = ev.evaluate()
    assert res.ap[(0.5, "area")][1] == pytest.approx(1.0)
    assert res.ap[(0.7, "area")][1] == pytest.approx(0.0)
    assert res.ap[(0.7, "11point")][1] == pytest.approx(0.0)


def test_no_detections_is_zero_and_table():
    ev = _ev()
    ev.update(np.zeros((0, 4)), [], [], [G1], [0])
    res = ev.evaluate()
    assert res.ap[(0.5, "area")][0] == 0.0
    assert "mAP" in res.table()


def test_voc_ap_helpers():
    rec, prec = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
    assert voc_ap(rec, prec, use_07_metric=False) == pytest.approx(5 / 6)
    assert metric_for_year(2007) == "11point" and metric_for_year(2012) == "area"
