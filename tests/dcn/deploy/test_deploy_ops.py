"""Our operators as standard ONNX ops (dcn.deploy.deform_ops) in ONNX Runtime vs the MXNet ops."""
from __future__ import annotations

import numpy as np
import pytest

from tests.deploy_cases import needs_onnx, needs_openvino, run_ort, value_info

pytestmark = needs_onnx


@pytest.fixture(scope="module")
def mx():
    import mxnet
    import operators
    operators.load()
    return mxnet


CONV_CASES = [  # kernel, stride, pad, dilate, groups, deformable groups, modulated, border rule
    (3, 1, 1, 1, 1, 1, False, "dcnv1"), (3, 2, 2, 2, 2, 2, False, "dcnv1"), (1, 1, 0, 1, 1, 1, False, "dcnv1"),
    (3, 1, 1, 1, 1, 2, False, "dcnv2"), (3, 1, 1, 1, 1, 2, True, "dcnv2")]


@pytest.mark.parametrize("case", CONV_CASES)
def test_deform_conv(mx, case):
    from dcn.deploy.deform_ops import ConvAttrs, deform_conv
    from dcn.deploy.graph import GraphBuilder
    k, s, p, d, grp, dg, modulated, rule = case
    rng = np.random.default_rng(0)
    n, c, h, w, f = 2, 4, 7, 9, 6
    ho, wo = (h + 2 * p - d * (k - 1) - 1) // s + 1, (w + 2 * p - d * (k - 1) - 1) // s + 1
    x = rng.normal(size=(n, c, h, w)).astype("f4")
    off = rng.normal(0, 3, (n, 2 * dg * k * k, ho, wo)).astype("f4")  # many taps outside the map
    mask = rng.uniform(0, 2, (n, dg * k * k, ho, wo)).astype("f4")
    weight, bias = rng.normal(size=(f, c // grp, k, k)).astype("f4"), rng.normal(size=f).astype("f4")
    kw = dict(kernel=(k, k), stride=(s, s), pad=(p, p), dilate=(d, d), num_filter=f, num_group=grp,
              num_deformable_group=dg, no_bias=False)
    a = [mx.nd.array(v) for v in (x, off, mask, weight, bias)]
    ref = (mx.nd.ModulatedDeformableConvolution(*a, **kw) if modulated else
           mx.nd.DeformableConvolution(a[0], a[1], a[3], a[4], border_rule=rule, **kw)).asnumpy()
    feeds = {"x": x, "off": off, **({"mask": mask} if modulated else {})}
    for emulate in ([True, False] if rule == "dcnv1" else [False]):
        g = GraphBuilder()
        y = deform_conv(g, "x", "off", g.const(weight, "w"), g.const(bias, "b"), "mask" if modulated else None,
                        ConvAttrs((k, k), (s, s), (p, p), (d, d), grp, dg), emulate_v1=emulate)
        out = run_ort(g.model([value_info(nm, 4) for nm in feeds], [value_info(y, 4)]), feeds)
        err = np.abs(out - ref).max()
        if emulate or rule == "dcnv2":
            assert err < 1e-5, (case, emulate, err)  # measured <= 1.7e-6
        else:  # ONNX's own zero-padded rule on a v1 op: differs where taps fall within a pixel outside
            assert err > 1e-2, (case, err)


PSROI_CASES = [  # pooled, group, part, samples per part, output_dim, offset classes, no_trans
    (7, 7, 7, 4, 3, 1, False), (4, 2, 3, 2, 4, 2, False), (3, 2, 3, 3, 2, 1, False), (7, 1, 7, 4, 5, 1, False),
    (7, 7, 7, 4, 2, 1, True), (2, 2, 5, 1, 2, 2, False)]


@pytest.mark.parametrize("impl", ["gather", "gridsample"])
@pytest.mark.parametrize("case", PSROI_CASES)
def test_deformable_psroi_pooling(mx, case, impl):
    from dcn.deploy.deform_ops import PSROIAttrs, psroi_pool
    from dcn.deploy.graph import GraphBuilder
    P, G, Q, spp, od, ncls, no_trans = case
    rng = np.random.default_rng(1)
    h, w, r = 9, 11, 16
    data = rng.normal(size=(1, od * G * G, h, w)).astype("f4")
    x1, y1 = rng.uniform(-40, 150, r), rng.uniform(-40, 120, r)  # partly or wholly outside the 176 x 144 map
    rois = np.stack([np.zeros(r), x1, y1, x1 + rng.uniform(0, 100, r), y1 + rng.uniform(0, 90, r)], 1).astype("f4")
    rois[0, 1:] = [10.5, 2.5, 30.5, 20.5]  # halves: C round (away from zero), not ONNX Round (to even)
    rois[1, 1:] = [-3.5, -0.5, 2.5, 1.5]
    trans = rng.normal(size=(r, 2 * ncls, Q, Q)).astype("f4")
    kw = dict(spatial_scale=0.0625, output_dim=od, group_size=G, pooled_size=P, part_size=Q,
              sample_per_part=spp, trans_std=0.1, no_trans=no_trans)
    feeds = {"data": data, "rois": rois, **({} if no_trans else {"trans": trans})}
    ref = mx.nd.DeformablePSROIPooling(*[mx.nd.array(v) for v in feeds.values()], **kw).asnumpy()
    g = GraphBuilder()
    y = psroi_pool(g, "data", "rois", None if no_trans else "trans", PSROIAttrs(**kw), ncls, impl=impl)
    out = run_ort(g.model([value_info(nm, v.ndim) for nm, v in feeds.items()], [value_info(y, 4)]), feeds)
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < 1e-5  # measured <= 7.2e-7


def test_roi_pooling_as_max_roi_pool(mx):
    """The plain Faster R-CNN baseline's ROIPooling -> ONNX MaxRoiPool (Caffe's rule, as MXNet's)."""
    import json
    from dcn.deploy.convert import convert_symbol
    rng = np.random.default_rng(3)
    data = rng.normal(size=(1, 4, 12, 14)).astype("f4")
    rois = np.array([[0, 0, 0, 100, 80], [0, 30.4, 10.6, 200, 150], [0, -20, -5, 10, 7], [0, 50, 50, 50, 50]], "f4")
    sym = mx.sym.ROIPooling(mx.sym.var("data"), mx.sym.var("rois"), pooled_size=(3, 4), spatial_scale=0.0625)
    ref = mx.nd.ROIPooling(mx.nd.array(data), mx.nd.array(rois), pooled_size=(3, 4), spatial_scale=0.0625).asnumpy()
    model = convert_symbol(json.loads(sym.tojson()), {}, {"data": (1, 4, "h", "w"), "rois": ("r", 5)})
    out = run_ort(model, {"data": data, "rois": rois})
    np.testing.assert_allclose(out, ref, atol=1e-6)


def test_unsupported_op_names_op_and_node(mx):
    import json
    from dcn.deploy.convert import UnsupportedOpError, convert_symbol
    sym = mx.sym.topk(mx.sym.var("data"), k=2, name="my_topk")
    with pytest.raises(UnsupportedOpError, match=r"topk node 'my_topk': no ONNX translation for MXNet op 'topk'"):
        convert_symbol(json.loads(sym.tojson()), {}, {"data": (1, 4)})
    sym = mx.sym.LeakyReLU(mx.sym.var("data"), act_type="elu", name="act9")
    with pytest.raises(UnsupportedOpError, match=r"LeakyReLU node 'act9': act_type 'elu'"):
        convert_symbol(json.loads(sym.tojson()), {}, {"data": (1, 4)})


@pytest.mark.parametrize("pooled, group", [(7, 7), (3, 3), (4, 2)])
def test_plain_psroi_pooling(mx, pooled, group):
    """The plain R-FCN baseline's _contrib_PSROIPooling (integer cells, summed-area table) vs MXNet."""
    import json
    from dcn.deploy.convert import convert_symbol
    rng = np.random.default_rng(4)
    od, r = 3, 20
    data = rng.normal(0, 50, (1, od * group * group, 13, 17)).astype("f4")
    x1, y1 = rng.uniform(-40, 250, r), rng.uniform(-40, 200, r)
    rois = np.stack([np.zeros(r), x1, y1, x1 + rng.uniform(0, 120, r), y1 + rng.uniform(0, 120, r)], 1).astype("f4")
    rois[0, 1:] = [10.5, 2.5, 30.5, 20.5]
    kw = dict(spatial_scale=0.0625, output_dim=od, pooled_size=pooled, group_size=group)
    sym = mx.sym.contrib.PSROIPooling(mx.sym.var("data"), mx.sym.var("rois"), **kw)
    ref = mx.nd.contrib.PSROIPooling(mx.nd.array(data), mx.nd.array(rois), **kw).asnumpy()
    model = convert_symbol(json.loads(sym.tojson()), {}, {"data": (1, data.shape[1], "h", "w"), "rois": ("r", 5)})
    out = run_ort(model, {"data": data, "rois": rois})
    assert (ref == 0).any()  # some bins outside the map
    np.testing.assert_allclose(out, ref, atol=1e-4)


@needs_openvino
@pytest.mark.parametrize("bias, mask", [(True, True), (False, False), (True, False)])
def test_openvino_deform_conv_extension(tmp_path, bias, mask):
    """OpenVINO reads DeformConv-19 through dcn.deploy.openvino_ext (with or without bias / mask) = ORT."""
    import onnx
    from dcn.deploy.deform_ops import ConvAttrs, deform_conv
    from dcn.deploy.graph import GraphBuilder
    from dcn.deploy.runtime import open_session
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1, 4, 7, 9)).astype("f4")
    off = rng.normal(0, 2, (1, 2 * 2 * 9, 4, 5)).astype("f4")
    m = rng.uniform(0, 2, (1, 2 * 9, 4, 5)).astype("f4")
    g = GraphBuilder()
    y = deform_conv(g, "x", "off", g.const(rng.normal(size=(6, 2, 3, 3)), "w"),
                    g.const(rng.normal(size=6), "b") if bias else None, "mask" if mask else None,
                    ConvAttrs((3, 3), (2, 2), (1, 1), (1, 1), groups=2, deformable_groups=2), emulate_v1=False)
    feeds = {"x": x, "off": off, **({"mask": m} if mask else {})}
    onnx.save(g.model([value_info(n, 4) for n in feeds], [value_info(y, 4)]), str(tmp_path / "dc.onnx"))
    ref = open_session(tmp_path / "dc.onnx")(feeds)[0]
    out = open_session(tmp_path / "dc.onnx", "openvino")(feeds)[0]
    assert np.abs(out - ref).max() < 1e-4 * max(1.0, np.abs(ref).max())
