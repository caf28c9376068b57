"""ResNet-v1 backbones: shapes, strides, deformable placement, parameter counts and names."""
import mxnet as mx
import numpy as np
import pytest

from dcn.modeling.backbones import resnet_v1
from dcn.modeling.backbones.resnet_v1 import deformable_block_names, ResNetV1Spec
from dcn.modeling.params import count_params
from operators.blocks import DeformableConv2D


@pytest.mark.parametrize("depth", [18, 34, 50])
@pytest.mark.parametrize("n_deform", [0, 1, 2, 3, 6])
def test_small_depths_shapes_and_strides(depth, n_deform):
    net = resnet_v1(depth, num_deformable_layers=n_deform, out_stages=("res2", "res3", "res4", "res5"),
                    width_divisor=4)
    net.initialize()
    outs = net(mx.nd.random.uniform(shape=(1, 3, 64, 96)))
    expansion = 4 if depth >= 50 else 1
    widths = [c * expansion // 4 for c in (64, 128, 256, 512)]
    for out, stage, width in zip(outs, ("res2", "res3", "res4", "res5"), widths):
        stride = net.stage_strides[stage]
        assert out.shape == (1, width, 64 // stride, 96 // stride), stage
    deformable = [b for b in net.collect_params().keys() if b.endswith("_offset_weight")]
    assert len(deformable) == n_deform  # the last n blocks, whatever the depth


@pytest.mark.parametrize("dilation", [1, 2, 4, 6, 8])
def test_res5_dilation_and_stride(dilation):
    net = resnet_v1(18, num_deformable_layers=3, res5_dilation=dilation, out_stages=("res5",),
                    width_divisor=8)
    net.initialize()
    out = net(mx.nd.random.uniform(shape=(1, 3, 128, 64)))
    stride = 32 if dilation == 1 else 16
    assert out.shape[2:] == (128 // stride, 64 // stride)
    conv = net.stages[3][0].branch2b
    assert isinstance(conv, DeformableConv2D)
    assert conv._kwargs["dilate"] == (dilation, dilation)


def test_deformable_layers_follow_table1_rows():
    spec = lambda n: ResNetV1Spec(depth=101, num_deformable_layers=n)
    assert deformable_block_names(spec(1)) == {"5c"}
    assert deformable_block_names(spec(2)) == {"5b", "5c"}
    assert deformable_block_names(spec(3)) == {"5a", "5b", "5c"}
    assert deformable_block_names(spec(6)) == {"5a", "5b", "5c", "4b20", "4b21", "4b22"}
    with pytest.raises(ValueError, match="num_deformable_layers"):
        resnet_v1(101, num_deformable_layers=4)


def test_resnet101_parameter_counts_and_names():
    plain = resnet_v1(101, num_deformable_layers=0, reduce_channels=1024)
    dcn = resnet_v1(101, num_deformable_layers=3, deformable_groups=4, reduce_channels=1024)
    dcn_dg1 = resnet_v1(101, num_deformable_layers=3, deformable_groups=1, reduce_channels=1024)
    for net in (plain, dcn, dcn_dg1):
        net.initialize()
        net(mx.nd.zeros((1, 3, 32, 32)))
    # ResNet-101 conv layers + BN affine (42.50M) + 1x1 2048->1024 reduction (2.10M).
    assert count_params(plain) == 44_598_336
    # Offsets: 3 x (72 x 512 x 3 x 3 + 72) with 4 deformable groups, 3 x (18 x 512 x 9 + 18) with 1.
    assert count_params(dcn) - count_params(plain) == 3 * (72 * 512 * 9 + 72)
    assert count_params(dcn_dg1) - count_params(plain) == 3 * (18 * 512 * 9 + 18)
    names = set(dcn.collect_params().keys())
    for expected in ("conv1_weight", "bn_conv1_gamma", "res2a_branch1_weight", "bn2a_branch1_beta",
                     "res3b3_branch2c_weight", "res4b22_branch2b_weight", "res5a_branch2b_weight",
                     "res5a_branch2b_offset_weight", "res5c_branch2b_offset_bias", "bn5c_branch2c_gamma",
                     "conv_new_1_weight"):
        assert expected in names, expected


def test_hybridize_and_export(tmp_path):
    net = resnet_v1(18, num_deformable_layers=3, width_divisor=8, out_stages=("res5",))
    net.initialize()
    x = mx.nd.random.uniform(shape=(1, 3, 48, 48))
    y = net(x)
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), y.asnumpy(), rtol=1e-5, atol=1e-6)
    net.export(str(tmp_path / "backbone"))
    from operators.blocks import import_block
    imported = import_block(str(tmp_path / "backbone-symbol.json"), "data",
                            str(tmp_path / "backbone-0000.params"))
    np.testing.assert_allclose(imported(x).asnumpy(), y.asnumpy(), rtol=1e-5, atol=1e-6)


def test_aligned_inception_resnet_shapes_counts_and_deformable_blocks():
    from dcn.modeling.backbones import aligned_inception_resnet
    net = aligned_inception_resnet(num_deformable_layers=0, out_stages=("res2", "res3", "res4", "res5"))
    net.initialize()
    outs = net(mx.nd.zeros((1, 3, 64, 96)))
    assert [o.shape for o in outs] == [(1, 256, 16, 24), (1, 512, 8, 12), (1, 1024, 4, 6), (1, 2048, 4, 6)]
    # Close to the paper's Table 7 (64.3M including the 1000-way classifier).
    assert abs(count_params(net) + 2048 * 1000 + 1000 - 64.3e6) < 0.3e6
    small = aligned_inception_resnet(num_deformable_layers=3, width_divisor=8, res5_dilation=4,
                                     out_stages=("res5",))
    small.initialize()
    out = small(mx.nd.random.uniform(shape=(1, 3, 64, 64)))
    assert out.shape == (1, 256, 4, 4)
    offsets = [k for k in small.collect_params().keys() if k.endswith("_offset_weight")]
    assert len(offsets) == 3 * 3  # three 3x3 convs in each of the last three blocks
    assert all(k.startswith("res5_") for k in offsets)
