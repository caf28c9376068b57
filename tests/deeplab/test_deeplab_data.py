"""DeepLab data glue: the VOC and Cityscapes configs read their layouts, scale, flip and crop as the original."""
import cv2
import numpy as np
import pytest
from PIL import Image

from dcn.config import load_config
from deeplab.data import class_names, load_dataset, prepare_image, train_dataset

VOC_CFG = "experiments/deeplab/cfgs/deeplab_resnet_v1_101_voc12_segmentation_dcn.yaml"
CS_CFG = "experiments/deeplab/cfgs/deeplab_resnet_v1_101_cityscapes_segmentation_dcn.yaml"


def _png(path, arr, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8), mode=mode).save(path)


@pytest.fixture()
def voc(tmp_path):
    root = tmp_path / "VOC2012"
    for iid in ("a", "b"):
        (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "JPEGImages" / f"{iid}.jpg"), np.full((30, 40, 3), 128, np.uint8))
        label = np.zeros((30, 40))
        label[10:20, 10:30] = 15
        label[9, :] = 255
        _png(root / "SegmentationClass" / f"{iid}.png", label, "L")
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "train_seg.txt").write_text("a\nb\n")  # where the original README put it
    (root / "ImageSets" / "Main" / "val_seg.txt").write_text("b\n")
    return root


@pytest.fixture()
def cityscapes(tmp_path):
    for split, city in (("train", "aachen"), ("val", "lindau")):
        stem = f"{city}_000000_000019"
        _png(tmp_path / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", np.zeros((8, 16, 3)), "RGB")
        _png(tmp_path / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png",
             np.array([[7, 8, 26, 0] * 4] * 8), "L")
    return tmp_path


def test_voc_config_reads_train_seg_and_scales_to_360(voc):
    sets = [f"dataset.dataset_path={voc}"]
    cfg = load_config(VOC_CFG, sets)
    ds = train_dataset(cfg)
    assert len(ds) == 4  # TRAIN.FLIP doubles the epoch
    data, label = ds[0]
    assert data.shape == (3, 360, 480) and label.shape == (360, 480)  # shorter side 360, no crop
    assert set(np.unique(label)) == {0, 15, 255}
    flipped = ds[2][1]
    np.testing.assert_array_equal(flipped, label[:, ::-1])
    assert len(load_dataset(cfg, train=False)) == 1 and len(class_names(cfg)) == 21


def test_cityscapes_config_crops_with_ignore_padding(cityscapes):
    cfg = load_config(CS_CFG, [f"dataset.dataset_path={cityscapes}", "SCALES=[8, 16]",
                               "TRAIN.CROP_HEIGHT=6", "TRAIN.CROP_WIDTH=20"])
    ds = train_dataset(cfg)
    assert len(ds) == 2
    data, label = ds[0]
    assert data.shape == (3, 6, 20) and label.shape == (6, 20)
    assert (label[:, 16:] == 255).all()  # padded columns are ignored
    assert set(np.unique(label[:, :16])) <= {0, 1, 13, 255}  # labelIds mapped to trainIds
    val = load_dataset(cfg, train=False)
    assert len(val) == 1 and val.records[0].image_id.startswith("lindau/")
    with pytest.raises(ValueError, match="NUM_CLASSES"):
        train_dataset(load_config(CS_CFG, [f"dataset.dataset_path={cityscapes}", "dataset.NUM_CLASSES=20"]))


def test_prepare_image_resizes_and_subtracts_means():
    img = np.full((100, 200, 3), (103, 116, 123), np.uint8)
    data = prepare_image(img, (50, 1000), [103.0, 116.0, 123.0])
    assert data.shape == (3, 50, 100) and np.abs(data).max() < 1e-4


def test_demo_colours_cityscapes_as_the_original_demo(tmp_path):
    """deeplab.demo draws Cityscapes predictions in the train-id colours (road purple, car dark blue), VOC
    ones in the VOC palette; the seg PNG holds exactly those colours."""
    from deeplab.demo import palette_for, save_prediction
    from dcn.data import CITYSCAPES_CLASSES
    labels = np.array([[0, 13], [10, 255]], np.uint8)
    city = palette_for("CityScape")
    assert [tuple(city[c]) for c in (0, 13, 10, 255)] == [(128, 64, 128), (0, 0, 142), (70, 130, 180), (0, 0, 0)]
    assert tuple(palette_for("PascalVOC")[1]) == (128, 0, 0)  # VOC aeroplane
    seg, _ = save_prediction(np.zeros((2, 2, 3), np.uint8), labels, CITYSCAPES_CLASSES, tmp_path, "x", city)
    rgb = cv2.imread(str(seg))[:, :, ::-1]
    np.testing.assert_array_equal(rgb, city[labels])
