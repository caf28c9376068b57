"""Export to -symbol.json + .params and back (SymbolBlock.imports, mx.mod.Module): identical outputs."""
from __future__ import annotations

import json
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from dcn.checkpoint import build_network, load_params
from dcn.config import load_config
from dcn.export import ImportedRFCN, export_model, import_graph, module_from_export
from tests.net_cases import randomise

ROOT = Path(__file__).resolve().parents[2]


def test_deeplab_export_round_trip(tmp_path):
    cfg = load_config(ROOT / "experiments/deeplab/cfgs/synthetic_deeplab_dcn.yaml")
    net = build_network(cfg)
    randomise(net, 0)
    x = mx.nd.array(np.random.default_rng(1).normal(0, 20, (1, 3, 64, 80)))
    with autograd.predict_mode():
        ref = net(x).asnumpy()
    graphs = export_model(net, tmp_path / "deeplab")
    assert (tmp_path / "deeplab-symbol.json").is_file() and (tmp_path / "deeplab-0000.params").is_file()
    assert "DeformableConvolution" in (tmp_path / "deeplab-symbol.json").read_text()
    block = import_graph(tmp_path / "deeplab", ["data"])
    np.testing.assert_allclose(block(x).asnumpy(), ref, rtol=1e-5, atol=1e-5)
    mod = module_from_export(tmp_path / "deeplab", [("data", x.shape)])
    mod.forward(mx.io.DataBatch([x]), is_train=False)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), ref, rtol=1e-5, atol=1e-5)
    assert graphs["net"]["inputs"] == ["data"]
    # the exported .params (arg:/aux:, running_*) load back strictly into a fresh network
    fresh = build_network(cfg)
    assert load_params(fresh, tmp_path / "deeplab-0000.params").source == "export"
    np.testing.assert_allclose(fresh(x).asnumpy(), ref, rtol=1e-5, atol=1e-5)


def test_rfcn_export_round_trip_and_detect(tmp_path):
    from dcn.detection.params import detect_params
    from dcn.detection.inference import detect
    cfg = load_config(ROOT / "experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml")
    net = build_network(cfg)
    randomise(net, 2)
    x = mx.nd.array(np.random.default_rng(3).normal(0, 20, (1, 3, 64, 96)))
    rois = mx.nd.array([[0, 2, 3, 40, 50], [0, 10, 0, 90, 63]])
    with autograd.predict_mode():
        ref_body = [o.asnumpy() for o in net(x)]
        ref_head = [o.asnumpy() for o in net.head(net(x)[0], rois)]
    export_model(net, tmp_path / "rfcn")
    meta = json.loads((tmp_path / "rfcn-meta.json").read_text())
    assert set(meta["graphs"]) == {"body", "head"} and meta["network"] == "rfcn"
    body = import_graph(tmp_path / "rfcn_body", ["data"])
    head = import_graph(tmp_path / "rfcn_head", ["feat", "rois"])
    out = body(x)
    assert len(out) == len(ref_body) == 4
    for a, b in zip(out, ref_body):
        np.testing.assert_allclose(a.asnumpy(), b, rtol=1e-5, atol=1e-5)
    for a, b in zip(head(out[0], rois), ref_head):
        np.testing.assert_allclose(a.asnumpy(), b, rtol=1e-5, atol=1e-5)
    mod = module_from_export(tmp_path / "rfcn_head", [("feat", out[0].shape), ("rois", rois.shape)])
    mod.forward(mx.io.DataBatch([out[0], rois]), is_train=False)
    for a, b in zip(mod.get_outputs(), ref_head):
        np.testing.assert_allclose(a.asnumpy(), b, rtol=1e-5, atol=1e-5)
    mod = module_from_export(tmp_path / "rfcn_body", [("data", x.shape)])
    mod.forward(mx.io.DataBatch([x]), is_train=False)
    for a, b in zip(mod.get_outputs(), ref_body):
        np.testing.assert_allclose(a.asnumpy(), b, rtol=1e-5, atol=1e-5)
    # the whole detector on the exported graphs
    im_info = mx.nd.array([[64, 96, 1.0]])
    params = detect_params(cfg)
    dets_ref = detect(net, x, im_info, params)
    dets = detect(ImportedRFCN(tmp_path / "rfcn"), x, im_info, params)
    assert len(dets_ref) > 0
    np.testing.assert_allclose(dets, dets_ref, rtol=1e-4, atol=1e-3)


def test_export_cli(tmp_path, capsys):
    from dcn.checkpoint.__main__ import main
    cfg_path = ROOT / "experiments/deeplab/cfgs/synthetic_deeplab_dcn.yaml"
    net = build_network(load_config(cfg_path))
    net.save_parameters(str(tmp_path / "ours-0001.params"))  # our training-checkpoint format
    assert main(["check", "--cfg", str(cfg_path), "--params", str(tmp_path / "ours-0001.params")]) == 0
    assert main(["export", "--cfg", str(cfg_path), "--params", str(tmp_path / "ours-0001.params"),
                 "--out", str(tmp_path / "exp" / "deeplab"), "--epoch", "1"]) == 0
    assert (tmp_path / "exp" / "deeplab-0001.params").is_file()
    assert main(["check", "--cfg", str(cfg_path), "--params", str(tmp_path / "exp" / "deeplab-0001.params")]) == 0
    with pytest.raises(SystemExit):
        main(["check", "--cfg", str(cfg_path)])  # --params is required
