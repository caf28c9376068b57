"""Whole networks exported to ONNX (dcn.deploy.export) and run in ONNX Runtime vs the MXNet networks:
outputs on random weights and images, and the same detections after NMS on synthetic val images."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.deploy_cases import needs_onnx, needs_openvino
from tests.net_cases import randomise

pytestmark = needs_onnx
ROOT = Path(__file__).resolve().parents[3]
CFGS = {"deeplab": "experiments/deeplab/cfgs/synthetic_deeplab_dcn.yaml",
        "rfcn": "experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml",
        "faster_rcnn": "experiments/faster_rcnn/cfgs/synthetic_rcnn_dcn.yaml",
        "fpn": "experiments/fpn/cfgs/synthetic_fpn_dcn.yaml"}


# the baselines with the original's poolings: _contrib_PSROIPooling (R-FCN) / ROIPooling (Faster R-CNN)
PLAIN = {"rfcn": ["network.num_deformable_layers=0", "network.deformable_psroi=false",
                  "network.plain_roi_pooling=average"],
         "faster_rcnn": ["network.num_deformable_layers=0", "network.deformable_psroi=false",
                         "network.plain_roi_pooling=max"]}


def _export(kind: str, tmp_path: Path, seed: int = 0, border_rule: str = "v1", plain: bool = False,
            one_stage: bool = False, overrides=()):
    from dcn.checkpoint import build_network
    from dcn.checkpoint import network_kind
    from dcn.config import load_config
    from dcn.deploy.export import config_meta, export_onnx
    cfg = load_config(ROOT / CFGS[kind], (PLAIN[kind] if plain else [])
                      + (["symbol=resnet_v1_18_class_aware_rpn_dcn"] if one_stage else []) + list(overrides))
    net = build_network(cfg)
    randomise(net, seed)
    export_onnx(net, tmp_path / kind, (96, 128), border_rule, config_meta(cfg, network_kind(net)))
    return cfg, net


def _synthetic_val(index: int, size: int = 128):
    from dcn.data.synthetic import render_image
    from dcn.data.transforms import normalize
    img = render_image(1000 + index, seed=1, size=size)[0]  # indices outside the 500 training scenes
    return img, normalize(img)[None]


def test_deeplab_onnx_matches_mxnet(tmp_path):
    import mxnet as mx
    from mxnet import autograd
    from dcn.deploy.pipeline import OnnxSegmenter
    _, net = _export("deeplab", tmp_path)
    seg = OnnxSegmenter(tmp_path / "deeplab")
    rng = np.random.default_rng(1)
    for shape in ((1, 3, 64, 80), (2, 3, 72, 56)):  # H, W (and N) are dynamic
        x = rng.normal(0, 20, shape).astype("f4")
        with autograd.predict_mode():
            ref = net(mx.nd.array(x)).asnumpy()
        out = seg.net({"data": x})[0]
        assert np.abs(out - ref).max() < 1e-5  # measured 4.8e-8 (|ref| <= 0.15)
    img, data = _synthetic_val(0)
    from deeplab.inference import predict_labels
    ref_labels = predict_labels(net, data[0], img.shape[:2])
    assert (seg.predict_scores(data[0], img.shape[:2]).argmax(0) == ref_labels).mean() > 0.999


def test_deeplab_onnx_border_rule(tmp_path):
    """v1 nets exported with plain DeformConv (ONNX's rule) differ; nets built with dcnv2 are exact."""
    import mxnet as mx
    from mxnet import autograd
    from dcn.deploy.export import export_onnx
    from operators.blocks import set_border_rule
    from dcn.deploy.runtime import open_session
    _, net = _export("deeplab", tmp_path, border_rule="onnx")
    x = np.random.default_rng(1).normal(0, 20, (1, 3, 64, 80)).astype("f4")
    run = open_session(tmp_path / "deeplab.onnx")
    with autograd.predict_mode():
        ref = net(mx.nd.array(x)).asnumpy()
    assert np.abs(run({"data": x})[0] - ref).max() > 1e-3  # measured 2.9e-2 of |ref| <= 0.15
    assert set_border_rule(net, "dcnv2") == 3  # the last three res5 3x3 convs
    with autograd.predict_mode():
        ref = net(mx.nd.array(x)).asnumpy()
    export_onnx(net, tmp_path / "v2", (64, 80), border_rule="onnx")
    assert np.abs(open_session(tmp_path / "v2.onnx")({"data": x})[0] - ref).max() < 1e-5


def test_config_border_rule_dcnv2_trains_and_exports_exactly(tmp_path):
    """network.border_rule=dcnv2 builds every DCNv1 block with the zero-padded rule, which ONNX DeformConv
    computes: the export with plain DeformConv matches MXNet (the default dcnv1 export emulates v1)."""
    import mxnet as mx
    from mxnet import autograd
    from operators.blocks import DeformableConv2D
    from dcn.deploy.runtime import open_session
    cfg, net = _export("rfcn", tmp_path, border_rule="onnx", overrides=["network.border_rule=dcnv2"])
    rules = []
    net.apply(lambda b: rules.append(b._kwargs["border_rule"]) if isinstance(b, DeformableConv2D) else None)
    assert rules and set(rules) == {"dcnv2"}, rules
    x = np.random.default_rng(2).normal(0, 20, (1, 3, 96, 128)).astype("f4")
    with autograd.predict_mode():
        ref = [o.asnumpy() for o in net.body_outputs(mx.nd, mx.nd.array(x)) if o is not None]
    got = open_session(tmp_path / "rfcn_body.onnx")({"data": x})
    for r, g in zip(ref, got):
        assert np.abs(g - r).max() <= 1e-4 * max(1.0, np.abs(r).max())


def test_config_border_rule_is_checked():
    from dcn.config import ConfigError, load_config
    with pytest.raises(ConfigError, match="border_rule"):
        load_config(ROOT / CFGS["rfcn"], ["network.border_rule=v2"])


@pytest.mark.parametrize("backbone", ["resnet_v1_50", "aligned_inception_resnet"])
def test_backbone_onnx(tmp_path, backbone):
    import mxnet as mx
    from mxnet import autograd
    from dcn.deploy.export import export_onnx
    from dcn.deploy.runtime import open_session
    from dcn.modeling.backbones import aligned_inception_resnet, resnet_v1
    net = (resnet_v1(50, num_deformable_layers=3, out_stages=("res4", "res5"), width_divisor=8)
           if backbone == "resnet_v1_50" else aligned_inception_resnet(width_divisor=8))
    net.initialize()
    x = np.random.default_rng(2).normal(0, 1, (1, 3, 64, 96)).astype("f4")
    net(mx.nd.array(x))
    randomise(net, 3)
    meta = export_onnx(net, tmp_path / "resnet", (64, 96))
    assert meta["net"]["outputs"] == ["output0", "output1"]
    with autograd.predict_mode():
        ref = [o.asnumpy() for o in net(mx.nd.array(x))]
    for a, b in zip(open_session(tmp_path / "resnet.onnx")({"data": x}), ref):
        # deep random nets: float32 accumulation, measured <= 2.2e-5 of max |output|
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-4 * max(1.0, np.abs(b).max())


@pytest.mark.parametrize("kind", ["rfcn", "faster_rcnn", "fpn", "rfcn_plain", "faster_rcnn_plain",
                                  "rfcn_class_aware_rpn"])
def test_detector_onnx_same_detections(kind, tmp_path):
    _same_detections(kind, tmp_path)


@pytest.mark.parametrize("kind", ["faster_rcnn", "rfcn"])
@pytest.mark.parametrize("setting", ["TEST.USE_SOFTNMS=true", "TEST.BBOX_AVERAGING=true"])
def test_detector_split_graphs_soft_nms_and_box_averaging(kind, setting, tmp_path):
    """Soft-NMS and box averaging: no one graph, the split graphs + NumPy steps give MXNet's detections."""
    _same_detections(kind, tmp_path, [setting])


def _same_detections(kind: str, tmp_path: Path, overrides=()) -> None:
    import mxnet as mx
    from dcn.detection.inference import detect
    from dcn.detection.params import detect_params
    from dcn.deploy.pipeline import OnnxDetector
    plain = kind.endswith("_plain")  # the baselines: _contrib_PSROIPooling / ROIPooling heads
    one_stage = kind.endswith("_class_aware_rpn")  # the class-aware RPN: no head
    kind = kind.replace("_plain", "").replace("_class_aware_rpn", "")
    cfg, net = _export(kind, tmp_path, seed=4, plain=plain, one_stage=one_stage, overrides=overrides)
    meta = json.loads((tmp_path / f"{kind}-meta.json").read_text())
    graphs = ({"body"} if one_stage else {"body", "head"}) | (set() if overrides else {"end2end"})
    assert meta["format"] == "onnx" and set(meta["graphs"]) == graphs
    onnx_det = OnnxDetector(tmp_path / kind, end_to_end=False)  # body + head graphs, NumPy proposals and NMS
    one_graph = OnnxDetector(tmp_path / kind)  # PREFIX.onnx: proposals and NMS in the graph (when there is one)
    assert one_graph.end_to_end == (not overrides) and not onnx_det.end_to_end
    params = detect_params(cfg)
    total = 0
    for i in range(2):
        _, data = _synthetic_val(i)
        im_info = np.array([data.shape[2], data.shape[3], 1.0], np.float32)
        ref = detect(net, mx.nd.array(data), mx.nd.array(im_info[None]), params)
        for dets in (onnx_det.detect(data, im_info), one_graph.detect(data, im_info)):
            assert dets.shape == ref.shape, (kind, i)  # measured: 100 each, scores <= 6e-7, boxes <= 6.1e-5 px
            np.testing.assert_array_equal(dets[:, 0], ref[:, 0])
            np.testing.assert_allclose(dets[:, 1:], ref[:, 1:], rtol=1e-4, atol=1e-3)
        total += len(ref)
    assert total > 0


@needs_openvino
def test_detector_openvino_same_detections(tmp_path):
    from dcn.deploy.pipeline import OnnxDetector
    _export("rfcn", tmp_path, seed=4)
    _, data = _synthetic_val(0)
    im_info = np.array([data.shape[2], data.shape[3], 1.0], np.float32)
    ref = OnnxDetector(tmp_path / "rfcn").detect(data, im_info)
    dets = OnnxDetector(tmp_path / "rfcn", runtime="openvino").detect(data, im_info)
    assert len(ref) > 0 and dets.shape == ref.shape
    np.testing.assert_allclose(dets[:, 1:], ref[:, 1:], rtol=1e-4, atol=1e-3)


def test_fpn_head_with_empty_levels(tmp_path):
    """RoIs of one pyramid level only: the other levels get a throw-away RoI, the outputs are MXNet's."""
    import mxnet as mx
    from mxnet import autograd
    from dcn.deploy.pipeline import OnnxDetector, assign_levels
    _, net = _export("fpn", tmp_path, seed=5)
    det = OnnxDetector(tmp_path / "fpn")
    rois = np.array([[2, 3, 22, 25], [10, 0, 60, 63], [40, 30, 100, 90]], np.float32)
    assert set(assign_levels(rois).tolist()) == {2}
    _, data = _synthetic_val(0)
    feats = det.body({"data": data})[:4]
    with autograd.predict_mode():
        ref = [o.asnumpy() for o in net.head_forward(net(mx.nd.array(data))[0], mx.nd.array(rois))]
    for a, b in zip(det._head(feats, rois), ref):
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-5


def test_segmentation_class_names_match_deeplab():
    from dcn.config import load_config
    from dcn.deploy.export import _segmentation_classes
    from deeplab.data import class_names
    cfg = load_config(ROOT / CFGS["deeplab"])
    assert _segmentation_classes(cfg) == tuple(class_names(cfg))
