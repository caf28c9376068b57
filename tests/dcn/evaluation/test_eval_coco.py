"""COCO evaluation: our pipeline equals pycocotools run by hand on the same JSON."""
import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from dcn.evaluation import COCOEvaluator
from dcn.evaluation.coco_eval import STAT_NAMES


def _gt():
    images = [{"id": i, "width": 200, "height": 150, "file_name": f"{i}.jpg"} for i in (7, 8, 9)]
    boxes = [(7, 1, [10, 10, 40, 30]), (7, 3, [60, 20, 100, 90]), (8, 1, [5, 5, 8, 8]),
             (8, 3, [100, 40, 60, 60]), (9, 1, [20, 30, 150, 100]), (9, 1, [30, 40, 20, 20])]
    anns = [{"id": k + 1, "image_id": i, "category_id": c, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
            for k, (i, c, b) in enumerate(boxes)]
    cats = [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}]  # non-contiguous ids
    return {"images": images, "annotations": anns, "categories": cats}


def _xyxy(b):  # COCO [x, y, w, h] -> our inclusive box
    return [b[0], b[1], b[0] + b[2] - 1, b[1] + b[3] - 1]


def test_perfect_detections_score_one():
    gt = _gt()
    ev = COCOEvaluator(gt)
    for img in gt["images"]:
        anns = [a for a in gt["annotations"] if a["image_id"] == img["id"]]
        ev.update(img["id"], [_xyxy(a["bbox"]) for a in anns], [ev.cat_ids.index(a["category_id"]) for a in anns],
                  np.ones(len(anns)))
    res = ev.evaluate()
    assert res.stats["AP"] == pytest.approx(1.0)
    assert res.stats["AP50"] == pytest.approx(1.0)
    assert set(res.per_class_ap) == {"cat", "dog"}


def test_matches_pycocotools_on_same_json(tmp_path):
    gt = _gt()
    gt_path = tmp_path / "instances_val.json"
    gt_path.write_text(json.dumps(gt))
    rng = np.random.default_rng(0)
    ev = COCOEvaluator(gt_path)
    for img in gt["images"]:
        anns = [a for a in gt["annotations"] if a["image_id"] == img["id"]]
        boxes = [np.array(_xyxy(a["bbox"]), float) + rng.normal(0, 4, 4) for a in anns]
        labels = [ev.cat_ids.index(a["category_id"]) for a in anns]
        boxes.append([0, 0, 50, 50])  # plus a false positive per image
        labels.append(1)
        ev.update(img["id"], boxes, labels, rng.uniform(0.1, 1, len(boxes)))
    res_path = ev.write_results(tmp_path / "detections_val_results.json")
    entry = json.loads(res_path.read_text())[0]
    assert set(entry) == {"image_id", "category_id", "bbox", "score"}
    ours = ev.evaluate(res_path)
    assert ev.evaluate().stats == ours.stats  # in-memory path == file path

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_path))
        coco_dt = coco_gt.loadRes(str(res_path))
        ref = COCOeval(coco_gt, coco_dt, "bbox")
        ref.evaluate()
        ref.accumulate()
        ref.summarize()
    np.testing.assert_array_equal([ours.stats[k] for k in STAT_NAMES], ref.stats)
    assert 0 < ours.stats["AP"] < 1


def test_no_detections_gives_zeros():
    res = COCOEvaluator(_gt()).evaluate()
    assert res.stats["AP"] == 0.0
