"""AP by object size (COCO small / medium / large) on hand-made cases."""
import math

import numpy as np

from dcn.evaluation.size_ap import SizeAPEvaluator

GT = np.array([[10, 10, 19, 19],      # small: 10 x 10
               [40, 40, 89, 89],      # medium: 50 x 50
               [0, 100, 149, 249]], np.float64)  # large: 150 x 150
LABELS = np.array([0, 1, 0])


def test_perfect_detections_score_one_per_size():
    ev = SizeAPEvaluator(num_classes=2)
    ev.update(GT, LABELS, np.array([0.9, 0.8, 0.7]), GT, LABELS)
    out = ev.evaluate()
    for size in ("small", "medium", "large"):
        assert math.isclose(out[f"AP@0.5_{size}"], 1.0) and math.isclose(out[f"AP@0.7_{size}"], 1.0)


def test_missed_small_object_and_loose_large_box():
    ev = SizeAPEvaluator(num_classes=2)
    loose = GT[2] + np.array([0, 0, 40, 0])  # IoU 150/190 = 0.79 with the large box: a hit at 0.5 and 0.7
    shifted = GT[1] + 20                     # IoU ~0.29 with the medium box: a miss at both
    ev.update(np.stack([loose, shifted]), np.array([0, 1]), np.array([0.9, 0.8]), GT, LABELS)
    ev.update(np.zeros((0, 4)), np.zeros(0), np.zeros(0), GT[:1], LABELS[:1])  # an image with nothing found
    out = ev.evaluate()
    assert out["AP@0.5_small"] == 0 and out["AP@0.5_medium"] == 0
    assert math.isclose(out["AP@0.5_large"], 1.0) and math.isclose(out["AP@0.7_large"], 1.0)


def test_no_ground_truth_gives_nan():
    out = SizeAPEvaluator(num_classes=3).evaluate()
    assert all(np.isnan(v) for v in out.values())
