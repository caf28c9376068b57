"""Faster R-CNN / FPN training: a few steps on one image lower the loss (end-to-end, OHEM, fixed proposals),
the precomputed-proposal data path, and test-time detection (multi-scale merge, Soft-NMS)."""
import mxnet as mx
import numpy as np
import pytest

from dcn.config import load_config
from dcn.data.synthetic import CLASSES, render_image
from dcn.data.records import DetRecord
from dcn.data.transforms import DetectionTransform
from dcn.detection.inference import DetectParams, detect, detect_multiscale
from dcn.detection.loss import TrainParams
from dcn.detection.proposals import (ProposalDataset, load_proposals, lookup, proposal_file, sample_to_nd,
                                     save_proposals)
from dcn.detection.targets import ProposalTargetParams
from dcn.detection.training import freeze_rpn
from tests.detection_cases import check_detections, synthetic_batch, train_steps
from fpn.config import make_net
from fpn.spec import FasterRCNNSpec

NUM_CLASSES = len(CLASSES) + 1


def small(fpn=False, **kw):
    mx.random.seed(0)
    spec = FasterRCNNSpec(num_classes=NUM_CLASSES, depth=18, width_divisor=8, dilation=1 if fpn else 2,
                          anchor_scales=(4,) if fpn else (2, 4, 8), fpn=fpn, input_scale=1 / 58.0, **kw)
    net = make_net(spec)
    net.initialize_weights()
    net.hybridize()
    return net


def params(ohem=False):
    return TrainParams(ProposalTargetParams(num_classes=NUM_CLASSES, batch_rois=-1 if ohem else 32),
                       rpn_pre_nms_top_n=500, rpn_post_nms_top_n=100, ohem=ohem, batch_rois_ohem=64)


@pytest.mark.parametrize("fpn,ohem", [(False, False), (True, True)])
def test_training_steps_lower_the_loss(fpn, ohem):
    net = small(fpn=fpn, num_deformable_layers=3, deformable_roi_pooling=True, deformable_pyramid=fpn)
    batch, _ = synthetic_batch(stride=32 if fpn else 0)
    losses, metrics = train_steps(net, batch, params(ohem))
    assert {"RPNLogLoss", "RCNNLogLoss", "RCNNL1Loss"} <= set(metrics)
    assert np.mean(losses[-2:]) < losses[0], losses


def fixed_proposals(rec, scale, n=60, seed=0):
    """Jittered ground-truth boxes and random boxes, in resized pixels."""
    rng = np.random.default_rng(seed)
    gt = rec.boxes[rng.integers(0, len(rec.boxes), n // 2)] + rng.uniform(-3, 3, (n // 2, 4))
    xy = rng.uniform(0, rec.width - 30, (n - n // 2, 2))
    rand = np.concatenate([xy, xy + rng.uniform(10, 30, (n - n // 2, 2))], axis=1)
    return (np.clip(np.concatenate([gt, rand]), 0, rec.width - 1) * scale).astype(np.float32)


def test_fixed_proposal_training_trains_the_head_only():
    net = small(num_deformable_layers=0, deformable_roi_pooling=True)
    frozen = freeze_rpn(net)
    assert frozen and all(n.startswith("rpn_") for n in frozen)
    batch, rec = synthetic_batch()
    batch["proposals"] = mx.nd.array(fixed_proposals(rec, 0.75))
    rpn_before = net.rpn.cls.weight.data().asnumpy().copy()
    losses, metrics = train_steps(net, batch, params(), steps=10)  # RoIs resampled each step: noisier
    assert set(metrics) == {"RCNNAcc", "RCNNLogLoss", "RCNNL1Loss"}
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.03, losses
    np.testing.assert_array_equal(net.rpn.cls.weight.data().asnumpy(), rpn_before)


class OneImage:
    """A one-record detection dataset in memory."""

    def __init__(self, size=96):
        img, _, _, objects = render_image(5, seed=0, size=size)
        self.img = img[:, : size * 3 // 4]  # not square, so a flip moves boxes
        keep = [o for o in objects if o.box[2] < size * 3 // 4]
        self.rec = DetRecord("img5", "unused.jpg", size, size * 3 // 4, np.array([o.box for o in keep]),
                             np.array([o.label for o in keep]), np.zeros(len(keep), bool))

    def __len__(self):
        return 1

    def __getitem__(self, idx):
        return self.img, self.rec

    def aspect_ratios(self):
        return np.array([self.rec.width / self.rec.height])


def test_proposal_dataset_resizes_and_flips_like_the_ground_truth(tmp_path):
    ds = OneImage()
    path = tmp_path / "train_rpn.npz"
    save_proposals(path, {"img5": ds.rec.boxes, "empty": np.zeros((0, 4))})
    props = load_proposals(path)
    assert set(props) == {"img5", "empty"} and props["empty"].shape == (0, 4)
    np.testing.assert_array_equal(lookup(props, "empty", 20, 30), [[0, 0, 29, 19]])  # none: the whole image
    data = ProposalDataset(ds, DetectionTransform(48, 200), props, flip_duplicate=True)
    assert len(data) == 2
    for i in range(2):
        sample, boxes = data[i]
        assert sample.flipped == (i == 1)
        np.testing.assert_allclose(boxes, sample.boxes, atol=1e-4)  # proposals = gt boxes, transformed alike
        nd = sample_to_nd((sample, boxes))
        assert nd["proposals"].shape == (len(boxes), 4) and nd["data"].shape[0] == 1
    with pytest.raises(ValueError, match="no precomputed proposals"):
        lookup(props, "missing", 20, 30)
    with pytest.raises(FileNotFoundError, match="fpn.proposals"):
        load_proposals(tmp_path / "none.npz")


def test_proposal_file_naming():
    cfg = load_config("experiments/faster_rcnn/cfgs/synthetic_rcnn_dcn.yaml", ["dataset.proposal_dir=/p"])
    assert str(proposal_file(cfg, "train")) == "/p/train_rpn.npz"
    with pytest.raises(ValueError, match="proposal_dir"):  # e.g. TEST.HAS_RPN: false without a folder
        proposal_file(load_config("experiments/faster_rcnn/cfgs/synthetic_rcnn_dcn.yaml"), "train")


@pytest.mark.parametrize("fpn", [False, True])
def test_detect_multiscale_and_soft_nms(fpn):
    net = small(fpn=fpn, num_deformable_layers=0, deformable_roi_pooling=not fpn)
    batch, rec = synthetic_batch(stride=32 if fpn else 0)
    hard = DetectParams(max_per_image=20, score_thresh=0.0, rpn_pre_nms_top_n=300, rpn_post_nms_top_n=50)
    single = detect(net, batch["data"], batch["im_info"], hard)
    check_detections(single, rec, len(CLASSES), 20)
    # the same scale twice: every box has an identical twin (IoU 1), which NMS removes
    twice = detect_multiscale(net, [(batch["data"], batch["im_info"])] * 2, hard)
    np.testing.assert_allclose(twice, single, rtol=1e-5, atol=1e-4)
    # a second scale of the same image: 128 px -> 48 (the first is 96)
    small_img = mx.nd.contrib.BilinearResize2D(batch["data"], height=48, width=48)
    info = mx.nd.array([[48, 48, 0.375]])
    merged = detect_multiscale(net, [(batch["data"], batch["im_info"]), (small_img, info)], hard)
    check_detections(merged, rec, len(CLASSES), 20)
    soft = DetectParams(max_per_image=20, score_thresh=0.0, use_softnms=True, rpn_pre_nms_top_n=300,
                        rpn_post_nms_top_n=50)
    check_detections(detect(net, batch["data"], batch["im_info"], soft), rec, len(CLASSES), 20)
