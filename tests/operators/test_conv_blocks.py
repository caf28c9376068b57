"""Gluon blocks: zero-initialised offsets, hybridize, export/import, grad_req='add'."""
import subprocess
import sys
import textwrap

import mxnet as mx
import numpy as np
import pytest

from operators.blocks import DeformableConv2D, ModulatedDeformableConv2D

BLOCKS = [DeformableConv2D, ModulatedDeformableConv2D]


def make(cls, **kw):
    net = cls(6, kernel_size=3, padding=2, dilation=2, num_deformable_group=2, use_bias=True, in_channels=4,
              prefix="res5a_branch2b_", **kw)
    net.initialize(mx.init.Xavier())
    return net


def data(seed=0, shape=(2, 4, 9, 10)):
    return mx.nd.array(np.random.RandomState(seed).randn(*shape))


@pytest.mark.parametrize("cls", BLOCKS)
def test_starts_as_regular_convolution(cls):
    net = make(cls)
    x = data()
    y = net(x)
    w, b = net.weight.data(), net.bias.data()
    ref = mx.nd.Convolution(x, w, b, kernel=(3, 3), pad=(2, 2), dilate=(2, 2), num_filter=6)
    np.testing.assert_allclose(y.asnumpy(), ref.asnumpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", BLOCKS)
def test_parameter_names_and_offset_lr_mult(cls):
    net = cls(8, in_channels=4, num_deformable_group=4, offset_lr_mult=0.1, prefix="res5a_branch2b_")
    params = net.collect_params()
    assert "res5a_branch2b_weight" in params
    assert params["res5a_branch2b_offset_weight"].lr_mult == 0.1
    per_tap = 3 if cls is ModulatedDeformableConv2D else 2
    assert params["res5a_branch2b_offset_weight"].shape == (per_tap * 4 * 9, 4, 3, 3)


@pytest.mark.parametrize("cls", BLOCKS)
def test_hybridized_equals_imperative_with_gradients(cls):
    net = make(cls)
    # Non-zero offsets so the deformable path is exercised.
    for p in net.offset.collect_params().values():
        p.set_data(mx.nd.array(np.random.RandomState(1).randn(*p.shape) * 0.3))
    x = data(2)
    results = []
    for hybrid in (False, True):
        net.hybridize(hybrid)
        with mx.autograd.record():
            y = net(x)
        y.backward(mx.nd.array(np.random.RandomState(3).randn(*y.shape)))
        results.append((y.asnumpy(), {k: p.grad().asnumpy().copy()
                                      for k, p in net.collect_params().items()}))
    (y0, g0), (y1, g1) = results
    np.testing.assert_allclose(y0, y1, rtol=1e-5, atol=1e-6)
    for k in g0:
        np.testing.assert_allclose(g0[k], g1[k], rtol=1e-4, atol=1e-5, err_msg=k)
        assert np.abs(g0[k]).max() > 0, k


@pytest.mark.parametrize("cls", BLOCKS)
def test_grad_req_add_accumulates(cls):
    net = make(cls)
    net.collect_params().setattr("grad_req", "add")
    net.collect_params().zero_grad()
    x = data(4)
    grads = []
    for _ in range(2):
        with mx.autograd.record():
            y = net(x)
        y.backward()
        grads.append({k: p.grad().asnumpy().copy() for k, p in net.collect_params().items()})
    for k in grads[0]:
        np.testing.assert_allclose(grads[1][k], 2 * grads[0][k], rtol=1e-5, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("cls", BLOCKS)
def test_export_and_import_in_a_fresh_process(cls, tmp_path):
    net = make(cls)
    for p in net.offset.collect_params().values():
        p.set_data(mx.nd.array(np.random.RandomState(5).randn(*p.shape) * 0.3))
    net.hybridize()
    x = data(6)
    y = net(x)
    prefix = str(tmp_path / "dcn")
    net.export(prefix)
    np.save(tmp_path / "x.npy", x.asnumpy())
    np.save(tmp_path / "y.npy", y.asnumpy())
    script = textwrap.dedent(f"""
        import mxnet as mx, numpy as np
        from operators.blocks import import_block
        block = import_block("{prefix}-symbol.json", "data", "{prefix}-0000.params")
        y = block(mx.nd.array(np.load("{tmp_path}/x.npy"))).asnumpy()
        np.testing.assert_allclose(y, np.load("{tmp_path}/y.npy"), rtol=1e-6, atol=1e-6)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


@pytest.mark.parametrize("cls", BLOCKS)
def test_deferred_initialisation_infers_input_channels(cls):
    net = cls(5, strides=2)
    net.initialize()
    y = net(data(7, shape=(1, 3, 8, 9)))
    assert y.shape == (1, 5, 4, 5)
    assert net.weight.shape == (5, 3, 3, 3)
