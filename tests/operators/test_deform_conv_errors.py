"""Bad input gives an MXNetError naming the op and the argument, never a crash."""
import mxnet as mx
import numpy as np
import pytest
from mxnet.base import MXNetError

OP = "DeformableConvolution"
MOP = "ModulatedDeformableConvolution"


def arrays(N=1, C=4, H=6, W=7, F=4, taps=9, dg=1, Ho=6, Wo=7, dtype="float32", modulated=False):
    rng = np.random.RandomState(0)
    out = [mx.nd.array(rng.randn(N, C, H, W), dtype=dtype),
           mx.nd.array(rng.randn(N, 2 * dg * taps, Ho, Wo), dtype=dtype)]
    if modulated:
        out.append(mx.nd.array(rng.rand(N, dg * taps, Ho, Wo), dtype=dtype))
    out.append(mx.nd.array(rng.randn(F, C, 3, 3), dtype=dtype))
    return out


def raises(match_all, fn):
    with pytest.raises(MXNetError) as err:
        out = fn()
        if isinstance(out, mx.nd.NDArray):
            out.wait_to_read()
    msg = str(err.value)
    for part in match_all:
        assert part in msg, f"{part!r} not in error message:\n{msg}"
    return msg


KW = dict(kernel=(3, 3), pad=(1, 1), num_filter=4, no_bias=True)


def test_offset_channels():
    x, off, w = arrays(taps=4)
    raises([OP, "'offset'", "18"], lambda: mx.nd.DeformableConvolution(x, off, w, **KW))


def test_offset_spatial_size():
    x, off, w = arrays(Ho=5)
    raises([OP, "'offset'", "spatial"], lambda: mx.nd.DeformableConvolution(x, off, w, **KW))


def test_channels_not_divisible_by_group():
    x, off, w = arrays(C=5)
    raises([OP, "num_group"], lambda: mx.nd.DeformableConvolution(x, off, w, num_group=2, **KW))


def test_channels_not_divisible_by_deformable_group():
    x, off, w = arrays(C=5, dg=2)
    raises([OP, "num_deformable_group"],
           lambda: mx.nd.DeformableConvolution(x, off, w, num_deformable_group=2, **KW))


def test_num_filter_not_divisible_by_group():
    x, off, w = arrays(C=4, F=3)
    raises([OP, "num_filter", "num_group"],
           lambda: mx.nd.DeformableConvolution(x, off, w, **dict(KW, num_filter=3, num_group=2)))


def test_kernel_larger_than_padded_input():
    x, off, w = arrays(H=2, W=2, Ho=1, Wo=1)
    raises([OP, "kernel", "padded input"],
           lambda: mx.nd.DeformableConvolution(x, off, w, **dict(KW, pad=(0, 0))))


@pytest.mark.parametrize("shape", [(4, 6, 7), (1, 1, 4, 6, 7)])
def test_data_rank(shape):
    _, off, w = arrays()
    x = mx.nd.ones(shape)
    raises([OP, "'data'", "4-D"], lambda: mx.nd.DeformableConvolution(x, off, w, **KW))


@pytest.mark.parametrize("dtype", ["int32", "float16", "uint8"])
def test_unsupported_dtype(dtype):
    x, off, w = arrays(dtype=dtype)
    raises([OP, "dtype", dtype], lambda: mx.nd.DeformableConvolution(x, off, w, **KW))


def test_mixed_dtypes():
    x, off, w = arrays()
    raises([OP, "'offset'", "float64"],
           lambda: mx.nd.DeformableConvolution(x, off.astype("float64"), w, **KW))


def test_weight_shape():
    x, off, _ = arrays()
    w = mx.nd.ones((4, 3, 3, 3))
    raises([OP, "'weight'"], lambda: mx.nd.DeformableConvolution(x, off, w, **KW))


def test_mask_shape():
    x, off, mask, w = arrays(modulated=True)
    bad = mx.nd.ones((1, 8, 6, 7))
    raises([MOP, "'mask'", "9"], lambda: mx.nd.ModulatedDeformableConvolution(x, off, bad, w, **KW))


@pytest.mark.parametrize("attrs,words", [
    (dict(kernel=(3, 3, 3)), ["'kernel'", "2 elements"]),
    (dict(stride=(0, 1)), ["'stride'", ">= 1"]),
    (dict(layout="NHWC"), ["'layout'", "NCHW"]),
    (dict(border_rule="v3"), ["'border_rule'", "dcnv2"]),
    (dict(kernal=(3, 3)), ["unknown attribute 'kernal'"]),
    (dict(num_filter="x"), ["'num_filter'", "integer"]),
])
def test_bad_attributes(attrs, words):
    x, off, w = arrays()
    raises([OP] + words, lambda: mx.nd.DeformableConvolution(x, off, w, **dict(KW, **attrs)))


def test_missing_kernel():
    x, off, w = arrays()
    raises([OP, "'kernel'", "required"], lambda: mx.nd.DeformableConvolution(x, off, w, num_filter=4))


@pytest.mark.parametrize("op", ["DeformableConvolution", "ModulatedDeformableConvolution"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e30, -1e30])
def test_non_finite_and_huge_offsets_are_safe(op, bad):
    modulated = op == MOP
    ins = arrays(modulated=modulated, dtype="float64")
    off = ins[1].asnumpy()
    off[0, ::3, ::2, ::3] = bad  # every third offset channel, half the pixels
    ins[1] = mx.nd.array(off, dtype="float64")
    for a in ins:
        a.attach_grad()
    with mx.autograd.record():
        y = getattr(mx.nd, op)(*ins, **KW)
    y.backward(mx.nd.ones_like(y))
    assert np.isfinite(y.asnumpy()).all()
    for a in ins:
        assert np.isfinite(a.grad.asnumpy()).all()
    # Samples pushed out of the image contribute nothing, exactly as in contrib.
    ref = getattr(mx.nd.contrib, op)(*ins, **KW).asnumpy()
    np.testing.assert_allclose(y.asnumpy(), ref, rtol=1e-10, atol=1e-10)
