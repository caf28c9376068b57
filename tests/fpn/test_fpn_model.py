"""Faster R-CNN 2fc and FPN: output shapes for each option, parameter names, RoI-to-level assignment,
pyramid pooling order, configs -> specs, and clear errors."""
import mxnet as mx
import numpy as np
import pytest

from dcn.config import load_config
from dcn.modeling.backbones.resnet_v1 import ResNetV1Spec, deformable_block_names
from fpn.config import is_fpn, make_net, model_spec
from dcn.modeling.fpn import PyramidRoIPool, assign_levels
from fpn.spec import FasterRCNNSpec

NUM_CLASSES = 7
ROIS = mx.nd.array([[0, 0, 20, 20], [10, 10, 120, 100], [0, 0, 159, 127], [5, 5, 60, 40], [30, 40, 50, 90]])


def small(fpn=False, **kw):
    mx.random.seed(0)
    kw.setdefault("dilation", 1 if fpn else 2)
    spec = FasterRCNNSpec(num_classes=NUM_CLASSES, depth=18, width_divisor=8, anchor_scales=(8,) if fpn else (2, 4, 8),
                          fpn=fpn, input_scale=1 / 58.0, **kw)
    net = make_net(spec)
    net.initialize_weights()
    net.hybridize()
    return net


@pytest.mark.parametrize("opts", [
    dict(deformable_roi_pooling=False, plain_roi_pooling="bilinear", num_deformable_layers=0),
    dict(deformable_roi_pooling=False, plain_roi_pooling="max", num_deformable_layers=0),
    dict(deformable_roi_pooling=True, num_deformable_layers=0),
    dict(deformable_roi_pooling=True, num_deformable_layers=3),
    dict(deformable_roi_pooling=True, num_deformable_layers=3, class_agnostic=True),
    dict(fpn=True, deformable_roi_pooling=False, num_deformable_layers=0),
    dict(fpn=True, deformable_roi_pooling=True, num_deformable_layers=3, deformable_pyramid=True),
])
def test_shapes(opts):
    net = small(**opts)
    fpn = opts.get("fpn", False)
    feat, logits, deltas, anchors = net(mx.nd.random.normal(shape=(1, 3, 128, 160)))
    if fpn:  # P2..P5 for the head; the RPN also ran on P6
        assert [f.shape[2:] for f in feat] == [(32, 40), (16, 20), (8, 10), (4, 5)]
        num = 3 * (32 * 40 + 16 * 20 + 8 * 10 + 4 * 5 + 2 * 3)
    else:  # conv_new_1 at stride 16, RPN on conv4
        assert feat.shape == (1, 256 // 8, 8, 10)
        num = 9 * 8 * 10
    assert logits.shape == (1, num, 2) and deltas.shape == (1, num, 4) and anchors.shape == (1, num, 4)
    cls_score, bbox_pred = net.head_forward(feat, ROIS)
    assert cls_score.shape == (5, NUM_CLASSES)
    assert bbox_pred.shape == (5, 4 if opts.get("class_agnostic") else 4 * NUM_CLASSES)
    names = set(net.collect_params().keys())
    assert ("res5b_branch2b_offset_weight" in names) == (opts.get("num_deformable_layers", 3) > 0)
    assert ("res3b_branch2b_offset_weight" in names) == bool(opts.get("deformable_pyramid"))
    if not fpn:
        assert ("offset_weight" in names) == opts["deformable_roi_pooling"]
    else:
        assert ({f"offset_p{k}_weight" for k in (2, 3, 4, 5)} <= names) == opts["deformable_roi_pooling"]
        assert {"fpn_p2_1x1_weight", "fpn_p5_weight", "fpn_p6_weight"} <= names


def test_deformable_roi_pooling_starts_as_plain_and_offsets_are_slow():
    """Zero offsets at init: the deformable head equals the bilinear plain head with the same weights."""
    x = mx.nd.random.normal(shape=(1, 3, 128, 160))
    deform, plain = small(num_deformable_layers=0), small(num_deformable_layers=0, deformable_roi_pooling=False)
    dp = deform.collect_params()
    for name, p in plain.collect_params().items():
        p.set_data(dp[name].data())
    assert dp["offset_weight"].lr_mult == 0.01 and not np.any(dp["offset_weight"].data().asnumpy())
    f1, f2 = deform(x)[0], plain(x)[0]
    np.testing.assert_allclose(deform.head_forward(f1, ROIS)[0].asnumpy(), plain.head_forward(f2, ROIS)[0].asnumpy(),
                               rtol=1e-5, atol=1e-6)


def test_fpn_backbone_deformable_blocks_as_the_original():
    spec = ResNetV1Spec(depth=101, num_deformable_layers=3, deformable_stage_ends=(3, 4))
    assert deformable_block_names(spec) == {"3b3", "4b22", "5a", "5b", "5c"}
    with pytest.raises(ValueError, match="deformable_stage_ends"):
        ResNetV1Spec(deformable_stage_ends=(6,)).validate()


def test_assign_levels_hand_computed():
    #            224 px: k0=4   112: 3    448: 5   56: 2   16: clamp 2   1000: clamp 5  223: just below 224 -> 3
    rois = np.array([[0, 0, 223, 223], [10, 10, 121, 121], [0, 0, 447, 447], [0, 0, 55, 55], [0, 0, 15, 15],
                     [0, 0, 999, 999], [0, 0, 222, 222], [0, 0, 111, 447]], np.float32)  # last: sqrt(112*448)=224
    np.testing.assert_array_equal(assign_levels(rois), [4, 3, 5, 2, 2, 5, 3, 4])
    np.testing.assert_array_equal(assign_levels(rois, k_min=3, k_max=4), [4, 3, 4, 3, 3, 4, 3, 4])
    with pytest.raises(ValueError, match="k_min"):
        assign_levels(rois, k_min=5, k_max=2)


def test_pyramid_pooling_uses_each_rois_level_and_keeps_order():
    pool = PyramidRoIPool(4, deformable=True, plain_op="bilinear")
    pool.initialize(mx.init.Normal(0.05))
    levels = [mx.nd.random.normal(shape=(1, 4, 256 // s, 256 // s)) for s in (4, 8, 16, 32)]
    rois = mx.nd.array([[0, 0, 0, 250, 250], [0, 10, 10, 40, 40], [0, 5, 5, 120, 130], [0, 0, 0, 70, 60]])
    out = pool(levels, rois)
    assert out.shape == (4, 4, 7, 7)
    for i, k in enumerate(assign_levels(rois[:, 1:].asnumpy())):
        one = pool.pools[k - 2](levels[k - 2], rois[i:i + 1])
        np.testing.assert_allclose(out[i:i + 1].asnumpy(), one.asnumpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("path,fpn,deformable", [
    ("experiments/faster_rcnn/cfgs/resnet_v1_101_voc0712_rcnn_end2end.yaml", False, False),
    ("experiments/faster_rcnn/cfgs/resnet_v1_101_coco_trainval_rcnn_dcn_end2end.yaml", False, True),
    ("experiments/faster_rcnn/cfgs/synthetic_rcnn_dcn.yaml", False, True),
    ("experiments/fpn/cfgs/resnet_v1_101_coco_trainval_fpn_dcn_end2end_ohem.yaml", True, True),
    ("experiments/fpn/cfgs/resnet_v1_101_coco_trainval_fpn_end2end_ohem.yaml", True, False),
    ("experiments/fpn/cfgs/synthetic_fpn_dcn.yaml", True, True),
])
def test_configs_to_specs(path, fpn, deformable):
    cfg = load_config(path)
    spec = model_spec(cfg)
    spec.validate()
    assert is_fpn(cfg) == spec.fpn == fpn
    assert spec.deformable_roi_pooling == deformable and (spec.num_deformable_layers > 0) == deformable
    assert spec.deformable_pyramid == (fpn and deformable)
    assert not spec.class_agnostic  # class-specific boxes, as the original Faster R-CNN / FPN
    assert spec.width_divisor == (4 if cfg.dataset.dataset == "synthetic" else 1)


def test_config_and_spec_errors():
    cfg = load_config("experiments/fpn/cfgs/synthetic_fpn_dcn.yaml", ["network.dilation=2"])
    with pytest.raises(ValueError, match="network.dilation"):
        model_spec(cfg)
    cfg = load_config("experiments/faster_rcnn/cfgs/synthetic_rcnn_dcn.yaml", ["network.RPN_FEAT_STRIDE=[4,8]"])
    with pytest.raises(ValueError, match="RPN_FEAT_STRIDE"):
        model_spec(cfg)
    cfg = load_config("experiments/faster_rcnn/cfgs/synthetic_rcnn_dcn.yaml", ["network.deformable_pyramid=true"])
    with pytest.raises(ValueError, match="deformable_pyramid"):
        model_spec(cfg)
    with pytest.raises(ValueError, match="plain_roi_pooling"):
        FasterRCNNSpec(num_classes=3, plain_roi_pooling="avg").validate()
    with pytest.raises(ValueError, match="dilation"):
        FasterRCNNSpec(num_classes=3, fpn=True, dilation=2).validate()


def test_levels_without_rois_still_get_gradients():
    """A trainer step must not find stale offset parameters when an image has no RoI for some level."""
    pool = PyramidRoIPool(4, deformable=True)
    pool.initialize(mx.init.Normal(0.05))
    levels = [mx.nd.random.normal(shape=(1, 4, 256 // s, 256 // s)) for s in (4, 8, 16, 32)]
    rois = mx.nd.array([[0, 10, 10, 40, 40], [0, 12, 8, 50, 44]])  # both on P2
    with mx.autograd.record():
        out = pool(levels, rois)
    out.backward()
    for name, p in pool.collect_params().items():
        assert p.list_data()[0]._fresh_grad, name


def test_imagenet_backbone_loads_into_resnet101_fpn(tmp_path):
    """network.pretrained (the original resnet_v1_101-0000.params) fills every backbone weight of the FPN,
    strictly; offsets, pyramid, RPN and head keep their initialisation."""
    from dcn.modeling.pretrained import load_pretrained
    from tests.dcn.checkpoint.test_released_checkpoints import original_resnet_v1_101, random_arrays

    arrays = random_arrays(original_resnet_v1_101(), 3)
    mx.nd.save(str(tmp_path / "resnet_v1_101-0000.params"), arrays)
    net = make_net(FasterRCNNSpec(num_classes=81, depth=101, dilation=1, fpn=True, deformable_pyramid=True,
                                  anchor_scales=(8,)))
    net.initialize_weights(scratch=False)
    assert load_pretrained(net, str(tmp_path / "resnet_v1_101"), 0) == len(arrays)
    got = net.collect_params()["res4b22_branch2a_weight"].data().asnumpy()
    np.testing.assert_array_equal(got, arrays["arg:res4b22_branch2a_weight"].asnumpy())
    assert not np.any(net.collect_params()["res4b22_branch2b_offset_weight"].data().asnumpy())
