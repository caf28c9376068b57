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


def _devkit_ap(dets, gts, cls, iou_thr, use_07):
    """Reference: the devkit's voc_eval loop (global score order, +1 areas)."""
    recs = {i: {"bbox": np.array([b for b, l, _ in g if l == cls]).reshape(-1, 4),
                "difficult": np.array([d for _, l, d in g if l == cls], bool)} for i, g in enumerate(gts)}
    for r in recs.values():
        r["det"] = np.zeros(len(r["bbox"]), bool)
    npos = sum(int((~r["difficult"]).sum()) for r in recs.values())
    d = sorted([(s, i, np.array(b)) for i, ds in enumerate(dets) for b, l, s in ds if l == cls], key=lambda x: -x[0])
    tp, fp = np.zeros(len(d)), np.zeros(len(d))
    for k, (_, i, bb) in enumerate(d):
        g = recs[i]["bbox"]
        ovmax = -np.inf
        if g.size:
            iw = np.maximum(np.minimum(g[:, 2], bb[2]) - np.maximum(g[:, 0], bb[0]) + 1, 0)
            ih = np.maximum(np.minimum(g[:, 3], bb[3]) - np.maximum(g[:, 1], bb[1]) + 1, 0)
            inter = iw * ih
            uni = (bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1) + (g[:, 2] - g[:, 0] + 1) * (g[:, 3] - g[:, 1] + 1) - inter
            ov = inter / uni
            ovmax, jmax = ov.max(), ov.argmax()
        if ovmax > iou_thr:
            if not recs[i]["difficult"][jmax]:
                if not recs[i]["det"][jmax]:
                    tp[k], recs[i]["det"][jmax] = 1, True
                else:
                    fp[k] = 1
        else:
            fp[k] = 1
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec, prec = tp / npos, tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    if use_07:
        return sum((prec[rec >= t].max() if (rec >= t).any() else 0) / 11 for t in np.arange(0, 1.1, 0.1))
    mrec, mpre = np.r_[0, rec, 1], np.r_[0, prec, 0]
    for j in range(len(mpre) - 1, 0, -1):
        mpre[j - 1] = max(mpre[j - 1], mpre[j])
    j = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[j + 1] - mrec[j]) * mpre[j + 1]))


def test_matches_devkit_loop_on_random_data():
    rng = np.random.default_rng(0)
    gts, dets = [], []
    ev = _ev()
    for _ in range(15):
        xy = rng.uniform(0, 80, (int(rng.integers(0, 5)), 2))
        g = [(list(np.r_[p, p + rng.uniform(5, 40, 2)]), int(rng.integers(2)), bool(rng.random() < 0.2)) for p in xy]
        d = [(list(np.array(b) + rng.normal(0, 4, 4)), l if rng.random() < 0.8 else 1 - l, float(rng.random()))
             for b, l, _ in g for _ in range(int(rng.integers(0, 3)))]
        d += [(list(np.r_[p, p + 20]), int(rng.integers(2)), float(rng.random())) for p in rng.uniform(0, 80, (2, 2))]
        gts.append(g)
        dets.append(d)
        ev.update(np.array([b for b, _, _ in d]).reshape(-1, 4), [l for _, l, _ in d], [s for _, _, s in d],
                  np.array([b for b, _, _ in g]).reshape(-1, 4), [l for _, l, _ in g], [x for _, _, x in g])
    res = ev.evaluate()
    for cls in (0, 1):
        for iou in (0.5, 0.7):
            assert res.ap[(iou, "area")][cls] == pytest.approx(_devkit_ap(dets, gts, cls, iou, False), abs=1e-12)
            assert res.ap[(iou, "11point")][cls] == pytest.approx(_devkit_ap(dets, gts, cls, iou, True), abs=1e-12)


def test_a_test_split_without_objects_is_an_error(monkeypatch, tmp_path):
    """It printed 'mAP@0.5: nan' with rc 0."""
    import numpy as np

    from dcn.config import load_config
    from dcn.data.base import DetectionDataset
    from dcn.data.records import BadFilePolicy, DetRecord
    from dcn.detection import evaluate as E

    empty = [DetRecord(f"im{i}", tmp_path / f"im{i}.jpg", 64, 64, np.zeros((0, 4), np.float32),
                       np.zeros(0, np.int32), np.zeros(0, bool)) for i in range(3)]
    monkeypatch.setattr(E, "load_dataset", lambda cfg, train: DetectionDataset("v", ("a",), empty,
                                                                                BadFilePolicy(False, "v")))
    cfg = load_config("experiments/faster_rcnn/cfgs/synthetic_rcnn_dcn.yaml")
    with pytest.raises(ValueError, match=r"test_image_set='val' .*3 test images hold no .*objects"):
        E.evaluate(None, cfg, progress=False)
