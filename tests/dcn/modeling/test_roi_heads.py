"""Deformable (PS) RoI pooling heads: start as plain pooling, match the contrib op,
hybridize, export/import, accumulate gradients with grad_req='add'."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import mxnet as mx
import numpy as np
import pytest

from dcn.modeling.roi_heads import DeformablePSROIHead, DeformableRoIPoolingHead

C_IN, H, W, R = 8, 12, 14, 6


def feature(seed: int = 0, n: int = 2) -> mx.nd.NDArray:
    return mx.nd.array(np.random.RandomState(seed).randn(n, C_IN, H, W))


def rois(seed: int = 1, n_img: int = 2) -> mx.nd.NDArray:
    rng = np.random.RandomState(seed)
    x1, y1 = rng.uniform(-20, 16 * W * 0.7, R), rng.uniform(-20, 16 * H * 0.7, R)
    x2, y2 = x1 + rng.uniform(8, 120, R), y1 + rng.uniform(8, 120, R)
    return mx.nd.array(np.stack([rng.randint(0, n_img, R), x1, y1, x2, y2], 1))


def psroi_head(**kw) -> DeformablePSROIHead:
    kw.setdefault("prefix", "rfcn_cls_")
    head = DeformablePSROIHead(kw.pop("output_dim", 3), kw.pop("num_offset_classes", 3), in_channels=C_IN, **kw)
    head.initialize(mx.init.Normal(0.1))
    return head


def roi_head(**kw) -> DeformableRoIPoolingHead:
    head = DeformableRoIPoolingHead(C_IN, fc_hidden=16, **kw)
    head.initialize(mx.init.Normal(0.1))
    return head


def randomize_offsets(head, scale: float, seed: int = 3) -> None:
    rng = np.random.RandomState(seed)
    for p in head.offset.collect_params().values():
        p.set_data(mx.nd.array(rng.randn(*p.shape) * scale))


def copy_params(src, dst) -> None:
    for (n, p), (m, q) in zip(sorted(src.collect_params().items()), sorted(dst.collect_params().items())):
        assert n == m
        q.set_data(p.data())


def run(head, x, r, seed: int = 0):
    """Output and gradients of sum(out * random) w.r.t. the feature and every parameter."""
    x = x.copy()
    x.attach_grad()
    with mx.autograd.record():
        y = head(x, r)
    y.backward(mx.nd.array(np.random.RandomState(seed).randn(*y.shape)))
    grads = {n: p.grad().asnumpy() for n, p in head.collect_params().items() if p.grad_req != "null"}
    grads["feature"] = x.grad.asnumpy()
    return y.asnumpy(), grads


def test_parameter_names_init_and_lr_mult() -> None:
    cls = psroi_head()
    params = cls.collect_params()
    assert set(params) == {"rfcn_cls_weight", "rfcn_cls_bias", "rfcn_cls_offset_t_weight", "rfcn_cls_offset_t_bias"}
    assert params["rfcn_cls_weight"].shape == (49 * 3, C_IN, 1, 1)
    assert params["rfcn_cls_offset_t_weight"].shape == (2 * 49 * 3, C_IN, 1, 1)
    assert not np.any(params["rfcn_cls_offset_t_weight"].data().asnumpy())
    box = DeformablePSROIHead(8, 1, prefix="rfcn_bbox_", in_channels=C_IN)
    assert box.collect_params()["rfcn_bbox_offset_t_weight"].shape == (2 * 49, C_IN, 1, 1)

    fc = roi_head()
    params = fc.collect_params()
    assert set(params) == {"offset_weight", "offset_bias", "fc_new_1_weight", "fc_new_1_bias",
                           "fc_new_2_weight", "fc_new_2_bias"}
    assert params["offset_weight"].shape == (98, C_IN * 49)
    assert params["offset_weight"].lr_mult == params["offset_bias"].lr_mult == 0.01
    assert not np.any(params["offset_weight"].data().asnumpy())
    with pytest.raises(ValueError, match="divisible"):
        DeformablePSROIHead(10, 4)


def test_psroi_head_starts_as_plain_ps_pooling() -> None:
    x, r = feature(), rois()
    head, plain = psroi_head(), psroi_head(deformable=False, prefix="plain_")
    for name in ("weight", "bias"):
        plain.collect_params()[f"plain_{name}"].set_data(head.collect_params()[f"rfcn_cls_{name}"].data())
    y = head(x, r)
    assert y.shape == (R, 3, 7, 7)
    np.testing.assert_array_equal(y.asnumpy(), plain(x, r).asnumpy())
    assert not np.any(head.offsets(mx.nd, x, r).asnumpy())


def test_roi_head_starts_as_plain_bilinear_roi_pooling() -> None:
    x, r = feature(), rois()
    head = roi_head()
    pooled = head.pooled(mx.nd, x, r).asnumpy()
    plain = mx.nd.DeformablePSROIPooling(x, r, no_trans=True, spatial_scale=1 / 16, output_dim=C_IN, group_size=1,
                                         pooled_size=7, sample_per_part=4).asnumpy()
    np.testing.assert_array_equal(pooled, plain)
    assert head(x, r).shape == (R, 16)
    baseline = roi_head(deformable=False)
    assert baseline(x, r).shape == (R, 16)
    assert "offset_weight" not in baseline.collect_params()


@pytest.mark.parametrize("hybridize", [False, True])
@pytest.mark.parametrize("kind", ["psroi_class", "psroi_box", "roi"])
def test_matches_contrib_operator(kind: str, hybridize: bool) -> None:
    """The same head on MXNet's contrib op (reference_impl) gives the same outputs and gradients."""
    if kind == "roi":
        make = lambda **kw: roi_head(**kw)  # noqa: E731
        scale = 0.02  # offsets of a few tenths after trans_std
    else:
        dims = (3, 3) if kind == "psroi_class" else (8, 1)
        make = lambda **kw: psroi_head(output_dim=dims[0], num_offset_classes=dims[1], **kw)  # noqa: E731
        scale = 0.5
    ours, ref = make(), make(reference_impl=True)
    randomize_offsets(ours, scale)
    copy_params(ours, ref)
    if hybridize:
        ours.hybridize()
        ref.hybridize()
    x, r = feature(4), rois(5)
    trans = ours.offsets(mx.nd, x, r).asnumpy()
    assert 0.05 < np.abs(trans).max() < 20, "the offsets must be exercised"
    y, g = run(ours, x, r)
    y_ref, g_ref = run(ref, x, r)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)
    for k in g_ref:
        scale = max(1.0, np.abs(g_ref[k]).max())
        np.testing.assert_allclose(g[k], g_ref[k], rtol=1e-4, atol=1e-5 * scale, err_msg=k)
    assert np.any(g["feature"]) and all(np.any(v) for k, v in g.items() if "offset" in k)


@pytest.mark.parametrize("kind", ["psroi", "roi"])
def test_grad_req_add_accumulates(kind: str) -> None:
    head = psroi_head() if kind == "psroi" else roi_head()
    randomize_offsets(head, 0.3 if kind == "psroi" else 0.02)
    x, r = feature(), rois()
    _, once = run(head, x, r)
    head.collect_params().setattr("grad_req", "add")
    head.collect_params().zero_grad()
    xa = x.copy()
    xa.attach_grad(grad_req="add")
    for _ in range(2):
        with mx.autograd.record():
            y = head(xa, r)
        y.backward(mx.nd.array(np.random.RandomState(0).randn(*y.shape)))
    for n, p in head.collect_params().items():
        np.testing.assert_allclose(p.grad().asnumpy(), 2 * once[n], rtol=1e-5, atol=1e-6, err_msg=n)
    np.testing.assert_allclose(xa.grad.asnumpy(), 2 * once["feature"], rtol=1e-5, atol=1e-6)


def test_export_and_import_in_a_fresh_process(tmp_path) -> None:
    x, r = feature(7), rois(8)
    np.save(tmp_path / "x.npy", x.asnumpy())
    np.save(tmp_path / "r.npy", r.asnumpy())
    for name, head, scale in [("psroi", psroi_head(), 0.5), ("roi", roi_head(), 0.02)]:
        randomize_offsets(head, scale)
        head.hybridize()
        np.save(tmp_path / f"{name}.npy", head(x, r).asnumpy())
        head.export(str(tmp_path / name))
    script = textwrap.dedent(f"""
        import mxnet as mx, numpy as np
        import operators
        operators.load()
        x, r = mx.nd.array(np.load("{tmp_path}/x.npy")), mx.nd.array(np.load("{tmp_path}/r.npy"))
        for name in ("psroi", "roi"):
            block = mx.gluon.SymbolBlock.imports("{tmp_path}/" + name + "-symbol.json", ["data0", "data1"],
                                                 "{tmp_path}/" + name + "-0000.params")
            np.testing.assert_allclose(block(x, r).asnumpy(), np.load("{tmp_path}/" + name + ".npy"),
                                       rtol=1e-6, atol=1e-6)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]
