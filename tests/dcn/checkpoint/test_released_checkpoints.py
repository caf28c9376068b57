"""Original-format (MSRA) parameter files into our R-FCN / DeepLab / Faster R-CNN / FPN, strictly; ImageNet backbones.

The files are written here with random values under the names of the original
symbols (``rfcn/symbols/resnet_v1_101_rfcn(_dcn).py``,
``deeplab/symbols/resnet_v1_101_deeplab(_dcn).py``,
``faster_rcnn/symbols/resnet_v1_101_rcnn(_dcn).py``,
``fpn/symbols/resnet_v1_101_fpn(_dcn)_rcnn.py``; see
shared/reference/original_codebase.md): they are enumerated below from the
original's layer list, not from our networks' parameter dicts.
"""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

from dcn.checkpoint import ParamMismatchError, build_network, load_network, load_params, match_params
from dcn.checkpoint.__main__ import main as checkpoint_cli
from dcn.checkpoint.loader import enforce
from dcn.config import load_config
from dcn.modeling.pretrained import load_pretrained

ROOT = Path(__file__).resolve().parents[3]
RFCN_DCN_CFG = ROOT / "experiments/rfcn/cfgs/resnet_v1_101_voc0712_rfcn_dcn_end2end_ohem.yaml"
RFCN_CFG = ROOT / "experiments/rfcn/cfgs/resnet_v1_101_voc0712_rfcn_end2end_ohem.yaml"
DEEPLAB_DCN_CFG = ROOT / "experiments/deeplab/cfgs/deeplab_resnet_v1_101_cityscapes_segmentation_dcn.yaml"
DEEPLAB_CFG = ROOT / "experiments/deeplab/cfgs/deeplab_resnet_v1_101_cityscapes_segmentation_base.yaml"
RCNN_DCN_CFG = ROOT / "experiments/faster_rcnn/cfgs/resnet_v1_101_coco_trainval_rcnn_dcn_end2end.yaml"
RCNN_CFG = ROOT / "experiments/faster_rcnn/cfgs/resnet_v1_101_coco_trainval_rcnn_end2end.yaml"
FPN_DCN_CFG = ROOT / "experiments/fpn/cfgs/resnet_v1_101_coco_trainval_fpn_dcn_end2end_ohem.yaml"
FPN_CFG = ROOT / "experiments/fpn/cfgs/resnet_v1_101_coco_trainval_fpn_end2end_ohem.yaml"
BBOX_MEANS = np.zeros(4)
BBOX_STDS = np.array([0.1, 0.1, 0.2, 0.2])


# ------------------------------------------------------------------ the original symbols' parameters
def original_resnet_v1_101(offset_channels: int = 0, offset_at=("5a", "5b", "5c"), div: int = 1):
    """(key, shape) of ResNet-v1-101 as the original symbols name it; the blocks ``offset_at`` (res5a/b/c;
    FPN also 3b3, 4b22) deformable when offset_channels. ``div``: widths / div (a ``w<div>`` symbol of ours)."""
    entries = []

    def conv(name, out, inp, k, bias=False):
        entries.append((f"arg:{name}_weight", (out, inp, k, k)))
        if bias:
            entries.append((f"arg:{name}_bias", (out,)))

    def bn(name, c):
        entries.extend([(f"arg:{name}_gamma", (c,)), (f"arg:{name}_beta", (c,)),
                        (f"aux:{name}_moving_mean", (c,)), (f"aux:{name}_moving_var", (c,))])

    conv("conv1", 64 // div, 3, 7)
    bn("bn_conv1", 64 // div)
    units = {2: ["a", "b", "c"], 3: ["a", "b1", "b2", "b3"], 4: ["a"] + [f"b{i}" for i in range(1, 23)],
             5: ["a", "b", "c"]}
    inp = 64 // div
    for stage, mid in ((2, 64 // div), (3, 128 // div), (4, 256 // div), (5, 512 // div)):
        out = 4 * mid
        for i, u in enumerate(units[stage]):
            if i == 0:
                conv(f"res{stage}{u}_branch1", out, inp, 1)
                bn(f"bn{stage}{u}_branch1", out)
            conv(f"res{stage}{u}_branch2a", mid, inp if i == 0 else out, 1)
            bn(f"bn{stage}{u}_branch2a", mid)
            if f"{stage}{u}" in offset_at and offset_channels:
                conv(f"res{stage}{u}_branch2b_offset", offset_channels, mid, 3, bias=True)
            conv(f"res{stage}{u}_branch2b", mid, mid, 3)
            bn(f"bn{stage}{u}_branch2b", mid)
            conv(f"res{stage}{u}_branch2c", out, mid, 1)
            bn(f"bn{stage}{u}_branch2c", out)
        inp = out
    return entries


def original_rfcn(num_classes: int, num_anchors: int, dcn: bool, test_arrays: bool = True):
    e = original_resnet_v1_101(72 if dcn else 0)
    for name, shape in (("rpn_conv_3x3", (512, 1024, 3, 3)), ("rpn_cls_score", (2 * num_anchors, 512, 1, 1)),
                        ("rpn_bbox_pred", (4 * num_anchors, 512, 1, 1)), ("conv_new_1", (1024, 2048, 1, 1)),
                        ("rfcn_cls", (49 * num_classes, 1024, 1, 1)), ("rfcn_bbox", (392, 1024, 1, 1))):
        e += [(f"arg:{name}_weight", shape), (f"arg:{name}_bias", shape[:1])]
    if dcn:
        e += [("arg:rfcn_cls_offset_t_weight", (98 * num_classes, 1024, 1, 1)),
              ("arg:rfcn_cls_offset_t_bias", (98 * num_classes,)),
              ("arg:rfcn_bbox_offset_t_weight", (98, 1024, 1, 1)), ("arg:rfcn_bbox_offset_t_bias", (98,))]
    if test_arrays:
        e += [("arg:rfcn_bbox_weight_test", (392, 1024, 1, 1)), ("arg:rfcn_bbox_bias_test", (392,))]
    return e


def original_deeplab(num_classes: int, dcn: bool):
    return original_resnet_v1_101(18 if dcn else 0) + [
        ("arg:fc6_weight", (1024, 2048, 1, 1)), ("arg:fc6_bias", (1024,)),
        ("arg:score_weight", (num_classes, 1024, 1, 1)), ("arg:score_bias", (num_classes,)),
        ("arg:upsampling_weight", (num_classes, 1, 32, 32))]


def _fc_layers(num_classes: int, pooled_in: int, hidden: int = 1024):
    e = []
    for name, shape in (("fc_new_1", (hidden, pooled_in)), ("fc_new_2", (hidden, hidden)),
                        ("cls_score", (num_classes, hidden)), ("bbox_pred", (4 * num_classes, hidden))):
        e += [(f"arg:{name}_weight", shape), (f"arg:{name}_bias", shape[:1])]
    return e


def _head_width(c: int, div: int) -> int:
    return max(c // div, 16)  # FasterRCNNSpec.width


def original_faster_rcnn(num_classes: int, num_anchors: int, dcn: bool, div: int = 1):
    """faster_rcnn/symbols/resnet_v1_101_rcnn(_dcn).py: RPN on res4, conv_new_1 256, (offset fc 98), 2fc."""
    e = original_resnet_v1_101(72 if dcn else 0, div=div)
    rpn, red = _head_width(512, div), _head_width(256, div)
    for name, shape in (("rpn_conv_3x3", (rpn, 1024 // div, 3, 3)), ("rpn_cls_score", (2 * num_anchors, rpn, 1, 1)),
                        ("rpn_bbox_pred", (4 * num_anchors, rpn, 1, 1)), ("conv_new_1", (red, 2048 // div, 1, 1))):
        e += [(f"arg:{name}_weight", shape), (f"arg:{name}_bias", shape[:1])]
    if dcn:
        e += [("arg:offset_weight", (98, red * 49)), ("arg:offset_bias", (98,))]
    return e + _fc_layers(num_classes, red * 49, _head_width(1024, div))


def original_fpn(num_classes: int, num_anchors: int, dcn: bool, div: int = 1):
    """fpn/symbols/resnet_v1_101_fpn(_dcn)_rcnn.py: laterals, P2-P6, the shared rpn_conv, offset_p2..5, 2fc."""
    e = original_resnet_v1_101(72 if dcn else 0, offset_at=("3b3", "4b22", "5a", "5b", "5c"), div=div)
    ch, rpn = _head_width(256, div), _head_width(512, div)
    for k, c in zip((2, 3, 4, 5), (256, 512, 1024, 2048)):
        e += [(f"arg:fpn_p{k}_1x1_weight", (ch, c // div, 1, 1)), (f"arg:fpn_p{k}_1x1_bias", (ch,))]
    for k in (2, 3, 4, 5, 6):
        e += [(f"arg:fpn_p{k}_weight", (ch, 2048 // div if k == 6 else ch, 3, 3)), (f"arg:fpn_p{k}_bias", (ch,))]
    for name, shape in (("rpn_conv", (rpn, ch, 3, 3)), ("rpn_cls_score", (2 * num_anchors, rpn, 1, 1)),
                        ("rpn_bbox_pred", (4 * num_anchors, rpn, 1, 1))):
        e += [(f"arg:{name}_weight", shape), (f"arg:{name}_bias", shape[:1])]
    if dcn:
        for k in (2, 3, 4, 5):
            e += [(f"arg:offset_p{k}_weight", (98, ch * 49)), (f"arg:offset_p{k}_bias", (98,))]
    return e + _fc_layers(num_classes, ch * 49, _head_width(1024, div))


def with_bbox_pred_test(arrays):
    """The original callback for Faster R-CNN / FPN: (w.T * stds).T, b * stds + means, stds/means tiled x C."""
    w, b = arrays["arg:bbox_pred_weight"].asnumpy(), arrays["arg:bbox_pred_bias"].asnumpy()
    stds, means = np.tile(BBOX_STDS, w.shape[0] // 4), np.tile(BBOX_MEANS, w.shape[0] // 4)
    arrays["arg:bbox_pred_weight_test"] = mx.nd.array((w.T * stds).T)
    arrays["arg:bbox_pred_bias_test"] = mx.nd.array(b * stds + means)
    return arrays


POOL = 1_000_003  # a prime: tiled pool values never line up with a tensor's rows


def random_arrays(entries, seed: int):
    """Random-valued arrays (normal, std 0.01; moving_var positive): each tensor is a window of a random pool
    starting at a random place (tiled when larger), so ResNet-101 sized files take a fraction of a second."""
    rng = np.random.default_rng(seed)
    pool = rng.normal(0, 0.01, POOL).astype(np.float32)
    pool2 = np.concatenate([pool, pool])
    out = {}
    for key, shape in entries:
        n, start = int(np.prod(shape)), int(rng.integers(POOL))
        a = pool2[start:start + n] if n <= POOL else np.resize(pool2[start:start + POOL], n)
        a = a.reshape(shape)
        out[key] = mx.nd.array(np.abs(a) + 0.5 if key.endswith("_moving_var") else a)
    return out


def with_test_arrays(arrays):
    """What the original's do_checkpoint adds: rfcn_bbox x std + mean (means/stds tiled x2, repeated x49)."""
    stds8, means8 = np.tile(BBOX_STDS, 2), np.tile(BBOX_MEANS, 2)
    w, b = arrays["arg:rfcn_bbox_weight"].asnumpy(), arrays["arg:rfcn_bbox_bias"].asnumpy()
    arrays["arg:rfcn_bbox_weight_test"] = mx.nd.array(w * np.repeat(stds8, 49).reshape(392, 1, 1, 1))
    arrays["arg:rfcn_bbox_bias_test"] = mx.nd.array(b * np.repeat(stds8, 49) + np.repeat(means8, 49))
    return arrays


class NumpyView(dict):
    """``arrays[key].asnumpy()`` on access (converting a whole ResNet-101 file up front costs a second)."""

    def __getitem__(self, key):
        return super().__getitem__(key).asnumpy()


def param(net, name):
    return net.collect_params()[name].data().asnumpy()


# ------------------------------------------------------------------ fixtures (full ResNet-101 networks)
@pytest.fixture(scope="module")
def rfcn_dcn():
    cfg = load_config(RFCN_DCN_CFG)
    return cfg, build_network(cfg)


@pytest.fixture(scope="module")
def rfcn_dcn_arrays(rfcn_dcn):
    cfg, _ = rfcn_dcn
    entries = original_rfcn(cfg.dataset.NUM_CLASSES, cfg.network.NUM_ANCHORS, dcn=True, test_arrays=False)
    return with_test_arrays(random_arrays(entries, 0))


@pytest.fixture(scope="module")
def rfcn_dcn_file(tmp_path_factory, rfcn_dcn_arrays):
    path = tmp_path_factory.mktemp("orig") / "rfcn_dcn_voc-0000.params"
    mx.nd.save(str(path), rfcn_dcn_arrays)
    return path


@pytest.fixture(scope="module")
def deeplab_dcn():
    cfg = load_config(DEEPLAB_DCN_CFG)
    return cfg, build_network(cfg)


# ------------------------------------------------------------------ R-FCN
def test_rfcn_dcn_original_file_loads_strictly(rfcn_dcn, rfcn_dcn_file, rfcn_dcn_arrays):
    cfg, net = rfcn_dcn
    report = load_params(net, rfcn_dcn_file, cfg=cfg)
    assert report.ok and report.source == "original"
    a = NumpyView(rfcn_dcn_arrays)
    np.testing.assert_array_equal(param(net, "res5a_branch2b_offset_weight"), a["arg:res5a_branch2b_offset_weight"])
    np.testing.assert_array_equal(param(net, "res5c_branch2b_weight"), a["arg:res5c_branch2b_weight"])
    np.testing.assert_array_equal(param(net, "bn4b22_branch2c_running_var"), a["aux:bn4b22_branch2c_moving_var"])
    np.testing.assert_array_equal(param(net, "bn_conv1_running_mean"), a["aux:bn_conv1_moving_mean"])
    np.testing.assert_array_equal(param(net, "rfcn_cls_offset_t_weight"), a["arg:rfcn_cls_offset_t_weight"])
    np.testing.assert_array_equal(param(net, "conv_new_1_bias"), a["arg:conv_new_1_bias"])
    # RPN classifier: original channel k*A + a (class-major) is our channel a*2 + k
    A = cfg.network.NUM_ANCHORS
    ours, orig = param(net, "rpn_cls_score_weight"), a["arg:rpn_cls_score_weight"]
    for anchor in (0, A - 1):
        for k in (0, 1):
            np.testing.assert_array_equal(ours[anchor * 2 + k], orig[k * A + anchor])
    # the *_test arrays win (load_param(process=True)) and are re-normalised: our inference
    # de-normalises (x std + mean) and must get the original's de-normalised output back
    feat = mx.nd.array(np.random.default_rng(1).standard_normal((1, 1024, 3, 3), dtype=np.float32))
    bbox_conv = net.head.bbox.score if hasattr(net.head.bbox, "score") else net.head.bbox  # the rfcn_bbox conv
    out_ours = bbox_conv(feat).asnumpy()
    coord = (np.arange(392) // 49) % 4
    denorm = out_ours * BBOX_STDS[coord][None, :, None, None] + BBOX_MEANS[coord][None, :, None, None]
    out_test = mx.nd.Convolution(feat, mx.nd.array(a["arg:rfcn_bbox_weight_test"]),
                                 mx.nd.array(a["arg:rfcn_bbox_bias_test"]), kernel=(1, 1), num_filter=392).asnumpy()
    np.testing.assert_allclose(denorm, out_test, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(param(net, "rfcn_bbox_weight"), a["arg:rfcn_bbox_weight"], rtol=1e-5, atol=1e-8)
    assert "arg:rfcn_bbox_weight" in report.ignored  # superseded by the _test array, said so
    assert not any("trained with other values" in n for n in report.notes)


def test_rfcn_mismatches_are_listed(rfcn_dcn, rfcn_dcn_arrays, caplog):
    cfg, net = rfcn_dcn
    arrays = dict(rfcn_dcn_arrays)
    del arrays["arg:rfcn_cls_weight"]
    arrays["arg:fc1000_weight"] = mx.nd.zeros((1000, 2048))
    arrays["arg:res5b_branch2b_offset_weight"] = mx.nd.zeros((18, 512, 3, 3))
    report, _ = match_params(net, "x.params", arrays=arrays)
    assert [n for n, _ in report.missing] == ["rfcn_cls_weight"]
    assert [n for n, _ in report.unexpected] == ["arg:fc1000_weight"]
    assert [(f, o) for f, o, _, _ in report.mismatched] == [("arg:res5b_branch2b_offset_weight",
                                                            "res5b_branch2b_offset_weight")]
    text = report.format()
    for name in ("rfcn_cls_weight", "arg:fc1000_weight", "res5b_branch2b_offset_weight", "deformable_groups"):
        assert name in text
    # escape hatches: missing / extra allowed and logged; a wrong shape never is
    del arrays["arg:res5b_branch2b_offset_weight"]
    arrays["arg:res5b_branch2b_offset_weight"] = rfcn_dcn_arrays["arg:res5b_branch2b_offset_weight"]
    report, values = match_params(net, "x.params", arrays=arrays)
    with pytest.raises(ParamMismatchError, match="rfcn_cls_weight"):
        enforce(report)
    with pytest.raises(ParamMismatchError, match="fc1000"):
        enforce(report, allow_missing=True)
    with caplog.at_level(logging.WARNING, logger="dcn.checkpoint.loader"):
        enforce(report, allow_missing=True, ignore_extra=True)
    assert "rfcn_cls_weight" in caplog.text and "arg:fc1000_weight" in caplog.text
    # original weights expect raw pixels: a scratch-style input scale is refused, with the reason
    import dataclasses
    spec = net.spec
    try:
        net.spec = dataclasses.replace(spec, input_scale=1 / 58.0)
        report, _ = match_params(net, "x.params", arrays=rfcn_dcn_arrays)
    finally:
        net.spec = spec
    assert not report.ok and "network.pretrained" in report.problems[0]


def test_plain_rfcn_file_and_dcn_mismatch(rfcn_dcn_arrays):
    cfg = load_config(RFCN_CFG)
    net = build_network(cfg)
    plain = with_test_arrays(random_arrays(original_rfcn(21, 9, dcn=False, test_arrays=False), 2))
    report, _ = match_params(net, "plain.params", arrays=plain)
    assert report.ok, report.format()
    report, _ = match_params(net, "dcn.params", arrays=rfcn_dcn_arrays)  # DCN file into the plain network
    assert not report.ok and any("_offset" in n for n, _ in report.unexpected)
    assert any("deformable layers" in h for h in report.hints)


def test_rfcn_demo_loader_reads_original_file(rfcn_dcn_file, rfcn_dcn_arrays):
    """rfcn.demo / rfcn.test build the net with dcn.checkpoint.load_network, which reads the original format."""
    net = load_network(load_config(RFCN_DCN_CFG), str(rfcn_dcn_file), mx.cpu())
    np.testing.assert_array_equal(param(net, "rfcn_bbox_offset_t_bias"),
                                  rfcn_dcn_arrays["arg:rfcn_bbox_offset_t_bias"].asnumpy())


# ------------------------------------------------------------------ DeepLab
def test_deeplab_dcn_original_file_and_cli(deeplab_dcn, tmp_path, capsys, monkeypatch):
    cfg, net = deeplab_dcn
    arrays = random_arrays(original_deeplab(cfg.dataset.NUM_CLASSES, dcn=True), 3)
    path = tmp_path / "deeplab_dcn_cityscapes-0000.params"
    mx.nd.save(str(path), arrays)
    monkeypatch.setattr("dcn.checkpoint.__main__.build_network", lambda c: net)  # same call, built once
    assert checkpoint_cli(["check", "--cfg", str(DEEPLAB_DCN_CFG), "--params", str(path)]) == 0
    assert "OK" in capsys.readouterr().out
    net = load_network(cfg, str(path), mx.cpu())  # what deeplab.demo uses
    for ours, key in (("res5b_branch2b_offset_bias", "arg:res5b_branch2b_offset_bias"),
                      ("fc6_weight", "arg:fc6_weight"), ("upsampling_weight", "arg:upsampling_weight"),
                      ("bn5c_branch2b_running_mean", "aux:bn5c_branch2b_moving_mean")):
        np.testing.assert_array_equal(param(net, ours), arrays[key].asnumpy())
    # a broken file: one missing, one extra, one mis-shaped -> exit 1, each listed
    del arrays["arg:score_bias"]
    arrays["arg:rfcn_cls_weight"] = mx.nd.zeros((3,))
    arrays["arg:fc6_weight"] = mx.nd.zeros((1024, 2048, 3, 3))
    bad = tmp_path / "bad-0000.params"
    mx.nd.save(str(bad), arrays)
    assert checkpoint_cli(["check", "--cfg", str(DEEPLAB_DCN_CFG), "--params", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "score_bias" in out and "arg:rfcn_cls_weight" in out and "fc6_weight" in out and "DOES NOT FIT" in out


def test_plain_deeplab_file(deeplab_dcn):
    cfg = load_config(DEEPLAB_CFG)
    net = build_network(cfg)
    arrays = random_arrays(original_deeplab(19, dcn=False), 4)
    report, _ = match_params(net, "p.params", arrays=arrays)
    assert report.ok, report.format()
    report, _ = match_params(deeplab_dcn[1], "p.params", arrays=arrays)
    assert [n for n, _ in report.missing if "offset" not in n] == []
    assert len(report.missing) == 6 and any("non-dcn" in h for h in report.hints)


def test_cli_exit_codes_as_a_program(tmp_path):
    """`python -m dcn.checkpoint` (a real process): a symbol of no network -> 2; unreadable file -> 2."""
    junk = tmp_path / "junk.params"
    junk.write_bytes(b"not a params file")
    proc = subprocess.run([sys.executable, "-m", "dcn.checkpoint", "check", "--cfg", str(FPN_DCN_CFG), "--set",
                           "symbol=resnet_v1_101_ssd", "--params", str(junk)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "cannot tell the network" in proc.stderr, proc.stderr
    assert checkpoint_cli(["check", "--cfg", str(DEEPLAB_CFG), "--params", str(junk)]) == 2


# ------------------------------------------------------------------ Faster R-CNN 2fc, FPN
def assert_rpn_permuted(net, a, num_anchors: int):
    """Original RPN classifier channel k*A + a (class-major) is our channel a*2 + k."""
    ours, orig = param(net, "rpn_cls_score_weight"), a["arg:rpn_cls_score_weight"]
    for anchor in (0, num_anchors - 1):
        for k in (0, 1):
            np.testing.assert_array_equal(ours[anchor * 2 + k], orig[k * num_anchors + anchor])


def assert_bbox_pred_test_used(net, a, report):
    """Our (normalised) bbox_pred, de-normalised as our inference does, equals the original's *_test layer."""
    w, b = param(net, "bbox_pred_weight"), param(net, "bbox_pred_bias")
    x = np.random.default_rng(7).standard_normal((5, w.shape[1])).astype(np.float32)
    n = w.shape[0] // 4
    denorm = (x @ w.T + b) * np.tile(BBOX_STDS, n) + np.tile(BBOX_MEANS, n)
    test = x @ a["arg:bbox_pred_weight_test"].T + a["arg:bbox_pred_bias_test"]
    np.testing.assert_allclose(denorm, test, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(w, a["arg:bbox_pred_weight"], rtol=1e-5, atol=1e-8)
    assert "arg:bbox_pred_weight" in report.ignored and "arg:bbox_pred_bias" in report.ignored
    assert not any("trained with other values" in note for note in report.notes)


def test_faster_rcnn_dcn_original_file_loads_strictly(tmp_path):
    """rcnn_dcn_coco layout -> dcn.checkpoint.load_network (what fpn.test / fpn.demo --params use). Widths / 8 (the
    table has no widths; the full-size ResNet-101 is the FPN test's)."""
    cfg = load_config(RCNN_DCN_CFG, ["symbol=resnet_v1_101_w8_rcnn_dcn"])
    arrays = with_bbox_pred_test(random_arrays(original_faster_rcnn(81, cfg.network.NUM_ANCHORS, dcn=True, div=8),
                                               10))
    path = tmp_path / "rcnn_dcn_coco-0000.params"
    mx.nd.save(str(path), arrays)
    net = load_network(cfg, str(path), mx.cpu())
    a = NumpyView(arrays)
    for ours, key in (("offset_weight", "arg:offset_weight"), ("conv_new_1_weight", "arg:conv_new_1_weight"),
                      ("res5b_branch2b_offset_bias", "arg:res5b_branch2b_offset_bias"),
                      ("fc_new_1_weight", "arg:fc_new_1_weight"), ("cls_score_bias", "arg:cls_score_bias"),
                      ("rpn_conv_3x3_weight", "arg:rpn_conv_3x3_weight"),
                      ("rpn_bbox_pred_weight", "arg:rpn_bbox_pred_weight"),
                      ("bn5c_branch2c_running_var", "aux:bn5c_branch2c_moving_var")):
        np.testing.assert_array_equal(param(net, ours), a[key])
    assert_rpn_permuted(net, a, cfg.network.NUM_ANCHORS)
    report, _ = match_params(net, path, bbox_means=BBOX_MEANS, bbox_stds=BBOX_STDS, arrays=arrays)
    assert report.ok and report.source == "original", report.format()
    assert_bbox_pred_test_used(net, a, report)
    # the plain network (rcnn_coco; widths / 8, the table has no widths): loads strictly; a DCN file has
    # deformable layers it lacks, listed with the hint
    plain = build_network(load_config(RCNN_CFG, ["symbol=resnet_v1_101_w8_rcnn"]))
    small = with_bbox_pred_test(random_arrays(original_faster_rcnn(81, 12, dcn=True, div=8), 11))
    offsets = ["arg:offset_weight", "arg:offset_bias"] + [f"arg:res5{u}_branch2b_offset_{s}" for u in "abc"
                                                          for s in ("weight", "bias")]
    report, _ = match_params(plain, "rcnn_coco-0000.params", arrays={k: v for k, v in small.items()
                                                                     if k not in offsets})
    assert report.ok and report.matched["bbox_pred_weight"] == "arg:bbox_pred_weight_test", report.format()
    report, _ = match_params(plain, "rcnn_dcn_coco-0000.params", arrays=small)
    assert sorted(n for n, _ in report.unexpected) == sorted(offsets)
    assert not report.missing and any("deformable layers" in h for h in report.hints)


@pytest.fixture(scope="module")
def fpn_dcn(tmp_path_factory):
    cfg = load_config(FPN_DCN_CFG)
    arrays = with_bbox_pred_test(random_arrays(original_fpn(81, cfg.network.NUM_ANCHORS, dcn=True), 12))
    path = tmp_path_factory.mktemp("orig") / "fpn_dcn_coco-0000.params"
    mx.nd.save(str(path), arrays)
    return cfg, build_network(cfg), path, arrays


def test_fpn_dcn_original_file_check_and_load(fpn_dcn, capsys, monkeypatch):
    cfg, net, path, arrays = fpn_dcn
    # the CLI's build_network(cfg) is the fixture's (same call); built once to keep the file fast
    monkeypatch.setattr("dcn.checkpoint.__main__.build_network", lambda c: net)
    assert checkpoint_cli(["check", "--cfg", str(FPN_DCN_CFG), "--params", str(path)]) == 0
    assert "OK" in capsys.readouterr().out
    report = load_params(net, path, cfg=cfg)
    a = NumpyView(arrays)
    for ours, key in (("rpn_conv_3x3_weight", "arg:rpn_conv_weight"), ("rpn_conv_3x3_bias", "arg:rpn_conv_bias"),
                      ("rpn_bbox_pred_bias", "arg:rpn_bbox_pred_bias"), ("offset_p3_weight", "arg:offset_p3_weight"),
                      ("offset_p5_bias", "arg:offset_p5_bias"), ("fpn_p6_weight", "arg:fpn_p6_weight"),
                      ("fpn_p2_1x1_weight", "arg:fpn_p2_1x1_weight"), ("fpn_p4_bias", "arg:fpn_p4_bias"),
                      ("res3b3_branch2b_offset_weight", "arg:res3b3_branch2b_offset_weight"),
                      ("res4b22_branch2b_offset_bias", "arg:res4b22_branch2b_offset_bias"),
                      ("res5a_branch2b_weight", "arg:res5a_branch2b_weight"),
                      ("fc_new_2_weight", "arg:fc_new_2_weight")):
        np.testing.assert_array_equal(param(net, ours), a[key])
    assert_rpn_permuted(net, a, cfg.network.NUM_ANCHORS)
    assert report.ok, report.format()
    assert_bbox_pred_test_used(net, a, report)
    assert checkpoint_cli(["table", "--cfg", str(FPN_DCN_CFG)]) == 0
    assert any(line.split()[:3] == ["rpn_conv", "->", "rpn_conv_3x3"] for line in capsys.readouterr().out.splitlines())


def test_fpn_mismatches_are_listed(fpn_dcn):
    cfg, net, _, good = fpn_dcn
    arrays = dict(good)
    del arrays["arg:fpn_p3_bias"]
    arrays["arg:rpn_conv_3x3_weight"] = arrays.pop("arg:rpn_conv_weight")  # the single-map name: not FPN's
    arrays["arg:cls_score_weight"] = mx.nd.zeros((21, 1024))
    report, _ = match_params(net, "bad.params", arrays=arrays)
    assert sorted(n for n, _ in report.missing) == ["fpn_p3_bias", "rpn_conv_3x3_weight"]
    assert [n for n, _ in report.unexpected] == ["arg:rpn_conv_3x3_weight"]
    assert [(f, o) for f, o, _, _ in report.mismatched] == [("arg:cls_score_weight", "cls_score_weight")]
    text = report.format()
    for needle in ("fpn_p3_bias", "'rpn_conv'", "NUM_CLASSES"):
        assert needle in text, text
    with pytest.raises(ParamMismatchError, match="fpn_p3_bias"):
        enforce(report)
    # a plain FPN file (fpn_coco) into the DCN network: every offset layer missing, with the hint
    plain = {k: v for k, v in good.items() if "offset" not in k}
    report, _ = match_params(net, "fpn_coco-0000.params", arrays=plain)
    assert len(report.missing) == 2 * (5 + 4) and not report.unexpected
    assert any("plain (non-dcn) config" in h for h in report.hints)
    # ... and into the plain FPN (widths / 8, the table has no widths): strict
    plain_net = build_network(load_config(FPN_CFG, ["symbol=resnet_v1_101_w8_fpn_rcnn"]))
    small = with_bbox_pred_test(random_arrays(original_fpn(81, 3, dcn=False, div=8), 14))
    report, _ = match_params(plain_net, "fpn_coco-0000.params", arrays=small)
    assert report.ok and report.matched["rpn_conv_3x3_weight"] == "arg:rpn_conv_weight", report.format()


# ------------------------------------------------------------------ ImageNet backbones
def test_original_imagenet_file_initialises_the_backbone(deeplab_dcn, tmp_path, caplog):
    _, net = deeplab_dcn
    arrays = random_arrays(original_resnet_v1_101() + [("arg:fc1000_weight", (1000, 2048)),
                                                       ("arg:fc1000_bias", (1000,))], 5)
    mx.nd.save(str(tmp_path / "resnet_v1_101-0000.params"), arrays)
    fc6_before = param(net, "fc6_weight")
    net.collect_params()["res5a_branch2b_offset_weight"].set_data(mx.nd.zeros((18, 512, 3, 3)))
    with caplog.at_level(logging.INFO, logger="dcn.modeling.pretrained"):
        n = load_pretrained(net, str(tmp_path / "resnet_v1_101"), 0)
    assert n == len(arrays) - 2
    assert "ignored arg:fc1000_weight" in caplog.text  # not silently
    np.testing.assert_array_equal(param(net, "res4b7_branch2b_weight"), arrays["arg:res4b7_branch2b_weight"].asnumpy())
    np.testing.assert_array_equal(param(net, "fc6_weight"), fc6_before)  # heads keep their init
    assert not param(net, "res5a_branch2b_offset_weight").any()
    del arrays["aux:bn3b2_branch2a_moving_var"]
    mx.nd.save(str(tmp_path / "cut-0000.params"), arrays)
    with pytest.raises(ParamMismatchError, match="bn3b2_branch2a_running_var"):
        load_pretrained(net, str(tmp_path / "cut"), 0)
    with pytest.raises(FileNotFoundError, match="pretrained_model/resnet_v1_101-0000.params"):
        load_pretrained(net, str(tmp_path / "nothere"), 0)


def test_gluoncv_resnet_v1_maps_structurally(tmp_path):
    """gluoncv resnet50_v1 (random weights, random BN statistics) -> our ResNetV1-50: same block outputs."""
    from gluoncv.model_zoo import get_model

    from dcn.modeling.backbones.resnet_v1 import ResNetV1, ResNetV1Spec
    gnet = get_model("resnet50_v1", pretrained=False)
    gnet.initialize(mx.init.Xavier())
    gnet(mx.nd.zeros((1, 3, 64, 64)))
    rng = np.random.default_rng(6)
    for name, p in gnet.collect_params().items():
        if name.endswith(("running_var", "running_mean", "bias", "gamma", "beta")):
            positive = name.endswith(("running_var", "gamma"))
            v = rng.uniform(0.5, 1.5, p.shape) if positive else rng.normal(0, 0.1, p.shape)
            p.set_data(mx.nd.array(v))
    ours = ResNetV1(ResNetV1Spec(depth=50, num_deformable_layers=3, res5_dilation=2, out_stages=("res5",)))
    ours.initialize()
    ours(mx.nd.zeros((1, 3, 64, 64)))
    gnet.save_parameters(str(tmp_path / "resnet50_v1-0123abcd.params"))
    assert load_pretrained(ours, str(tmp_path / "resnet50_v1-0123abcd.params")) == 265
    x = mx.nd.array(rng.normal(0, 1, (1, 256, 12, 12)))
    np.testing.assert_allclose(ours.stages[0][1](x).asnumpy(), gnet.features[4][1](x).asnumpy(), rtol=1e-4,
                               atol=1e-4)
    x = mx.nd.array(rng.normal(0, 1, (1, 512, 12, 12)))
    np.testing.assert_allclose(ours.stages[2][0](x).asnumpy(), gnet.features[6][0](x).asnumpy(), rtol=1e-4,
                               atol=1e-4)  # stride 2 on the 1x1 conv in both
    # stem: our input is RGB - PIXEL_MEANS (0..255), gluoncv's (RGB/255 - mean)/std; equal off the border
    rgb = rng.uniform(0, 255, (1, 3, 40, 40)).astype(np.float32)
    ours_in = rgb - np.array([123.15, 115.90, 103.06], np.float32)[None, :, None, None]
    g_in = (rgb / 255 - np.array([0.485, 0.456, 0.406])[None, :, None, None]) / \
        np.array([0.229, 0.224, 0.225])[None, :, None, None]
    a = ours.bn_conv1(ours.conv1(mx.nd.array(ours_in))).asnumpy()
    b = gnet.features[1](gnet.features[0](mx.nd.array(g_in))).asnumpy()
    np.testing.assert_allclose(a[:, :, 2:-2, 2:-2], b[:, :, 2:-2, 2:-2], rtol=1e-3, atol=1e-3)
    # the legacy (prefixed-name) gluon format maps the same way
    gnet.collect_params().save(str(tmp_path / "legacy.params"), strip_prefix=gnet.prefix)
    assert load_pretrained(ours, str(tmp_path / "legacy.params")) == 265
