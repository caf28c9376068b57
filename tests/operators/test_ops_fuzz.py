"""Seeded fuzzing of the operators' attributes and shapes: thousands of calls, valid and invalid mixed.

Every call either returns a result equal to MXNet's contrib op (the oracle, called only on problems our op
accepted, because contrib itself may crash on bad input) or raises an ``MXNetError`` that names the op. A crash
of the process fails the whole run. Symbolic shape inference is fuzzed too, including attributes that
overflow 32-bit integers.
"""
import mxnet as mx
import numpy as np
import pytest
from mxnet.base import MXNetError

N_CONV, N_PSROI, N_SYMBOLIC = 1500, 800, 1500


def _choice(rng, values):
    return values[rng.integers(len(values))]


def _conv_problem(rng):
    """Mostly plausible, sometimes wrong: each attribute or shape is off with a small probability."""
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    attrs = dict(kernel=(kh, kw), stride=(int(rng.integers(1, 3)), int(rng.integers(1, 3))),
                 dilate=(int(rng.integers(1, 3)), int(rng.integers(1, 3))),
                 pad=(int(rng.integers(0, 3)), int(rng.integers(0, 3))),
                 num_group=int(_choice(rng, [1, 1, 2])), num_deformable_group=int(_choice(rng, [1, 1, 2])),
                 no_bias=bool(rng.integers(2)))
    C = attrs["num_group"] * attrs["num_deformable_group"] * int(rng.integers(1, 3))
    F = attrs["num_group"] * int(rng.integers(1, 4))
    attrs["num_filter"] = F
    N, H, W = int(rng.integers(1, 3)), int(rng.integers(1, 9)), int(rng.integers(1, 9))
    bad = rng.random() < 0.35
    if bad:  # one thing wrong
        what = int(rng.integers(9))
        if what == 0:
            attrs["stride"] = (0, 1)
        elif what == 1:
            attrs["pad"] = (-1, 0)
        elif what == 2:
            attrs["dilate"] = (0, 2)
        elif what == 3:
            attrs["kernel"] = (kh, kw, 1)
        elif what == 4:
            attrs["num_filter"] = F + 1 if attrs["num_group"] > 1 else 0
        elif what == 5:
            C += 1
        elif what == 6:
            attrs["kernel"] = (H + 2 * attrs["pad"][0] + 3, kw)
        elif what == 7:
            attrs["num_deformable_group"] = 0
        else:
            attrs["pad"] = (2 ** 31, 0)
    ho = (H + 2 * max(attrs["pad"][0], 0) - (max(attrs["dilate"][0], 1) * (attrs["kernel"][0] - 1) + 1)) \
        // max(attrs["stride"][0], 1) + 1
    wo = (W + 2 * max(attrs["pad"][1], 0) - (max(attrs["dilate"][1], 1) * (kw - 1) + 1)) \
        // max(attrs["stride"][1], 1) + 1
    ho, wo = max(ho, 1), max(wo, 1)
    off_c = 2 * max(attrs["num_deformable_group"], 1) * kh * kw
    if rng.random() < 0.08:
        off_c += 1
    if rng.random() < 0.05:
        ho += 1
    if ho * wo > 4096:  # keep every call small (an oracle call on a huge map would only be slow)
        ho = wo = 1
    data = rng.normal(size=(N, C, H, W))
    offset = rng.uniform(-2, 2, size=(N, off_c, ho, wo))
    weight = rng.normal(size=(F if F > 0 else 1, max(C // max(attrs["num_group"], 1), 1), kh, kw))
    ins = [data, offset, weight] + ([] if attrs["no_bias"] else [rng.normal(size=(weight.shape[0],))])
    return [mx.nd.array(a, dtype="float64") for a in ins], attrs


def _run(fn):
    out = fn()
    out.wait_to_read()
    return out.asnumpy()


def test_deformable_convolution_fuzz():
    rng = np.random.default_rng(20261202)
    accepted = refused = 0
    for i in range(N_CONV):
        ins, attrs = _conv_problem(rng)
        try:
            ours = _run(lambda: mx.nd.DeformableConvolution(*ins, **attrs))
        except MXNetError as err:
            assert "DeformableConvolution" in str(err), (i, attrs, str(err)[:300])
            refused += 1
            continue
        accepted += 1
        try:
            ref = _run(lambda: mx.nd.contrib.DeformableConvolution(*ins, **attrs))
        except MXNetError:  # a problem only our op accepts: nothing to compare
            continue
        np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9, err_msg=f"call {i}: {attrs}")
    assert accepted > N_CONV // 3 and refused > N_CONV // 10, (accepted, refused)


def test_deformable_psroi_pooling_fuzz():
    rng = np.random.default_rng(7)
    accepted = refused = 0
    for i in range(N_PSROI):
        group = int(rng.integers(1, 4))
        pooled = group if rng.random() < 0.8 else int(rng.integers(1, 5))
        out_dim = int(rng.integers(1, 4))
        part = int(_choice(rng, [0, pooled, pooled, int(rng.integers(1, 5))]))
        no_trans = bool(rng.integers(2))
        attrs = dict(spatial_scale=float(_choice(rng, [0.0625, 0.125, 0.5, 1.0])), output_dim=out_dim,
                     group_size=group, pooled_size=pooled, part_size=part,
                     sample_per_part=int(rng.integers(1, 4)), trans_std=float(_choice(rng, [0.0, 0.1])),
                     no_trans=no_trans)
        if rng.random() < 0.1:
            attrs[_choice(rng, ["group_size", "pooled_size", "output_dim", "sample_per_part"])] = int(
                _choice(rng, [0, -1, 2 ** 31, 300]))
        N, H, W = int(rng.integers(1, 3)), int(rng.integers(1, 12)), int(rng.integers(1, 12))
        C = out_dim * group * group + (1 if rng.random() < 0.08 else 0)
        R = int(rng.integers(1, 5))
        x1, y1 = rng.uniform(-8, 40, R), rng.uniform(-8, 40, R)
        rois = np.stack([rng.integers(0, N, R), x1, y1, x1 + rng.uniform(-2, 30, R), y1 + rng.uniform(-2, 30, R)], 1)
        ins = [rng.normal(size=(N, C, H, W)), rois]
        if not no_trans:
            p = part if part > 0 else pooled
            ins.append(rng.normal(size=(R, 2 * (1 if rng.random() < 0.7 else out_dim), max(p, 1), max(p, 1))))
        ins = [mx.nd.array(a, dtype="float64") for a in ins]
        try:
            ours = _run(lambda: mx.nd.DeformablePSROIPooling(*ins, **attrs))
        except MXNetError as err:
            assert "DeformablePSROIPooling" in str(err), (i, attrs, str(err)[:300])
            refused += 1
            continue
        accepted += 1
        try:
            ref = _run(lambda: mx.nd.contrib.DeformablePSROIPooling(*ins, **attrs))
        except MXNetError:
            continue
        np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9, err_msg=f"call {i}: {attrs}")
    assert accepted > N_PSROI // 3 and refused > N_PSROI // 20, (accepted, refused)


def test_symbolic_shape_inference_fuzz():
    """infer_shape returns the contrib op's shape or raises; huge attributes never wrap around."""
    rng = np.random.default_rng(11)
    big = [2 ** 31, 2 ** 31 - 1, 2 ** 32 + 3, 10 ** 20, -(2 ** 31) - 1]
    for i in range(N_SYMBOLIC):
        _, attrs = _conv_problem(rng)
        if rng.random() < 0.3:
            key = _choice(rng, ["pad", "stride", "dilate", "kernel", "num_filter"])
            v = int(_choice(rng, big))
            attrs[key] = v if key == "num_filter" else (v, 1)
        H, W = int(rng.integers(1, 64)), int(rng.integers(1, 64))
        C = max(attrs["num_group"], 1) * max(attrs["num_deformable_group"], 1)
        try:  # attributes are parsed when the symbol is made, shapes when inferred
            sym = mx.sym.DeformableConvolution(mx.sym.var("data"), mx.sym.var("offset"), mx.sym.var("weight"),
                                               **{**attrs, "no_bias": True})
            _, out, _ = sym.infer_shape_partial(data=(1, C, H, W))
        except MXNetError as err:
            assert "DeformableConvolution" in str(err), (i, attrs, str(err)[:300])
            continue
        if not out or not out[0]:
            continue
        ho, wo = out[0][2], out[0][3]
        k, s, d, p = attrs["kernel"], attrs["stride"], attrs["dilate"], attrs["pad"]
        exp_h = (H + 2 * p[0] - (d[0] * (k[0] - 1) + 1)) // s[0] + 1
        exp_w = (W + 2 * p[1] - (d[1] * (k[1] - 1) + 1)) // s[1] + 1
        assert (ho, wo) == (exp_h, exp_w), (i, attrs, out)


@pytest.mark.parametrize("attrs,words", [
    (dict(pad=(2 ** 31, 0)), ["'pad'", "out of range"]),
    (dict(pad=(2 ** 31 - 1, 1)), ["output plane", "too large"]),
    (dict(num_filter=2 ** 33), ["'num_filter'", "out of range"]),
    (dict(kernel=(10 ** 20, 3)), ["'kernel'", "out of range"]),
    (dict(stride=(-(2 ** 40), 1)), ["'stride'", "out of range"]),
])
def test_overflowing_attributes_are_refused(attrs, words):
    kw = dict(kernel=(3, 3), pad=(1, 1), num_filter=4, no_bias=True)
    kw.update(attrs)
    with pytest.raises(MXNetError) as err:
        sym = mx.sym.DeformableConvolution(mx.sym.var("data"), mx.sym.var("offset"), mx.sym.var("weight"), **kw)
        sym.infer_shape(data=(1, 4, 8, 8))
    for w in ["DeformableConvolution"] + words:
        assert w in str(err.value), str(err.value)[:500]


def test_each_error_message_holds_only_its_own_failure():
    """lib_api kept every earlier message, so the second mistake's error began with the first one's text."""
    x, off, w = mx.nd.ones((1, 4, 6, 6)), mx.nd.ones((1, 18, 6, 6)), mx.nd.ones((4, 4, 3, 3))
    with pytest.raises(MXNetError, match="'stride'"):
        mx.nd.DeformableConvolution(x, off, w, kernel=(3, 3), pad=(1, 1), num_filter=4, no_bias=True,
                                    stride=(0, 1)).wait_to_read()
    with pytest.raises(MXNetError) as err:
        mx.nd.DeformableConvolution(x, off, w, kernel=(3, 3), pad=(1, 1), num_filter=4, no_bias=True,
                                    dilate=(0, 1)).wait_to_read()
    assert "'dilate'" in str(err.value) and "'stride'" not in str(err.value), str(err.value)
