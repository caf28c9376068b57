"""COCO reader on a tiny annotations/instances_<split>.json + image folder."""
import json

import cv2
import numpy as np
import pytest

from dcn.data import COCODetection, DatasetFileError


@pytest.fixture()
def coco_root(tmp_path):
    img_dir = tmp_path / "images" / "val2014"  # original codebase layout; minival2014 reads val2014
    img_dir.mkdir(parents=True)
    images = []
    for i, (h, w) in zip((42, 7), ((30, 50), (60, 20))):
        name = f"COCO_val2014_{i:012d}.jpg"
        cv2.imwrite(str(img_dir / name), np.zeros((h, w, 3), np.uint8))
        images.append({"id": i, "file_name": name, "height": h, "width": w})
    anns = [
        {"id": 1, "image_id": 42, "category_id": 18, "bbox": [2, 3, 10, 5], "area": 50, "iscrowd": 0},
        {"id": 2, "image_id": 42, "category_id": 1, "bbox": [40, 20, 30, 30], "area": 100, "iscrowd": 0},
        {"id": 3, "image_id": 42, "category_id": 1, "bbox": [0, 0, 5, 5], "area": 25, "iscrowd": 1},
        {"id": 4, "image_id": 7, "category_id": 1, "bbox": [3, 3, 0, 4], "area": 0, "iscrowd": 0},
    ]
    cats = [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}]
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_minival2014.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return tmp_path


def test_reads_records(coco_root):
    ds = COCODetection(coco_root, "minival2014")
    assert ds.classes == ("person", "dog") and ds.cat_ids == [1, 18]
    assert ds.image_ids == [7, 42] and len(ds) == 2
    r7, r42 = ds.records
    assert r7.num_objects == 0 and ds.num_dropped_boxes == 1  # zero-width box dropped and counted
    # crowd left out; [x, y, w, h] -> inclusive, clipped to the 50x30 image
    np.testing.assert_array_equal(r42.boxes, [[2, 3, 11, 7], [40, 20, 49, 29]])
    assert r42.labels.tolist() == [1, 0]
    assert (r42.height, r42.width) == (30, 50)
    img, _ = ds[1]
    assert img.shape == (30, 50, 3)
    with_crowd = COCODetection(coco_root, "minival2014", include_crowd=True)
    assert with_crowd.records[1].difficult.tolist() == [False, False, True]


def test_broken_json_names_file(coco_root):
    p = coco_root / "annotations" / "instances_minival2014.json"
    p.write_text('{"images": [')
    with pytest.raises(DatasetFileError, match="instances_minival2014.json"):
        COCODetection(coco_root, "minival2014")


def test_missing_image_and_skip_bad(coco_root):
    (coco_root / "images" / "val2014" / "COCO_val2014_000000000007.jpg").unlink()
    with pytest.raises(DatasetFileError, match="COCO_val2014_000000000007.jpg"):
        COCODetection(coco_root, "minival2014")
    ds = COCODetection(coco_root, "minival2014", skip_bad=True)
    assert ds.num_skipped == 1 and ds.image_ids == [42]


def test_missing_annotation_file(coco_root):
    with pytest.raises(DatasetFileError, match="instances_train2017.json"):
        COCODetection(coco_root, "train2017")


def test_non_finite_bbox_names_the_annotation(coco_root):
    p = coco_root / "annotations" / "instances_minival2014.json"
    data = json.loads(p.read_text())
    data["annotations"][1]["bbox"] = [40, float("nan"), 30, 30]  # json writes NaN, Python's reader accepts it
    p.write_text(json.dumps(data))
    with pytest.raises(DatasetFileError, match=r"malformed annotation 2 of image 42 .*non-finite"):
        COCODetection(coco_root, "minival2014")
