"""Training engine: LR schedule, lr_mult, frozen params, loss goes down, outputs, several devices."""
import logging
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from dcn.config import apply_overrides, config_from_text
from dcn.engine import (WarmupMultiFactorScheduler, build_lr_scheduler, build_trainer, epochs_to_updates, fit,
                        freeze_params, save_checkpoint, set_lr_mult, split_batch)
from dcn.engine.finite import NonFiniteWeightsError
from dcn.engine.output_dir import OutputExistsError
from dcn.utils.env import set_default_threads

NUM_SAMPLES, BATCH = 48, 8


class TinyNet(gluon.HybridBlock):
    """Conv + BatchNorm + Dropout + Dense: enough state (BN stats, dropout RNG) to test resume."""

    def __init__(self, **kw):
        super().__init__(**kw)
        with self.name_scope():
            self.conv = gluon.nn.Conv2D(4, 3, padding=1, in_channels=2)
            self.bn = gluon.nn.BatchNorm(in_channels=4)
            self.drop = gluon.nn.Dropout(0.2)
            self.fc1 = gluon.nn.Dense(8, activation="relu", in_units=4 * 6 * 6)
            self.fc2 = gluon.nn.Dense(1, in_units=8)

    def hybrid_forward(self, F, x):
        return self.fc2(self.drop(self.fc1(F.relu(self.bn(self.conv(x))))))


def tiny_data(seed=0):
    rng = np.random.RandomState(seed)
    x = rng.randn(NUM_SAMPLES, 2, 6, 6).astype(np.float32)
    w = rng.randn(2 * 6 * 6).astype(np.float32) / 8
    y = (x.reshape(NUM_SAMPLES, -1) @ w)[:, None].astype(np.float32)
    return gluon.data.DataLoader(gluon.data.ArrayDataset(x, y), batch_size=BATCH, shuffle=True)


def make_net(ctx, init_seed=0):
    mx.random.seed(init_seed)
    net = TinyNet(prefix="tiny_")
    net.initialize(mx.init.Xavier(), ctx=ctx)
    return net


def l2_forward(net, batch):
    x, y = batch
    err = net(x) - y
    loss = (err ** 2).sum() / BATCH
    return loss, {"loss": loss * BATCH / x.shape[0], "abs_err": err.abs().mean()}


def tiny_config(out, *extra):
    cfg = config_from_text("network:\n  FIXED_PARAMS: []\n")
    return apply_overrides(cfg, [f"output_path={out}", "TRAIN.lr=0.05", "TRAIN.lr_step=[2]", "TRAIN.end_epoch=3",
                                 "TRAIN.warmup=true", "TRAIN.warmup_lr=0.01", "TRAIN.warmup_step=3",
                                 "TRAIN.wd=0.0001", "default.frequent=2", "TRAIN.model_prefix=tiny", "TRAIN.BATCH_IMAGES=8",
                                 *extra])


def params_of(net):
    return {k: v.data().asnumpy().copy() for k, v in net.collect_params().items()}


# --- LR schedule -----------------------------------------------------------------------------

def test_warmup_multifactor_values():
    s = WarmupMultiFactorScheduler([10, 20], factor=0.1, warmup=True, warmup_lr=1e-3, warmup_step=5, base_lr=0.1)
    expect = {1: 1e-3, 4: 1e-3, 5: 0.1, 10: 0.1, 11: 0.01, 20: 0.01, 21: 0.001, 1000: 0.001}
    for n, lr in expect.items():
        assert s(n) == pytest.approx(lr, rel=1e-12), n
    assert s(3) == 1e-3 and s(25) == pytest.approx(1e-3)  # stateless: going back gives the same values
    no_warm = WarmupMultiFactorScheduler([10], factor=0.5, warmup=False, warmup_lr=1e-3, warmup_step=5, base_lr=0.1)
    assert no_warm(1) == 0.1 and no_warm(11) == 0.05
    with pytest.raises(ValueError):
        WarmupMultiFactorScheduler([5, 5])


def test_epochs_to_updates_like_the_original():
    # VOC 07+12 with flips: 33102 images, 4 GPUs x 1 image, lr_step 4.83 -> int(4.83 * 33102 / 4)
    assert epochs_to_updates([4.83], 33102, 4) == [int(4.83 * 33102 / 4)]
    cfg = config_from_text("TRAIN:\n  lr: 0.01\n  lr_step: [4, 6]\n  warmup: true\n  warmup_lr: 0.001\n"
                           "  warmup_step: 250\n")
    s = build_lr_scheduler(cfg.TRAIN, num_samples=800, samples_per_update=8)  # 100 updates / epoch
    assert s.step == [400, 600]
    assert [s(n) for n in (249, 250, 400, 401, 601)] == pytest.approx([0.001, 0.01, 0.01, 0.001, 0.0001])


def test_optimizer_follows_schedule():
    p = gluon.Parameter("w", shape=(1,), init=mx.init.Zero())
    p.initialize(ctx=mx.cpu())
    s = WarmupMultiFactorScheduler([3], factor=0.1, warmup=True, warmup_lr=0.5, warmup_step=2, base_lr=1.0)
    trainer = gluon.Trainer([p], "sgd", {"learning_rate": 1.0, "lr_scheduler": s}, kvstore=None)
    steps = []
    for _ in range(5):
        before = p.data().asscalar()
        with mx.autograd.record():
            loss = p.data() * 1.0  # gradient 1
        loss.backward()
        trainer.step(1)
        steps.append(before - p.data().asscalar())
    assert steps == pytest.approx([0.5, 1.0, 1.0, 0.1, 0.1])  # updates 1..5


# --- lr_mult and frozen params ---------------------------------------------------------------

def test_lr_mult_and_frozen_patterns():
    net = make_net(mx.cpu())
    params = net.collect_params()
    frozen = freeze_params(params, ["conv0_weight$", "batchnorm0_(gamma|beta)"])
    assert sorted(frozen) == ["tiny_batchnorm0_beta", "tiny_batchnorm0_gamma", "tiny_conv0_weight"]
    assert set_lr_mult(params, {"dense1_": 0.0, "dense0_bias": 3.0}) == {
        "tiny_dense0_bias": 3.0, "tiny_dense1_bias": 0.0, "tiny_dense1_weight": 0.0}
    cfg = config_from_text("TRAIN:\n  wd: 0.0\n  momentum: 0.0\n  lr: 0.1\n")
    trainer = build_trainer(params, cfg.TRAIN, lr_scheduler=None, kvstore=None)
    assert "tiny_conv0_weight" not in {p.name for p in trainer._params}
    before = params_of(net)
    x = mx.nd.array(np.random.RandomState(1).randn(4, 2, 6, 6))
    with mx.autograd.record():
        loss = net(x).sum()
    loss.backward()
    grad_b0 = params["tiny_dense0_bias"].grad().asnumpy().copy()
    trainer.step(1)
    after = params_of(net)
    for name in frozen + ["tiny_dense1_weight", "tiny_dense1_bias"]:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    np.testing.assert_allclose(before["tiny_dense0_bias"] - after["tiny_dense0_bias"], 0.3 * grad_b0, rtol=1e-5,
                               atol=1e-7)
    assert not np.array_equal(after["tiny_conv0_bias"], before["tiny_conv0_bias"])


# --- the loop --------------------------------------------------------------------------------

def test_loss_goes_down_and_outputs_are_written(tmp_path):
    out = tmp_path / "run"
    cfg = tiny_config(out, "TRAIN.end_epoch=6", "TRAIN.lr=0.02", "TRAIN.lr_step=[5]")
    net = make_net(mx.cpu())
    loop = fit(cfg, net, l2_forward, tiny_data(), NUM_SAMPLES, ctx=[mx.cpu()], progress=False)
    losses = [row["loss"] for row in loop.history.epochs]
    assert len(losses) == 6 and losses[-1] < 0.6 * losses[0], losses
    for name in ("config.yaml", "train.log", "metrics.csv", "metrics_batches.csv", "loss_curve.png",
                 "tiny-0006.params", "tiny-0006.states", "tiny-0006.json"):
        assert (out / name).is_file(), name
    assert (out / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[0] == "epoch" and {"loss", "abs_err", "lr", "time_s"} <= set(header)
    assert "Epoch[5] Batch [6/6]" in (out / "train.log").read_text()
    logging.getLogger().handlers.clear()


def test_nan_loss_stops_with_clear_error(tmp_path):
    cfg = tiny_config(tmp_path, "TRAIN.end_epoch=1")
    bad = lambda net, batch: net(batch[0]).sum() * float("nan")  # noqa: E731
    with pytest.raises(FloatingPointError, match="epoch 0 batch 1"):
        fit(cfg, make_net(mx.cpu()), bad, tiny_data(), NUM_SAMPLES, ctx=[mx.cpu()], progress=False)


def test_diverged_weights_stop_training_and_are_never_saved(tmp_path):
    """The metric is clipped (as R-FCN's log-loss of NaN scores reads ln(num_classes)): the weights are checked."""
    cfg = tiny_config(tmp_path, "TRAIN.end_epoch=2", "TRAIN.lr=1e30", "TRAIN.warmup=false")

    def clipped(net, batch):
        loss, _ = l2_forward(net, batch)
        return loss, {"loss": 1.0}  # what a clipped metric of NaN scores looks like: finite

    with pytest.raises(NonFiniteWeightsError, match=r"epoch 0 .*NaN/inf.*tiny_"):
        fit(cfg, make_net(mx.cpu()), clipped, tiny_data(), NUM_SAMPLES, ctx=[mx.cpu()], progress=False)
    assert not list(tmp_path.glob("*.params")) and not list(tmp_path.glob("*.json"))
    logging.getLogger().handlers.clear()


def test_save_checkpoint_refuses_non_finite_weights(tmp_path):
    net = make_net(mx.cpu())
    net(mx.nd.ones((1, 2, 6, 6)))
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    net.fc2.bias.set_data(mx.nd.array([float("inf")]))
    with pytest.raises(NonFiniteWeightsError, match="tiny_dense1_bias"):
        save_checkpoint(tmp_path, "tiny", 1, net, trainer)
    assert list(tmp_path.iterdir()) == []


def test_a_new_run_never_overwrites_another(tmp_path):
    """Training again without --resume: refused, naming the folder and what to do; the old run is untouched."""
    out = tmp_path / "run"
    cfg = tiny_config(out, "TRAIN.end_epoch=1")
    fit(cfg, make_net(mx.cpu()), l2_forward, tiny_data(), NUM_SAMPLES, ctx=[mx.cpu()], progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "train.log"}
    with pytest.raises(OutputExistsError, match=r"run holds another run \(tiny-0001.json, metrics.csv\).*--resume"):
        fit(cfg, make_net(mx.cpu(), 1), l2_forward, tiny_data(), NUM_SAMPLES, ctx=[mx.cpu()], progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "train.log"} == before
    with pytest.raises(ValueError, match="give one of them"):
        fit(cfg, make_net(mx.cpu()), l2_forward, tiny_data(), NUM_SAMPLES, ctx=[mx.cpu()], resume=True,
            overwrite=True, progress=False)
    # --overwrite: the old run moves aside intact, the new one starts in an empty folder
    fit(cfg, make_net(mx.cpu(), 1), l2_forward, tiny_data(), NUM_SAMPLES, ctx=[mx.cpu()], overwrite=True,
        progress=False)
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("run.old-")]
    assert len(aside) == 1
    assert {p.name: p.read_bytes() for p in aside[0].iterdir() if p.name != "train.log"} == before
    assert (out / "tiny-0001.params").read_bytes() != before["tiny-0001.params"]
    logging.getLogger().handlers.clear()


def test_two_devices_match_one(tmp_path):
    """Same code path with a context list: 2 CPU 'devices' + kvstore 'device' == 1 device (grads summed)."""
    results = []
    for ctx in ([mx.cpu(0)], [mx.cpu(0), mx.cpu(1)]):
        cfg = tiny_config(tmp_path / str(len(ctx)), "TRAIN.end_epoch=1",
                          f"TRAIN.BATCH_IMAGES={BATCH // len(ctx)}")
        mx.random.seed(0)
        # No BatchNorm/Dropout here: batch statistics and masks legitimately differ per device split.
        net = gluon.nn.HybridSequential(prefix="mlp_")
        net.add(gluon.nn.Conv2D(4, 3, padding=1, activation="relu", in_channels=2),
                gluon.nn.Dense(8, activation="relu", in_units=144), gluon.nn.Dense(1, in_units=8))
        net.initialize(mx.init.Xavier(), ctx=ctx)
        fit(cfg, net, l2_forward, tiny_data(), NUM_SAMPLES, ctx=ctx, progress=False)
        results.append(list(params_of(net).values()))
    for one, two in zip(*results):
        np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-6)


def test_split_batch_structures():
    ctx = [mx.cpu(0), mx.cpu(1)]
    x, y = np.arange(10, dtype=np.float32).reshape(5, 2), np.arange(5, dtype=np.float32)
    parts = split_batch((x, y), ctx)
    assert [p[0].shape[0] for p in parts] == [3, 2] and parts[1][0].context == mx.cpu(1)
    parts = split_batch({"data": x, "meta": "id"}, ctx)
    assert parts[0]["meta"] == "id" and parts[1]["data"].shape == (2, 2)


def test_default_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert set_default_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    n = set_default_threads()
    assert n >= 1 and os.environ["OMP_NUM_THREADS"] == str(n)
