"""R-FCN / class-aware RPN: shapes through the network for each option, parameter names, config glue."""
import mxnet as mx
import numpy as np
import pytest

from dcn.config import load_config
from dcn.config.symbol import width_divisor
from rfcn.config import is_class_aware_rpn, model_spec
from rfcn.model import RFCN, RFCNSpec

CFG = "experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml"


def small_spec(**kw) -> RFCNSpec:
    base = dict(num_classes=7, depth=18, width_divisor=8, anchor_scales=(2, 4, 8))
    base.update(kw)
    return RFCNSpec(**base)


@pytest.mark.parametrize("n_deform,dpsroi", [(0, False), (0, True), (3, False), (3, True), (6, True)])
def test_rfcn_shapes(n_deform, dpsroi):
    mx.random.seed(0)
    spec = small_spec(num_deformable_layers=n_deform, deformable_psroi=dpsroi)
    net = RFCN(spec)
    net.initialize_weights()
    net.hybridize()
    h, w = 96, 128
    feat, logits, deltas, anchors = net(mx.nd.random.uniform(shape=(1, 3, h, w)))
    n = (h // 16) * (w // 16) * spec.num_anchors
    assert logits.shape == (1, n, 2)
    assert deltas.shape == (1, n, 4)
    assert anchors.shape == (1, n, 4)
    assert feat.shape == (1, 1024 // 8, h // 16, w // 16)
    rois = mx.nd.array([[0, 0, 40, 50], [10, 20, 120, 90], [30, 30, 31, 31]])
    cls_score, bbox_pred = net.head_forward(feat, rois)
    assert cls_score.shape == (3, 7)
    assert bbox_pred.shape == (3, 4)
    names = set(net.collect_params().keys())
    assert {"rpn_conv_3x3_weight", "rfcn_cls_weight", "rfcn_bbox_weight", "conv_new_1_weight"} <= names
    assert ("rfcn_cls_offset_t_weight" in names) == dpsroi
    assert sum(k.endswith("branch2b_offset_weight") for k in names) == n_deform


def test_rfcn_dilation_keeps_stride16():
    for d in (2, 4, 6, 8):
        net = RFCN(small_spec(dilation=d, num_deformable_layers=0, deformable_psroi=False))
        net.initialize_weights()
        feat, logits, _, _ = net(mx.nd.random.uniform(shape=(1, 3, 64, 80)))
        assert feat.shape[2:] == (4, 5)


def test_class_aware_rpn_shapes():
    spec = small_spec(class_aware_rpn=True, num_deformable_layers=3)
    net = RFCN(spec)
    net.initialize_weights()
    net.hybridize()
    feat, logits, deltas, anchors = net(mx.nd.random.uniform(shape=(1, 3, 80, 96)))
    n = 5 * 6 * spec.num_anchors
    assert feat is None and net.head is None
    assert logits.shape == (1, n, 7)  # (C + 1)-way per anchor
    assert deltas.shape == anchors.shape == (1, n, 4)


def test_scratch_init_is_well_conditioned():
    """Residual blocks start as identity and the input is scaled to ~unit size."""
    net = RFCN(small_spec(num_deformable_layers=0, deformable_psroi=False, input_scale=1 / 58.0))
    net.initialize_weights()
    x = mx.nd.random.normal(0, 50, shape=(1, 3, 64, 64))
    feat = net(x)[0]
    assert np.isfinite(feat.asnumpy()).all() and float(feat.abs().max().asscalar()) < 20


def test_config_glue():
    cfg = load_config(CFG)
    spec = model_spec(cfg)
    assert spec.num_classes == 7 and spec.depth == 18 and spec.num_deformable_layers == 3
    assert spec.deformable_psroi and not spec.class_aware_rpn and spec.width_divisor == 4
    assert spec.input_scale == 1.0  # a pretrained (Caffe-style) backbone sees raw pixel values
    assert model_spec(load_config(CFG, ["network.pretrained=", "network.norm=gn"])).input_scale == \
        pytest.approx(1 / 58.0)  # scratch backbone
    cfg2 = load_config(CFG, ["symbol=resnet_v1_18_w8_class_aware_rpn_dcn"])
    assert is_class_aware_rpn(cfg2) and width_divisor(cfg2) == 8
    with pytest.raises(ValueError):
        model_spec(load_config(CFG, ["CLASS_AGNOSTIC=false"]))
