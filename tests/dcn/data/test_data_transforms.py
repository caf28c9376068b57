"""Resize / flip / mean subtraction, aspect-ratio grouping and batching."""
import mxnet as mx
import numpy as np
import pytest

from dcn.data import DetRecord
from dcn.data.batching import TransformedDataset, make_loader, scatter, seg_sample_to_nd
from dcn.data.sampler import AspectRatioGroupSampler
from dcn.data.transforms import (PIXEL_MEANS_BGR, DetectionTransform, SegmentationTransform, compute_scale,
                                 flip_boxes, normalize, pad_to_stride, random_crop)


def test_scale_rule():
    assert compute_scale(375, 500, 600, 1000) == pytest.approx(1.6)
    assert compute_scale(300, 1000, 600, 1000) == pytest.approx(1.0)  # capped by the long side
    assert compute_scale(1024, 2048, 1024, 2048) == 1.0


def test_normalize_is_rgb_minus_bgr_means():
    img = np.zeros((1, 2, 3), np.uint8)
    img[0, 0] = np.round(PIXEL_MEANS_BGR)  # the mean colour -> ~0
    img[0, 1] = (0, 0, 255)  # pure red in BGR
    out = normalize(img)
    assert out.shape == (3, 1, 2)
    np.testing.assert_allclose(out[:, 0, 0], np.round(PIXEL_MEANS_BGR)[::-1] - PIXEL_MEANS_BGR[::-1], atol=1e-4)
    np.testing.assert_allclose(out[:, 0, 1], [255 - 123.15, -115.90, -103.06], atol=1e-4)  # R channel first


def _scene():
    img = np.zeros((30, 50, 3), np.uint8)
    img[5:10, 2:12] = 255  # object covering x 2..11, y 5..9
    rec = DetRecord("x", "x.jpg", 30, 50, [[2, 5, 11, 9]], [3], [False])
    return img, rec


def test_detection_flip_moves_boxes_with_pixels():
    img, rec = _scene()
    s = DetectionTransform(60, 1000)(img, rec, flip=True)
    assert s.flipped and tuple(s.im_info) == (60, 100, 2)
    np.testing.assert_array_equal(flip_boxes(rec.boxes, 50), [[38, 5, 47, 9]])
    bright = np.nonzero(s.data[0] > 0)
    x1, y1, x2, y2 = s.boxes[0] / 2  # back to original pixels
    assert (bright[1].min() // 2, bright[1].max() // 2) == (x1, x2) and (bright[0].min() // 2, bright[0].max() // 2) == (y1, y2)
    assert s.labels.tolist() == [3]


def test_segmentation_flip_resize_crop():
    img = np.zeros((4, 6, 3), np.uint8)
    label = np.zeros((4, 6), np.uint8)
    label[:, 0] = 1
    img[:, 0] = 255
    data, lab = SegmentationTransform(8, 100)(img, label, flip=True)
    assert data.shape == (3, 8, 12) and lab.shape == (8, 12) and lab.dtype == np.int32
    assert (lab[:, -2:] == 1).all() and (lab[:, :-2] == 0).all() and (data[0][:, -2:] > 0).all()
    d, l = random_crop(data, lab, (10, 12), np.random.default_rng(0), ignore_label=255)
    assert d.shape == (3, 10, 12) and (l[8:] == 255).all()
    assert pad_to_stride(np.zeros((3, 33, 64)), 32).shape == (3, 64, 64)


def test_aspect_ratio_grouping():
    ratios = [1.5, 0.5, 1.2, 0.7, 1.0, 0.6, 2.0]
    s = AspectRatioGroupSampler(ratios, batch_size=2, seed=1)
    batches = list(s)
    assert len(batches) == len(s) == 4
    assert sorted(i for b in batches for i in b) == list(range(7))
    for b in batches:
        assert len({ratios[i] >= 1 for i in b}) == 1
    assert list(AspectRatioGroupSampler(ratios, 2, seed=1)) == batches  # reproducible


class _TinyDet:
    def __init__(self):
        self.img, self.rec = _scene()

    def __len__(self):
        return 3

    def __getitem__(self, i):
        return self.img, self.rec

    def aspect_ratios(self):
        return np.full(3, 50 / 30)


def test_flip_duplicate_loader_and_scatter():
    td = TransformedDataset(_TinyDet(), DetectionTransform(30, 1000), flip_duplicate=True)
    assert len(td) == 6 and [td[i].flipped for i in (0, 3)] == [False, True]
    batches = list(make_loader(td, num_devices=2, shuffle=False))
    assert [len(b) for b in batches] == [2, 2, 2]
    nd = scatter(batches[0], [mx.cpu(0), mx.cpu(0)])
    assert nd[0]["data"].shape == (1, 3, 30, 50) and nd[0]["gt_boxes"].shape == (1, 1, 5)
    assert nd[0]["gt_boxes"][0, 0, 4].asscalar() == 3
    with pytest.raises(ValueError):
        scatter(batches[0], [mx.cpu()])
    seg = seg_sample_to_nd((np.zeros((3, 4, 4), np.float32), np.zeros((4, 4), np.int32)))
    assert seg["label"].shape == (1, 4, 4)
