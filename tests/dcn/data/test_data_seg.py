"""VOC 2012 + SBD segmentation and Cityscapes readers on tiny fixture layouts."""
import cv2
import numpy as np
import pytest
import scipy.io
from PIL import Image

from dcn.data import CityscapesSegmentation, DatasetFileError, VOCSegmentation
from dcn.data.cityscapes import LABELID_TO_TRAINID


def _png(path, arr, mode="P"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8), mode=mode).save(path)


def _jpg(path, h, w):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((h, w, 3), np.uint8))


def _lines(path, ids):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(ids) + "\n")


@pytest.fixture()
def voc_sbd(tmp_path):
    voc, sbd = tmp_path / "VOCdevkit" / "VOC2012", tmp_path / "benchmark_RELEASE" / "dataset"
    for iid in ("a", "b", "c", "d", "e"):
        _jpg(voc / "JPEGImages" / f"{iid}.jpg", 8, 10)
    # VOC annotations for its own train (a) / val (b) lists; SBD covers c, d and b
    _png(voc / "SegmentationClass" / "a.png", np.full((8, 10), 255))
    _png(voc / "SegmentationClass" / "b.png", np.ones((8, 10)))
    _lines(voc / "ImageSets" / "Segmentation" / "train.txt", ["a"])
    _lines(voc / "ImageSets" / "Segmentation" / "val.txt", ["b"])
    for iid, v in (("b", 3), ("c", 4), ("d", 5)):
        seg = np.full((8, 10), v, np.uint8)
        seg[0, 0] = 0
        (sbd / "cls").mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(str(sbd / "cls" / f"{iid}.mat"), {"GTcls": {"Segmentation": seg, "CategoriesPresent": v}})
    _lines(sbd / "train.txt", ["c", "b"])
    _lines(sbd / "val.txt", ["d"])
    return voc, sbd


def test_voc_train_aug_from_sbd(voc_sbd):
    voc, sbd = voc_sbd
    ds = VOCSegmentation(voc, "train_aug", sbd_root=sbd)
    # (SBD train + SBD val + VOC train) - VOC val
    assert [r.image_id for r in ds.records] == ["a", "c", "d"]
    assert ds.records[0].label_path.suffix == ".png" and ds.records[1].label_path.suffix == ".mat"
    img, label = ds[1]
    assert img.shape == (8, 10, 3) and label.shape == (8, 10) and label.dtype == np.uint8
    assert label[0, 0] == 0 and label[1, 1] == 4
    assert ds.num_classes == 21 and ds.ignore_label == 255
    val = VOCSegmentation(voc, "val")
    assert [r.image_id for r in val.records] == ["b"] and (val[0][1] == 1).all()


def test_train_aug_needs_sbd_or_list(voc_sbd):
    voc, _ = voc_sbd
    with pytest.raises(DatasetFileError, match="train_aug"):
        VOCSegmentation(voc, "train_aug")
    _lines(voc / "ImageSets" / "Segmentation" / "train_aug.txt", ["a"])  # a given list wins
    assert len(VOCSegmentation(voc, "train_aug")) == 1


def test_wrong_label_size_names_file(voc_sbd):
    voc, sbd = voc_sbd
    _png(voc / "SegmentationClass" / "a.png", np.zeros((9, 10)))
    with pytest.raises(DatasetFileError, match="a.png"):
        VOCSegmentation(voc, "train")
    bad_mat = np.zeros((8, 11), np.uint8)
    scipy.io.savemat(str(sbd / "cls" / "c.mat"), {"GTcls": {"Segmentation": bad_mat}})
    ds = VOCSegmentation(voc, "train_aug", sbd_root=sbd, skip_bad=True)
    assert ds.num_skipped == 2 and [r.image_id for r in ds.records] == ["d"]
    assert [p.name for p, _ in ds.skipped] == ["a.png", "c.mat"]


def test_corrupt_mat_and_missing_label(voc_sbd):
    voc, sbd = voc_sbd
    (sbd / "cls" / "d.mat").write_bytes(b"not a mat file")
    with pytest.raises(DatasetFileError, match="d.mat"):
        VOCSegmentation(voc, "train_aug", sbd_root=sbd)
    (voc / "SegmentationClass" / "a.png").unlink()
    with pytest.raises(DatasetFileError, match="a.png"):
        VOCSegmentation(voc, "train")


@pytest.fixture()
def cityscapes(tmp_path):
    for split, city, n in (("train", "aachen", 2), ("val", "lindau", 1)):
        for i in range(n):
            stem = f"{city}_{i:06d}_000019"
            _png(tmp_path / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", np.zeros((4, 8, 3)), "RGB")
            ids = np.array([[0, 7, 8, 26, 33, 1, 255, 24]] * 4)
            _png(tmp_path / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", ids, "L")
    return tmp_path


def test_cityscapes_label_ids_to_train_ids(cityscapes):
    ds = CityscapesSegmentation(cityscapes, "train")
    assert len(ds) == 2 and ds.num_classes == 19
    assert ds.records[0].image_id == "aachen/aachen_000000_000019"
    img, label = ds[0]
    assert img.shape == (4, 8, 3)
    # void 0 -> 255, road 7 -> 0, sidewalk 8 -> 1, car 26 -> 13, bicycle 33 -> 18, person 24 -> 11
    assert label[0].tolist() == [255, 0, 1, 13, 18, 255, 255, 11]
    assert (LABELID_TO_TRAINID != 255).sum() == 19


def test_cityscapes_missing_and_wrong_size(cityscapes):
    lab = cityscapes / "gtFine" / "train" / "aachen" / "aachen_000001_000019_gtFine_labelIds.png"
    _png(lab, np.zeros((5, 8)), "L")
    with pytest.raises(DatasetFileError, match="aachen_000001_000019_gtFine_labelIds.png"):
        CityscapesSegmentation(cityscapes, "train")
    lab.unlink()
    with pytest.raises(DatasetFileError, match="aachen_000001_000019_gtFine_labelIds.png"):
        CityscapesSegmentation(cityscapes, "train")
    ds = CityscapesSegmentation(cityscapes, "train", skip_bad=True)
    assert len(ds) == 1 and ds.num_skipped == 1
