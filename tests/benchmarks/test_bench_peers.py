"""The benchmark's peers (ONNX Runtime, OpenVINO; the optional .[bench] extra) compute
what our ops compute: the race in benchmarks/bench_ops.py is on the same work.
Skipped where a peer is not installed."""
import mxnet as mx
import numpy as np
import pytest

from benchmarks import peers

PEERS = peers.available()
CONV = dict(kernel=(3, 3), pad=(2, 2), dilate=(2, 2), no_bias=True)


def _conv_inputs(rng, dg=2):
    x = rng.randn(2, 32, 11, 13).astype(np.float32)
    offset = rng.uniform(-3, 3, (2, 2 * dg * 9, 11, 13)).astype(np.float32)
    mask = rng.uniform(0, 1, (2, dg * 9, 11, 13)).astype(np.float32)
    weight = (rng.randn(24, 32, 3, 3) * 0.1).astype(np.float32)
    return x, offset, mask, weight


def _ours(x, offset, mask, weight, dg, modulated):
    attrs = dict(CONV, num_filter=weight.shape[0], num_deformable_group=dg)
    if modulated:  # the modulated op always samples with the DCNv2 border rule
        return mx.nd.ModulatedDeformableConvolution(*map(mx.nd.array, (x, offset, mask, weight)), **attrs).asnumpy()
    return mx.nd.DeformableConvolution(*map(mx.nd.array, (x, offset, weight)), border_rule="dcnv2",
                                       **attrs).asnumpy()


def _peer_conv(peer, x, offset, mask, weight, dg, modulated):
    arrays = [x, offset, mask] if modulated else [x, offset]
    kw = dict(pad=(2, 2), dilate=(2, 2), deformable_groups=dg, with_mask=modulated, threads=1)
    if peer == "onnxruntime":
        run = peers.onnxruntime_deform_conv(weight, **kw)
    else:
        run = peers.openvino_deform_conv(weight, [a.shape for a in arrays], **kw)
    return run(*arrays)


@pytest.mark.parametrize("modulated", [False, True])
@pytest.mark.parametrize("peer", ["onnxruntime", "openvino"])
def test_conv_agrees_with_peer(peer, modulated):
    if not PEERS.get(peer):
        pytest.skip(f"{peer} is not installed (pip install '.[bench]')")
    rng = np.random.RandomState(7 + modulated)
    x, offset, mask, weight = _conv_inputs(rng)
    ours = _ours(x, offset, mask, weight, 2, modulated)
    theirs = _peer_conv(peer, x, offset, mask, weight, 2, modulated)
    assert theirs.shape == ours.shape
    assert np.abs(ours).max() > 0.1
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_psroi_pooling_agrees_with_openvino():
    if not PEERS.get("openvino"):
        pytest.skip("openvino is not installed (pip install '.[bench]')")
    rng = np.random.RandomState(3)
    k, out_dim, classes, H, W = 3, 4, 2, 12, 15
    data = rng.randn(1, out_dim * k * k, H, W).astype(np.float32)
    x1, y1 = rng.uniform(0, 150, 20), rng.uniform(0, 120, 20)
    rois = np.stack([np.zeros(20), x1, y1, np.minimum(x1 + rng.uniform(16, 100, 20), 239),
                     np.minimum(y1 + rng.uniform(16, 80, 20), 191)], 1).astype(np.float32)
    trans = (rng.randn(20, 2 * classes, k, k) * 0.5).astype(np.float32)
    attrs = dict(spatial_scale=1 / 16, output_dim=out_dim, group_size=k, part_size=k, sample_per_part=2,
                 trans_std=0.1)
    ours = mx.nd.DeformablePSROIPooling(*map(mx.nd.array, (data, rois, trans)), pooled_size=k, **attrs).asnumpy()
    run = peers.openvino_deform_psroi_pooling([data.shape, rois.shape, trans.shape], threads=1, **attrs)
    theirs = run(data, rois, trans)
    assert np.abs(ours).max() > 0.1
    np.testing.assert_allclose(ours, theirs.reshape(ours.shape), rtol=1e-5, atol=1e-5)
