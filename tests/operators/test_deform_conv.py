"""DeformableConvolution against MXNet's contrib op and finite differences."""
import os
import subprocess
import sys
import zlib
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

import operators.library
from tests.conv_cases import ConvCase, assert_close, forward_backward
from tests.gradcheck import check_gradients

ROOT = Path(__file__).resolve().parents[2]

CASES = {
    "basic": ConvCase(),
    "stride2_dil2": ConvCase(H=13, W=12, stride=(2, 2), dilate=(2, 2), pad=(2, 2)),
    "rect_kernel": ConvCase(kernel=(3, 5), pad=(1, 2), dilate=(1, 2), H=8, W=14),
    "kernel1x1": ConvCase(kernel=(1, 1), pad=(0, 0), F=5),
    "groups": ConvCase(C=8, F=6, groups=2, dgroups=2),
    "dgroups4": ConvCase(C=8, F=4, dgroups=4, no_bias=True),
    "groups_ne_dgroups": ConvCase(C=12, F=8, groups=4, dgroups=3, stride=(2, 1)),
    "batch3": ConvCase(N=3, C=3, F=2, H=7, W=6),
    "far_offsets": ConvCase(offset_kind="far"),
    "integer_offsets": ConvCase(offset_kind="integer", pad=(0, 0)),
    "large_offsets": ConvCase(offset_scale=6.0, H=6, W=7),
    "asym_pad_stride": ConvCase(H=10, W=7, stride=(3, 2), pad=(0, 2), dilate=(1, 3)),
    # workspace=1 MB forces several pixel chunks per image.
    "chunked": ConvCase(N=2, C=64, F=8, H=40, W=36, workspace=1, no_bias=True),
    # 20 channels per deformable group: a full 16-channel vector run plus a
    # 4-channel tail in dX, 16-pixel vectors plus a tail in dOffset.
    "channel_runs": ConvCase(C=40, F=8, dgroups=2, H=9, W=11),
}


@pytest.mark.parametrize("dtype,rtol,atol", [("float64", 1e-10, 1e-10), ("float32", 1e-4, 2e-4)])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_contrib(name, dtype, rtol, atol):
    case = CASES[name]
    arrays = case.arrays(seed=zlib.crc32(name.encode()) % 1000, dtype=dtype)
    attrs = case.attrs()
    ours, g_ours, head = forward_backward(mx.nd.DeformableConvolution, arrays, attrs)
    contrib_attrs = {k: v for k, v in attrs.items()}
    ref, g_ref, _ = forward_backward(mx.nd.contrib.DeformableConvolution, arrays, contrib_attrs, head)
    assert np.abs(ref).max() > 0
    scale = max(1.0, np.abs(ref).max())
    assert_close(ours, ref, rtol, atol * scale, f"{name} forward")
    for k in g_ref:
        gscale = max(1.0, np.abs(g_ref[k]).max())
        assert_close(g_ours[k], g_ref[k], rtol, atol * gscale, f"{name} grad {k}")


def test_oracle_comparison_can_fail():
    """A wrong dilation must be caught by the same comparison."""
    case = CASES["basic"]
    arrays = case.arrays(seed=3, dtype="float64")
    attrs = case.attrs()
    ours = mx.nd.DeformableConvolution(*arrays.values(), **attrs).asnumpy()
    wrong = dict(attrs, dilate=(2, 2), pad=(2, 2))
    ref = mx.nd.contrib.DeformableConvolution(*arrays.values(), **wrong).asnumpy()
    assert np.abs(ours - ref).max() > 1e-3


@pytest.mark.parametrize("rule", ["dcnv1", "dcnv2"])
@pytest.mark.parametrize("name", ["basic", "groups_ne_dgroups", "stride2_dil2"])
def test_finite_differences(name, rule):
    case = ConvCase(**{**CASES[name].__dict__, "offset_kind": "interior", "N": 1})
    arrays = case.arrays(seed=7, dtype="float64")
    attrs = dict(case.attrs(), border_rule=rule)
    check_gradients(mx.nd.DeformableConvolution, arrays, attrs, seed=11)


def test_dcnv2_rule_matches_modulated_contrib_with_unit_mask():
    case = CASES["groups"]
    arrays = case.arrays(seed=5, dtype="float64", modulated=True)
    arrays["mask"] = mx.nd.ones_like(arrays["mask"])
    attrs = case.attrs()
    ref = mx.nd.contrib.ModulatedDeformableConvolution(*arrays.values(), **attrs).asnumpy()
    no_mask = [arrays[k] for k in ("data", "offset", "weight", "bias")]
    ours = mx.nd.DeformableConvolution(*no_mask, border_rule="dcnv2", **attrs).asnumpy()
    assert_close(ours, ref, 1e-10, 1e-10)
    v1 = mx.nd.DeformableConvolution(*no_mask, **attrs).asnumpy()
    assert np.abs(v1 - ref).max() > 1e-3, "the two border rules must differ at the border"


def test_backward_is_deterministic():
    case = CASES["chunked"]
    arrays = case.arrays(seed=2, dtype="float32")
    _, g1, head = forward_backward(mx.nd.DeformableConvolution, arrays, case.attrs())
    _, g2, _ = forward_backward(mx.nd.DeformableConvolution, arrays, case.attrs(), head)
    for k in g1:
        assert np.array_equal(g1[k], g2[k]), k


def test_symbol_api_and_shape_inference():
    data = mx.sym.Variable("data")
    offset = mx.sym.Variable("offset")
    weight = mx.sym.Variable("weight")
    y = mx.sym.DeformableConvolution(data, offset, weight, kernel=(3, 3), pad=(2, 2), dilate=(2, 2),
                                     num_filter=7, no_bias=True)
    arg_shapes, out_shapes, _ = y.infer_shape(data=(2, 5, 10, 12), offset=(2, 18, 10, 12))
    assert out_shapes == [(2, 7, 10, 12)]
    assert arg_shapes[2] == (7, 5, 3, 3)


@pytest.mark.parametrize("dnnl", ["default", "none"])
def test_float_gemm_backends_match_contrib(dnnl):
    """float32 GEMMs run on oneDNN (sgemm, and the matmul primitive for dW) when
    libdnnl is installed, else on OpenBLAS: both paths, in fresh processes, pass
    test_matches_contrib (groups; several pixel chunks, so dW accumulates)."""
    code = ("import operators\n"
            "operators.load()\n"
            "from operators.library import gemm_backend\n"
            "from tests.operators.test_deform_conv import test_matches_contrib\n"
            "for name in ('groups', 'chunked'):\n"
            "    test_matches_contrib(name, 'float32', 1e-4, 2e-4)\n"
            "print('backend', gemm_backend())\n")
    env = dict(os.environ)
    env.pop("DCN_DNNL_LIBRARY", None)
    if dnnl == "none":
        env["DCN_DNNL_LIBRARY"] = "none"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    expected = "openblas" if dnnl == "none" else operators.library.gemm_backend()
    assert f"backend {expected}" in out.stdout, out.stdout
