"""The original demo models deform_conv-0000 / deform_psroi-0000 into our R-FCN, checked against the original
symbols computed with MXNet's own ops.

``rfcn/symbols/deform_conv_demo.py``: R-FCN (VOC) whose res5a-c 3x3 convs are deformable with ONE offset group,
the offsets from 18-channel 3x3 convs with dilation 1, pad 1 beside the dilation-2 deformable convs, and the
plain (integer-bin) PSROIPooling head. ``rfcn/symbols/deform_psroi_demo.py``: regular res5, deformable PS RoI
pooling with 3x3 parts (``rfcn_cls_offset_t`` 2*9*21, ``rfcn_bbox_offset_t`` 18), fed hand-given RoIs.
Files are written with random values under the original names (as tests/dcn/checkpoint/test_released_checkpoints.py).
"""
from __future__ import annotations

from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from tests.dcn.checkpoint.test_released_checkpoints import BBOX_MEANS, BBOX_STDS, NumpyView, original_resnet_v1_101, param, random_arrays

from dcn.checkpoint import build_network, load_params, match_params
from dcn.checkpoint.__main__ import main as checkpoint_cli
from dcn.config import load_config
from operators.blocks import DeformableConv2D, offset_conv_padding

ROOT = Path(__file__).resolve().parents[3]
CONV_DEMO_CFG = ROOT / "experiments/rfcn/cfgs/deform_conv_demo.yaml"
PSROI_DEMO_CFG = ROOT / "experiments/rfcn/cfgs/deform_psroi_demo.yaml"
NUM_CLASSES = 21


def original_demo_rfcn(k: int, res5_offsets: int, psroi_offsets: bool, rpn: bool = True):
    """(key, shape) of the demo symbols: ResNet-v1-101, RPN (9 anchors), conv_new_1, k*k PS maps."""
    e = original_resnet_v1_101(res5_offsets)
    layers = [("conv_new_1", (1024, 2048, 1, 1)), ("rfcn_cls", (k * k * NUM_CLASSES, 1024, 1, 1)),
              ("rfcn_bbox", (k * k * 8, 1024, 1, 1))]
    if rpn:
        layers += [("rpn_conv_3x3", (512, 1024, 3, 3)), ("rpn_cls_score", (18, 512, 1, 1)),
                   ("rpn_bbox_pred", (36, 512, 1, 1))]
    if psroi_offsets:
        layers += [("rfcn_cls_offset_t", (2 * k * k * NUM_CLASSES, 1024, 1, 1)),
                   ("rfcn_bbox_offset_t", (2 * k * k, 1024, 1, 1))]
    for name, shape in layers:
        e += [(f"arg:{name}_weight", shape), (f"arg:{name}_bias", shape[:1])]
    return e


def with_rfcn_bbox_test(arrays, k: int):
    """The original callback: rfcn_bbox x std + mean per output channel (means/stds tiled x2, repeated x k*k)."""
    rep = np.repeat(np.tile(BBOX_STDS, 2), k * k), np.repeat(np.tile(BBOX_MEANS, 2), k * k)
    w, b = arrays["arg:rfcn_bbox_weight"].asnumpy(), arrays["arg:rfcn_bbox_bias"].asnumpy()
    arrays["arg:rfcn_bbox_weight_test"] = mx.nd.array(w * rep[0].reshape(-1, 1, 1, 1))
    arrays["arg:rfcn_bbox_bias_test"] = mx.nd.array(b * rep[0] + rep[1])
    return arrays


def demo_rois():
    return mx.nd.array([[0, 8, 12, 150, 90], [0, 40, 30, 100, 160], [0, -20, 5, 60, 60]])


def conv1x1(x, a, name, suffix=""):
    w = mx.nd.array(a[f"arg:{name}_weight{suffix}"])
    return mx.nd.Convolution(x, w, mx.nd.array(a[f"arg:{name}_bias{suffix}"]), kernel=(1, 1), num_filter=w.shape[0])


# ------------------------------------------------------------------ the offset conv's own dilation
def test_offset_conv_padding_keeps_the_output_size():
    assert offset_conv_padding((3, 3), (2, 2), (2, 2), (2, 2)) == (2, 2)
    assert offset_conv_padding((3, 3), (2, 2), (2, 2), (1, 1)) == (1, 1)   # deform_conv demo
    assert offset_conv_padding((3, 5), (1, 2), (1, 1), (4, 2)) == (4, 4)
    with pytest.raises(ValueError, match="offset conv dilation 1"):
        offset_conv_padding((3, 3), (0, 0), (2, 2), (1, 1))  # would need pad -1


def test_undilated_offset_conv_equals_the_original_symbol():
    """Our block with offset_dilation=1 == Convolution(18, k3, pad 1) -> contrib DeformableConvolution(pad 2,
    dilate 2, one group), with non-zero offset weights (so the offsets move)."""
    rng = np.random.default_rng(0)
    x = mx.nd.array(rng.standard_normal((1, 8, 11, 13)))
    blk = DeformableConv2D(6, 3, padding=2, dilation=2, num_deformable_group=1, offset_dilation=1, in_channels=8)
    blk.initialize()
    w = rng.standard_normal((6, 8, 3, 3)).astype(np.float32) * 0.2
    ow = rng.standard_normal((18, 8, 3, 3)).astype(np.float32) * 0.3
    ob = rng.standard_normal(18).astype(np.float32)
    blk.weight.set_data(mx.nd.array(w))
    blk.offset.weight.set_data(mx.nd.array(ow))
    blk.offset.bias.set_data(mx.nd.array(ob))
    offset = mx.nd.Convolution(x, mx.nd.array(ow), mx.nd.array(ob), kernel=(3, 3), pad=(1, 1), num_filter=18)
    assert float(offset.abs().mean().asscalar()) > 0.5
    ref = mx.nd.contrib.DeformableConvolution(x, offset, mx.nd.array(w), kernel=(3, 3), pad=(2, 2), dilate=(2, 2),
                                              num_filter=6, num_deformable_group=1, no_bias=True)
    np.testing.assert_allclose(blk(x).asnumpy(), ref.asnumpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(blk.offsets(x).asnumpy(), offset.asnumpy(), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ deform_conv-0000
@pytest.fixture(scope="module")
def conv_demo(tmp_path_factory):
    cfg = load_config(CONV_DEMO_CFG)
    arrays = with_rfcn_bbox_test(random_arrays(original_demo_rfcn(7, 18, psroi_offsets=False), 11), 7)
    path = tmp_path_factory.mktemp("demo") / "deform_conv-0000.params"
    mx.nd.save(str(path), arrays)
    return cfg, path, arrays


def test_deform_conv_demo_file_loads_strictly(conv_demo, capsys):
    cfg, path, arrays = conv_demo
    assert checkpoint_cli(["check", "--cfg", str(CONV_DEMO_CFG), "--params", str(path)]) == 0
    assert "OK" in capsys.readouterr().out
    net = build_network(cfg)
    report = load_params(net, path, cfg=cfg)
    assert report.ok and not report.unused
    a = NumpyView(arrays)
    np.testing.assert_array_equal(param(net, "res5b_branch2b_offset_weight"), a["arg:res5b_branch2b_offset_weight"])
    conv = net.backbone.stages[-1][0].branch2b
    assert conv._kwargs["num_deformable_group"] == 1 and conv.offset._kwargs["dilate"] == (1, 1)
    assert conv.offset._kwargs["pad"] == (1, 1) and conv._kwargs["dilate"] == (2, 2)
    # the plain head pools as the original PSROIPooling: cls scores = mean over 7x7 integer bins
    feat = mx.nd.array(np.random.default_rng(2).standard_normal((1, 1024, 12, 14)) * 0.5)
    cls, _ = net.head(feat, demo_rois())
    ref = mx.nd.contrib.PSROIPooling(conv1x1(feat, a, "rfcn_cls"), demo_rois(), spatial_scale=1 / 16.,
                                     output_dim=NUM_CLASSES, pooled_size=7, group_size=7).mean(axis=(2, 3))
    np.testing.assert_allclose(cls.asnumpy(), ref.asnumpy(), rtol=1e-4, atol=1e-5)
    # the released R-FCN DCN layout (72-channel dilated offset convs) does not fit this config
    wrong = random_arrays(original_demo_rfcn(7, 72, psroi_offsets=False), 12)
    report, _ = match_params(net, "rfcn_dcn.params", arrays=wrong)
    assert [f for f, _, _, _ in report.mismatched] == [f"arg:res5{b}_branch2b_offset_{s}" for b in "abc"
                                                      for s in ("weight", "bias")]


# ------------------------------------------------------------------ deform_psroi-0000
@pytest.fixture(scope="module")
def psroi_demo():
    cfg = load_config(PSROI_DEMO_CFG)
    return cfg, build_network(cfg)


@pytest.mark.parametrize("rpn", [True, False])
def test_deform_psroi_demo_file_loads_with_or_without_rpn(psroi_demo, tmp_path, rpn, capsys):
    cfg, net = psroi_demo
    arrays = with_rfcn_bbox_test(random_arrays(original_demo_rfcn(3, 0, psroi_offsets=True, rpn=rpn), 13), 3)
    path = tmp_path / "deform_psroi-0000.params"
    mx.nd.save(str(path), arrays)
    assert checkpoint_cli(["check", "--cfg", str(PSROI_DEMO_CFG), "--params", str(path)]) == 0
    out = capsys.readouterr().out
    report = load_params(net, path, cfg=cfg)
    assert report.ok
    unused = sorted(n for n, _ in report.unused)
    assert unused == ([] if rpn else sorted(f"rpn_{layer}_{s}" for layer in ("conv_3x3", "cls_score", "bbox_pred")
                                            for s in ("weight", "bias")))
    assert ("unused with this config" in out) == (not rpn)
    # with the RPN in use (TEST.HAS_RPN true), a file without it is missing parameters
    if not rpn:
        report, _ = match_params(net, path)
        assert not report.ok and len(report.missing) == 6


def test_deform_psroi_demo_head_equals_the_original_symbol(psroi_demo, tmp_path):
    """Our 3x3 deformable R-FCN head == the original graph: rfcn_cls_offset = DPSROI(no_trans) of
    rfcn_cls_offset_t, psroipooled_cls_rois = DPSROI(rfcn_cls, trans, trans_std 0.1, group/part/pooled 3),
    averaged; boxes from the *_test (de-normalised) rfcn_bbox, class-agnostic slot 1."""
    cfg, net = psroi_demo
    arrays = with_rfcn_bbox_test(random_arrays(original_demo_rfcn(3, 0, psroi_offsets=True), 14), 3)
    arrays["arg:rfcn_cls_offset_t_weight"] *= 20  # part offsets of a bin or so, not ~0
    arrays["arg:rfcn_bbox_offset_t_weight"] *= 20
    path = tmp_path / "deform_psroi-0000.params"
    mx.nd.save(str(path), arrays)
    load_params(net, path, cfg=cfg)
    a = NumpyView(arrays)
    feat = mx.nd.array(np.random.default_rng(3).standard_normal((1, 1024, 12, 14)))
    rois = demo_rois()
    common = dict(spatial_scale=1 / 16., group_size=3, pooled_size=3, part_size=3, sample_per_part=4)

    def branch(maps_layer, offset_layer, output_dim, offset_classes, suffix=""):
        trans = mx.nd.contrib.DeformablePSROIPooling(conv1x1(feat, a, offset_layer), rois, no_trans=True,
                                                     output_dim=2 * offset_classes, **common)
        return trans, mx.nd.contrib.DeformablePSROIPooling(conv1x1(feat, a, maps_layer, suffix), rois, trans,
                                                           trans_std=0.1, output_dim=output_dim,
                                                           **common).mean(axis=(2, 3))

    trans, cls_ref = branch("rfcn_cls", "rfcn_cls_offset_t", NUM_CLASSES, NUM_CLASSES)
    assert float(trans.abs().mean().asscalar()) > 0.05
    _, box_ref = branch("rfcn_bbox", "rfcn_bbox_offset_t", 8, 1, "_test")
    cls, box = net.head(feat, rois)
    np.testing.assert_allclose(cls.asnumpy(), cls_ref.asnumpy(), rtol=1e-4, atol=1e-5)
    denorm = box.asnumpy() * BBOX_STDS + BBOX_MEANS  # what our inference does with bbox_pred
    np.testing.assert_allclose(denorm, box_ref.asnumpy()[:, 4:8], rtol=1e-3, atol=1e-5)


def test_show_offsets_cli_on_the_demo_models(conv_demo, tmp_path):
    """rfcn.show_offsets as the original demos: figure 6 for deform_conv (3 layers, one group), figure 7
    over hand-given boxes for deform_psroi (TEST.HAS_RPN false: no detection pass)."""
    import cv2

    from rfcn.show_offsets import main
    img = (np.random.default_rng(5).random((120, 150, 3)) * 255).astype(np.uint8)
    image = tmp_path / "000057.jpg"
    cv2.imwrite(str(image), img)
    _, conv_path, _ = conv_demo
    out = tmp_path / "out"
    main(["--cfg", str(CONV_DEMO_CFG), "--params", str(conv_path), "--image", str(image), "--out", str(out),
          "--set", "SCALES=[128,160]", "--units", "3,4"])
    assert (out / "000057_fig6.png").is_file()
    psroi = tmp_path / "deform_psroi-0000.params"
    mx.nd.save(str(psroi), with_rfcn_bbox_test(random_arrays(original_demo_rfcn(3, 0, True, rpn=False), 15), 3))
    main(["--cfg", str(PSROI_DEMO_CFG), "--params", str(psroi), "--image", str(image), "--out", str(out),
          "--set", "SCALES=[128,160]", "--boxes", "10,20,90,100,bird", "30,5,140,110,16"])
    assert (out / "000057_fig7_box0.png").is_file() and (out / "000057_fig7_box1.png").is_file()
    from rfcn.demo import main as demo_main
    with pytest.raises(SystemExit, match="TEST.HAS_RPN is false"):  # no RPN to detect with: said, not garbage
        demo_main(["--cfg", str(PSROI_DEMO_CFG), "--params", str(psroi), "--images", str(image)])
    with pytest.raises(SystemExit, match="class 'cat5'"):
        main(["--cfg", str(PSROI_DEMO_CFG), "--params", str(psroi), "--image", str(image), "--out", str(out),
              "--boxes", "10,20,90,100,cat5"])


def test_class_count_hint_counts_3x3_bins(psroi_demo):
    """A COCO-sized (81-class) file into the 3x3 VOC demo net: the hint counts classes with k*k = 9 bins."""
    _, net = psroi_demo
    arrays = random_arrays(original_demo_rfcn(3, 0, psroi_offsets=True), 16)
    arrays["arg:rfcn_cls_weight"] = mx.nd.zeros((9 * 81, 1024, 1, 1))
    report, _ = match_params(net, "coco.params", arrays=arrays)
    assert any("the file has 81 classes, the network 21" in h for h in report.hints), report.hints
