"""Faster R-CNN / FPN export (body, per-level RoI pooling, head graphs) and back: identical detections."""
from __future__ import annotations

import json
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from dcn.checkpoint import build_network, load_params
from dcn.config import load_config
from dcn.detection.inference import detect
from dcn.detection.params import detect_params
from dcn.export import export_model
from dcn.export_detectors import ImportedDetector

ROOT = Path(__file__).resolve().parents[2]
CFGS = {"faster_rcnn": ROOT / "experiments/faster_rcnn/cfgs/synthetic_rcnn_dcn.yaml",
        "fpn": ROOT / "experiments/fpn/cfgs/synthetic_fpn_dcn.yaml"}


def _randomise(net, seed: int) -> None:
    """Non-trivial values everywhere (offsets, BN statistics), so the graphs are really compared."""
    rng = np.random.default_rng(seed)
    for name, p in net.collect_params().items():
        if name.startswith("anchors"):
            continue
        v = rng.normal(0, 0.05, p.shape)
        if name.endswith(("running_var", "gamma")):
            v = np.abs(v) + 0.5
        p.set_data(mx.nd.array(v))


@pytest.mark.parametrize("kind", ["faster_rcnn", "fpn"])
def test_detector_export_round_trip_and_detect(kind, tmp_path):
    cfg = load_config(CFGS[kind])
    net = build_network(cfg)
    _randomise(net, 4)
    x = mx.nd.array(np.random.default_rng(5).normal(0, 20, (1, 3, 128, 160)))
    im_info = mx.nd.array([[128, 160, 1.0]])
    # RoIs of every FPN level (P2: 21-80 px, P3: 138 px, P4: 301 px, P5: 601 px) in a shuffled order
    rois = mx.nd.array([[2, 3, 22, 25], [0, 0, 600, 600], [10, 0, 90, 63], [0, 0, 127, 150], [0, 0, 300, 300],
                        [40, 30, 100, 120]])
    with autograd.predict_mode():
        feat = net(x)[0]
        ref_head = [o.asnumpy() for o in net.head_forward(feat, rois)]
    export_model(net, tmp_path / kind)
    meta = json.loads((tmp_path / f"{kind}-meta.json").read_text())
    expected = {"body", "head"} | ({f"pool_p{k}" for k in (2, 3, 4, 5)} if kind == "fpn" else set())
    assert set(meta["graphs"]) == expected and meta["network"] == kind
    if kind == "fpn":
        from dcn.modeling.fpn import assign_levels
        assert sorted(set(assign_levels(rois.asnumpy()).tolist())) == [2, 3, 4, 5]
    imported = ImportedDetector(tmp_path / kind)
    out = imported(x)
    with autograd.predict_mode():
        for a, b in zip(out[1:], net(x)[1:]):
            np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-5, atol=1e-5)
    for a, b in zip(imported.head_forward(out[0], rois), ref_head):
        np.testing.assert_allclose(a.asnumpy(), b, rtol=1e-4, atol=1e-5)
    params = detect_params(cfg)
    dets_ref = detect(net, x, im_info, params)
    dets = detect(imported, x, im_info, params)
    assert len(dets_ref) > 0
    np.testing.assert_allclose(dets, dets_ref, rtol=1e-4, atol=1e-3)
    # each graph's .params (arg:/aux:, our names) loads back strictly into a fresh network's parameters
    fresh = build_network(cfg)
    for name, graph in meta["graphs"].items():
        # (source given: a head graph has no BatchNorm statistics that would tell export from original)
        report = load_params(fresh, tmp_path / graph["params"], source="export", allow_missing=True)
        assert report.source == "export" and not report.unexpected and report.matched, name
