"""ModulatedDeformableConvolution (DCNv2): forward vs contrib, backward vs finite differences."""
import mxnet as mx
import numpy as np
import pytest

from tests.conv_cases import ConvCase, assert_close, forward_backward
from tests.gradcheck import check_gradients

CASES = {
    "basic": ConvCase(),
    "groups_dgroups": ConvCase(C=8, F=4, groups=2, dgroups=4, stride=(2, 1)),
    "dilated_rect": ConvCase(kernel=(3, 2), dilate=(2, 1), pad=(2, 1), no_bias=True),
    "far": ConvCase(offset_kind="far"),
    "integer": ConvCase(offset_kind="integer"),
}


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-4)])
@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_contrib(name, dtype, tol):
    case = CASES[name]
    arrays = case.arrays(seed=len(name), dtype=dtype, modulated=True)
    attrs = case.attrs()
    ours = mx.nd.ModulatedDeformableConvolution(*arrays.values(), **attrs).asnumpy()
    ref = mx.nd.contrib.ModulatedDeformableConvolution(*arrays.values(), **attrs).asnumpy()
    assert np.abs(ref).max() > 0
    assert_close(ours, ref, tol, tol * max(1.0, np.abs(ref).max()), name)


@pytest.mark.parametrize("name", ["basic", "groups_dgroups", "dilated_rect"])
def test_backward_matches_finite_differences(name):
    # Sample points kept off the integer grid (bilinear kinks); DCNv2 is
    # continuous at the border, so border samples are fine.
    case = ConvCase(**{**CASES[name].__dict__, "offset_kind": "interior", "N": 1})
    arrays = case.arrays(seed=3, dtype="float64", modulated=True)
    check_gradients(mx.nd.ModulatedDeformableConvolution, arrays, case.attrs(), seed=4)


def test_unit_mask_equals_dcnv2_rule_gradients():
    """With mask 1 the modulated op and the v1 op with border_rule='dcnv2' agree, gradients included."""
    case = CASES["groups_dgroups"]
    arrays = case.arrays(seed=9, dtype="float64", modulated=True)
    arrays["mask"] = mx.nd.ones_like(arrays["mask"])
    y1, g1, head = forward_backward(mx.nd.ModulatedDeformableConvolution, arrays, case.attrs())
    plain = {k: v for k, v in arrays.items() if k != "mask"}
    y2, g2, _ = forward_backward(mx.nd.DeformableConvolution, plain,
                                 dict(case.attrs(), border_rule="dcnv2"), head)
    assert_close(y1, y2, 1e-12, 1e-12)
    for k in g2:
        assert_close(g1[k], g2[k], 1e-10, 1e-10, k)
