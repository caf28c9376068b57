"""DeepLab: shapes for each option, original parameter names and layout, loss with the ignore label, mIoU."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from dcn.config import load_config
from dcn.evaluation import SegmentationEvaluator
from dcn.config.symbol import width_divisor
from deeplab.config import LR_MULT, model_spec
from deeplab.inference import predict_labels
from deeplab.loss import segmentation_loss
from deeplab.model import DeepLab, DeepLabSpec

CFG = "experiments/deeplab/cfgs/synthetic_deeplab_dcn.yaml"


def small_net(**kw) -> DeepLab:
    mx.random.seed(0)
    base = dict(num_classes=7, depth=18, width_divisor=8)
    base.update(kw)
    net = DeepLab(DeepLabSpec(**base))
    net.initialize_weights()
    net.hybridize()
    return net


@pytest.mark.parametrize("n_deform", [0, 1, 2, 3, 6])
def test_deeplab_shapes_per_deformable_option(n_deform):
    net = small_net(num_deformable_layers=n_deform)
    for hw in ((64, 80), (75, 101)):  # also sizes that are not multiples of 16
        x = mx.nd.random.uniform(-100, 100, shape=(1, 3) + hw)
        assert net(x).shape == (1, 7) + hw
        assert net.features(mx.nd, x).shape == (1, 1024 // 8, -(-hw[0] // 16), -(-hw[1] // 16))
    names = set(net.collect_params().keys())
    assert sum(k.endswith("branch2b_offset_weight") for k in names) == n_deform
    assert {"fc6_weight", "fc6_bias", "score_weight", "score_bias", "upsampling_weight"} <= names


@pytest.mark.parametrize("dilation", [2, 4, 6, 8])
def test_deeplab_atrous_options_keep_stride16(dilation):
    net = small_net(num_deformable_layers=3, dilation=dilation)
    res5a = net.backbone.stages[3][0].branch2b
    assert res5a._kwargs["dilate"] == (dilation, dilation) and res5a._kwargs["pad"] == (dilation, dilation)
    x = mx.nd.random.uniform(-100, 100, shape=(1, 3, 96, 64))
    assert net.features(mx.nd, x).shape[2:] == (6, 4)
    assert net(x).shape == (1, 7, 96, 64)


def test_resnet101_deformable_layers_are_the_papers():
    """Table 1 rows on ResNet-101; one offset group and an undilated 3x3 offset conv (original DeepLab)."""
    net = DeepLab(DeepLabSpec(21, depth=101, width_divisor=16, num_deformable_layers=6))
    names = net.collect_params().keys()
    offsets = sorted(k[:-len("_branch2b_offset_weight")] for k in names if k.endswith("_branch2b_offset_weight"))
    assert offsets == ["res4b20", "res4b21", "res4b22", "res5a", "res5b", "res5c"]
    offset_conv = net.backbone.stages[3][2].branch2b.offset
    assert offset_conv._channels == 18
    assert offset_conv._kwargs["dilate"] == (1, 1) and offset_conv._kwargs["pad"] == (1, 1)


def test_upsampling_is_fixed_bilinear():
    net = small_net(num_deformable_layers=0)
    w = net.upsampling.deconv.weight
    assert w.grad_req == "null" and w.shape == (7, 1, 32, 32)
    ones = net.upsampling(mx.nd.ones((1, 7, 4, 5)), mx.nd.zeros((1, 3, 64, 80)))
    inner = ones[0, :, 16:48, 16:64].asnumpy()
    np.testing.assert_allclose(inner, 1.0, rtol=1e-5)  # bilinear weights sum to 1 away from the border


def test_loss_ignores_label_255_and_matches_numpy():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(1, 5, 6, 7)).astype(np.float32)
    label = rng.integers(0, 5, size=(1, 6, 7)).astype(np.float32)
    label[0, :2] = 255
    s = mx.nd.array(scores)
    s.attach_grad()
    with autograd.record():
        loss, metrics = segmentation_loss(s, mx.nd.array(label))
    loss.backward()
    logp = scores - np.log(np.exp(scores).sum(1, keepdims=True))
    valid = label[0] != 255
    yy, xx = np.nonzero(valid)
    expected = -logp[0, label[0, yy, xx].astype(int), yy, xx].mean()
    assert float(loss.asscalar()) == pytest.approx(expected, rel=1e-5)
    assert np.all(s.grad.asnumpy()[0, :, :2] == 0)  # no gradient from ignored pixels
    acc = (scores.argmax(1)[0][valid] == label[0][valid]).mean()
    assert float(metrics["PixelAcc"].asscalar()) == pytest.approx(acc)


def test_perfect_prediction_scores_miou_1():
    rng = np.random.default_rng(1)
    label = rng.integers(0, 7, size=(48, 64)).astype(np.uint8)
    label[:3] = 255

    def oracle(data):  # a "network" that outputs the ground truth as one-hot scores
        onehot = np.eye(7, dtype=np.float32)[np.where(label == 255, 0, label)].transpose(2, 0, 1)
        return mx.nd.array(10 * onehot[None])

    pred = predict_labels(oracle, np.zeros((3, 48, 64), np.float32), label.shape)
    ev = SegmentationEvaluator(7, 255)
    ev.update(pred, label)
    result = ev.evaluate()
    assert result.miou == 1.0 and result.pixel_accuracy == 1.0
    loss, metrics = segmentation_loss(oracle(None), mx.nd.array(label[None]))
    assert float(loss.asscalar()) < 1e-3 and float(metrics["PixelAcc"].asscalar()) == 1.0


def test_config_glue():
    cfg = load_config(CFG)
    spec = model_spec(cfg)
    assert (spec.num_classes, spec.depth, spec.num_deformable_layers, spec.deformable_groups) == (7, 18, 3, 1)
    assert spec.width_divisor == 4 and spec.dilation == 2
    assert width_divisor(load_config(CFG, ["symbol=resnet_v1_18_w8_deeplab"])) == 8
    voc = model_spec(load_config("experiments/deeplab/cfgs/deeplab_resnet_v1_101_voc12_segmentation_dcn.yaml"))
    assert (voc.num_classes, voc.depth, voc.width_divisor, voc.num_deformable_layers) == (21, 101, 1, 3)
    base = model_spec(load_config("experiments/deeplab/cfgs/deeplab_resnet_v1_101_cityscapes_segmentation_base.yaml"))
    assert (base.num_classes, base.num_deformable_layers) == (19, 0)
    assert LR_MULT[r"^fc6_bias$"] == 2.0
    with pytest.raises(ValueError, match="dilation"):
        DeepLab(DeepLabSpec(7, depth=18, dilation=1))
