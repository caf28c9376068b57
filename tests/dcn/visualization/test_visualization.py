"""Offset geometry and pictures: checked against the operator itself."""
import mxnet as mx
import numpy as np
import pytest

from dcn.modeling.backbones import resnet_v1
from dcn.visualization.capture import collect_offsets
from dcn.visualization.dilation import DilationStats, position_categories
from dcn.visualization.plots import plot_roi_parts, plot_stacked_sampling
from dcn.visualization.sampling import (DeformLayer, effective_dilation, sampling_points,
                                        stacked_sampling_points)


@pytest.mark.parametrize("d", [1, 2, 4])
def test_effective_dilation_of_regular_filter_is_its_dilation(d):
    layer = DeformLayer(np.zeros((18, 7, 9)), dilate=(d, d), pad=(d, d))
    np.testing.assert_allclose(effective_dilation(layer), d)


def test_effective_dilation_scales_with_a_uniform_stretch():
    # Offsets that move tap (i, j) by (i-1, j-1) double the spacing of a dilation-1 filter.
    off = np.zeros((9, 2, 5, 5))
    for t in range(9):
        off[t, 0], off[t, 1] = t // 3 - 1, t % 3 - 1
    layer = DeformLayer(off.reshape(18, 5, 5))
    np.testing.assert_allclose(effective_dilation(layer), 2.0)


@pytest.mark.parametrize("stride,dil,pad", [(1, 1, 1), (2, 2, 2), (1, 2, 0)])
def test_sampling_points_match_the_operator(stride, dil, pad):
    """A ramp image (value = row, resp. col) sampled by the op at each tap gives
    back the sampling coordinates that the geometry code computes."""
    H, W = 12, 13
    rng = np.random.RandomState(0)
    rows = np.repeat(np.arange(H, dtype=np.float64)[:, None], W, 1)
    cols = np.repeat(np.arange(W, dtype=np.float64)[None, :], H, 0)
    data = mx.nd.array(np.stack([rows, cols])[None], dtype="float64")
    Ho = (H + 2 * pad - (2 * dil + 1)) // stride + 1
    Wo = (W + 2 * pad - (2 * dil + 1)) // stride + 1
    offset = rng.uniform(-1.5, 1.5, (18, Ho, Wo))
    # one output channel per (input channel, tap): weight one-hot
    weight = np.zeros((18, 2, 3, 3))
    for c in range(2):
        for t in range(9):
            weight[c * 9 + t, c, t // 3, t % 3] = 1
    out = mx.nd.DeformableConvolution(data, mx.nd.array(offset[None], dtype="float64"),
                                      mx.nd.array(weight, dtype="float64"), kernel=(3, 3),
                                      stride=(stride, stride), dilate=(dil, dil), pad=(pad, pad),
                                      num_filter=18, no_bias=True).asnumpy()[0]
    layer = DeformLayer(offset, stride=(stride, stride), dilate=(dil, dil), pad=(pad, pad))
    yy, xx = np.meshgrid(np.arange(Ho), np.arange(Wo), indexing="ij")
    pts = sampling_points(layer, yy, xx).reshape(Ho, Wo, 9, 2)
    inside = ((pts[..., 0] >= 0) & (pts[..., 0] <= H - 1) & (pts[..., 1] >= 0) & (pts[..., 1] <= W - 1))
    assert inside.mean() > 0.5
    for t in range(9):
        m = inside[..., t]
        np.testing.assert_allclose(out[t][m], pts[..., t, 0][m], atol=1e-9)
        np.testing.assert_allclose(out[9 + t][m], pts[..., t, 1][m], atol=1e-9)


def test_stacked_points_on_a_tiny_network(tmp_path):
    net = resnet_v1(50, num_deformable_layers=3, res5_dilation=2, width_divisor=16, out_stages=("res5",))
    net.initialize(mx.init.Xavier())
    x = mx.nd.random.uniform(shape=(1, 3, 96, 128))
    net(x)
    for _, p in net.collect_params(".*offset.*").items():
        p.set_data(mx.nd.random.normal(scale=0.05, shape=p.shape))
    layers = collect_offsets(net, x)
    assert len(layers) == 3
    levels = stacked_sampling_points(layers, (2, 3))
    assert [len(lv) for lv in levels] == [9, 81, 729]
    img = (np.random.RandomState(1).rand(96, 128, 3) * 255).astype(np.uint8)
    counts = plot_stacked_sampling(img, layers, [(2, 3), (5, 7)], 16, tmp_path / "fig6.png", drop_padding=False)
    assert counts == [729, 729] and (tmp_path / "fig6.png").stat().st_size > 0
    assert [l.in_shape for l in layers] == [(6, 8)] * 3  # captured input sizes
    # (5, 7) is the corner of the 6x8 map: taps reading only padding drop out with their subtrees
    kept = plot_stacked_sampling(img, layers, [(5, 7)], 16, tmp_path / "fig6b.png")
    assert 0 < kept[0] < 729
    # zero offsets: the regular dilated grid
    zero = [DeformLayer(np.zeros_like(l.offset), l.kernel, l.stride, l.dilate, l.pad) for l in layers]
    pts = stacked_sampling_points(zero, (4, 4))[-1]
    assert pts[:, 0].min() == 4 - 3 * 2 and pts[:, 0].max() == 4 + 3 * 2


def test_roi_parts_and_dilation_stats(tmp_path):
    img = np.zeros((64, 64, 3), np.uint8)
    n = plot_roi_parts(img, np.array([10, 12, 40, 50]), np.random.RandomState(0).randn(2, 3, 3),
                       tmp_path / "fig7.png")
    assert n == 9 and (tmp_path / "fig7.png").exists()
    boxes = np.array([[0, 0, 15, 15], [0, 0, 63, 63]])
    cat = position_categories((4, 4), 16, boxes, areas=(300.0, 2000.0))
    assert cat[0, 0] == 0 and cat[3, 3] == 2
    stats = DilationStats()
    stats.add([DeformLayer(np.zeros((18, 4, 4)), dilate=(2, 2), pad=(2, 2), name="res5c")], boxes, 16,
              areas=(300.0, 2000.0))
    row = stats.table()[0]
    assert row["small_mean"] == 2.0 and row["large_mean"] == 2.0 and row["background_n"] == 0
    assert "res5c" in stats.markdown()
    assert stats.write_csv(tmp_path / "dil.csv").exists()


def test_border_unit_keeps_each_taps_own_offset_and_drops_padding():
    """At a corner only the taps inside the map are kept, each moved by its own offset
    (the original demo re-indexed the kept taps and shifted them by other taps' offsets)."""
    off = np.zeros((9, 2, 6, 6))
    off[8, :, 0, 0] = 0.5        # only the bottom-right tap of unit (0, 0) moves, by (+0.5, +0.5)
    off[0, :, 0, 0] = -0.25      # the top-left tap reads padding only ((-2.25, -2.25)): dropped
    layer = DeformLayer(off.reshape(18, 6, 6), dilate=(2, 2), pad=(2, 2))
    pts = stacked_sampling_points([layer], (0, 0), drop_padding=True)[0]
    assert sorted(map(tuple, pts)) == [(0, 0), (0, 2), (2, 0), (2.5, 2.5)]


def test_zero_offset_corner_unit_count():
    """3 stacked dilation-2 layers, unit at the corner of a 14x14 map: per axis the taps at
    -2 read padding, leaving 13 of 27 chains, so 13^2 = 169 of 729 points; a centre unit keeps all."""
    layers = [DeformLayer(np.zeros((18, 14, 14)), dilate=(2, 2), pad=(2, 2), name=f"l{i}") for i in range(3)]
    levels = stacked_sampling_points(layers, (0, 0), drop_padding=True)
    assert [len(lv) for lv in levels] == [4, 25, 169]
    assert len(stacked_sampling_points(layers, (7, 7), drop_padding=True)[-1]) == 729
    assert len(stacked_sampling_points(layers, (0, 0))[-1]) == 729  # pure geometry keeps all


def test_input_shape_is_required_for_strided_layers():
    layer = DeformLayer(np.zeros((18, 4, 4)), stride=(2, 2))
    with pytest.raises(ValueError, match="input_shape"):
        layer.in_shape
    assert DeformLayer(np.zeros((18, 4, 4)), stride=(2, 2), input_shape=(8, 8)).in_shape == (8, 8)


def test_padding_fraction_counts_taps_outside_the_map():
    from dcn.visualization.sampling import padding_fraction

    regular = padding_fraction(DeformLayer(np.zeros((18, 5, 6))))
    assert regular[1:-1, 1:-1].max() == 0  # interior: every tap reads the map
    assert regular[0, 0] == pytest.approx(5 / 9)  # corner: 5 of 9 taps on the zero padding
    far = np.zeros((18, 5, 6))
    far[1::2] = 100.0  # every tap moved 100 columns right
    assert (padding_fraction(DeformLayer(far)) == 1).all()
