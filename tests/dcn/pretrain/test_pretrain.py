"""Synthetic "ImageNet" pretraining: deterministic crops of every class, a tiny run through the CLI whose
file loads strictly into the synthetic R-FCN, resume = uninterrupted, ensure_pretrained, clear errors."""
import json
import logging
import subprocess
import sys
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

from dcn.data import synthetic_classes as SC
from dcn.pretrain import PretrainSettings, ensure_pretrained, params_path
from dcn.pretrain import train as T
from dcn.pretrain.__main__ import main
from dcn.pretrain.data import CropRenderer
from dcn.pretrain.model import Classifier, NonFiniteWeightsError, save_original

ROOT = Path(__file__).resolve().parents[3]
RFCN_CFG = ROOT / "experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml"
TINY = dict(epochs=2, images_per_epoch=128, batch_size=32, val_images=42, warmup_steps=2)
TINY_ARGS = ["--epochs", "2", "--images-per-epoch", "128", "--batch-size", "32", "--val-images", "42",
             "--warmup-steps", "2", "--workers", "0", "--no-progress"]


@pytest.fixture(autouse=True)
def _quiet_logging():
    yield
    logging.getLogger().handlers.clear()


def test_crops_deterministic_every_class():
    imgs, labels = SC.render_batch(range(2 * SC.NUM_CLASSES), "train", seed=3)
    again, _ = SC.render_batch(range(2 * SC.NUM_CLASSES), "train", seed=3)
    assert imgs.shape == (2 * SC.NUM_CLASSES, SC.CROP, SC.CROP, 3) and imgs.dtype == np.uint8
    np.testing.assert_array_equal(imgs, again)
    assert sorted(set(labels.tolist())) == list(range(SC.NUM_CLASSES))
    assert SC.NUM_CLASSES >= 6 + 10 + 1 and SC.CLASSES[-1] == "background"
    assert set(SC.CLASSES[:6]) == set(SC.S.SHAPES)
    one, label = SC.render_crop(5, "train", seed=3)  # sample i does not depend on its neighbours
    np.testing.assert_array_equal(one, imgs[5])
    assert label == labels[5] == 5
    for other in (SC.render_crop(5, "val", seed=3)[0], SC.render_crop(5, "train", seed=4)[0]):
        assert not np.array_equal(other, one)
    with pytest.raises(ValueError, match="split must be one of"):
        SC.render_crop(0, "nope")


def test_worker_processes_render_the_same_crops():
    with CropRenderer(workers=1) as renderer:
        imgs, labels = renderer.render("val", 0, SC.CROP, 30)
    ref, ref_labels = SC.render_batch(range(30), "val", 0)
    np.testing.assert_array_equal(imgs, ref)
    np.testing.assert_array_equal(labels, ref_labels)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """A tiny run of the real command (its own process: threads set before MXNet is imported)."""
    prefix = tmp_path_factory.mktemp("cli") / "synthetic_resnet_v1_18_w4"
    proc = subprocess.run([sys.executable, "-m", "dcn.pretrain", "--cfg", str(RFCN_CFG), "--out", str(prefix),
                           "--threads", "1", *TINY_ARGS], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return prefix, proc


def test_cli_writes_original_format(cli_run):
    prefix, proc = cli_run
    assert proc.stdout.strip().startswith("top-1: ")
    arrays = mx.nd.load(str(params_path(str(prefix))))
    assert all(k.startswith(("arg:", "aux:")) for k in arrays)
    aux = [k for k in arrays if k.startswith("aux:")]
    assert aux and all(k.endswith(("_moving_mean", "_moving_var")) for k in aux)
    assert "aux:bn_conv1_moving_mean" in arrays and "arg:res2a_branch2a_weight" in arrays
    assert arrays["arg:fc1000_weight"].shape[0] == SC.NUM_CLASSES
    assert all(np.isfinite(v.asnumpy()).all() for v in arrays.values())
    info = json.loads(Path(f"{prefix}-0000.json").read_text())
    assert info["classes"] == list(SC.CLASSES) and info["epochs"] == 2 and 0 <= info["top1"] <= 100
    assert info["settings"]["depth"] == 18 and info["settings"]["width_divisor"] == 4


def test_loads_strictly_into_synthetic_rfcn(cli_run):
    from dcn.config import load_config
    from dcn.modeling.pretrained import backbone_params, load_pretrained
    from rfcn.config import model_spec
    from rfcn.model import RFCN

    prefix, _ = cli_run
    # a BatchNorm-pretrained backbone is fine-tuned with frozen statistics (as the released models)
    cfg = load_config(RFCN_CFG, [f"network.pretrained={prefix}", "network.norm=frozen_bn"])
    net = RFCN(model_spec(cfg))
    net.initialize_weights(scratch=False)
    assert load_pretrained(net, str(prefix), 0) == len(backbone_params(net))  # strict: all, and nothing else
    arrays = mx.nd.load(str(params_path(str(prefix))))
    params = net.collect_params()
    for stat, fresh in (("moving_mean", 0.0), ("moving_var", 1.0)):
        for layer in ("bn_conv1", "bn5b_branch2b"):
            loaded = params[f"{layer}_{stat.replace('moving', 'running')}"].data().asnumpy()
            np.testing.assert_array_equal(loaded, arrays[f"aux:{layer}_{stat}"].asnumpy())
            assert np.isfinite(loaded).all() and np.abs(loaded - fresh).max() > 1e-3  # trained, not 0 / 1
    np.testing.assert_array_equal(params["res5b_branch2b_weight"].data().asnumpy(),
                                  arrays["arg:res5b_branch2b_weight"].asnumpy())  # into the deformable conv


def test_ensure_for_prefix(cli_run, tmp_path):
    from dcn.pretrain import ensure_for_prefix
    prefix, _ = cli_run  # .../synthetic_resnet_v1_18_w4, already there: used as it is, not retrained
    stamp = params_path(str(prefix)).stat().st_mtime_ns
    assert ensure_for_prefix(str(prefix)) == params_path(str(prefix))
    assert params_path(str(prefix)).stat().st_mtime_ns == stamp
    assert ensure_for_prefix(str(tmp_path / "resnet_v1_101")) is None  # not a synthetic prefix
    assert ensure_for_prefix(str(prefix), epoch=3) is None


def _tiny(**changes):
    return PretrainSettings(width_divisor=8, **{**TINY, **changes})


def _arrays(prefix):
    return {k: v.asnumpy() for k, v in mx.nd.load(str(params_path(str(prefix)))).items()}


def test_resume_equals_uninterrupted(tmp_path, monkeypatch, caplog):
    full = T.pretrain(_tiny(), str(tmp_path / "full"), workers=0, progress=False)
    real_save = T.save_checkpoint

    def save_then_stop(*args, **kwargs):
        real_save(*args, **kwargs)
        if args[2] == 1:
            raise KeyboardInterrupt  # killed right after the first epoch's checkpoint

    monkeypatch.setattr(T, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        T.pretrain(_tiny(), str(tmp_path / "cut"), workers=0, progress=False)
    assert not params_path(str(tmp_path / "cut")).exists()
    monkeypatch.setattr(T, "save_checkpoint", real_save)
    with caplog.at_level(logging.INFO, logger="dcn.pretrain.train"):
        resumed = T.pretrain(_tiny(), str(tmp_path / "cut"), resume=True, workers=0, progress=False)
    assert "resuming after epoch 1/2" in caplog.text
    assert [h["epoch"] for h in resumed["history"]] == [1, 2] and resumed["top1"] == full["top1"]
    a, b = _arrays(tmp_path / "full"), _arrays(tmp_path / "cut")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-5, atol=1e-6, err_msg=k)
    with pytest.raises(ValueError, match="other settings.*lr"):
        T.pretrain(_tiny(lr=0.05), str(tmp_path / "cut"), resume=True, workers=0, progress=False)


def test_ensure_pretrained_reuses_complete_file(tmp_path):
    prefix = str(tmp_path / "ens")
    tiny = dict(TINY, epochs=1)
    path = ensure_pretrained(18, prefix, width_divisor=8, workers=0, **tiny)
    stamp = path.stat().st_mtime_ns
    assert ensure_pretrained(18, prefix, width_divisor=8, workers=0, **tiny).stat().st_mtime_ns == stamp
    ensure_pretrained(18, prefix, width_divisor=8, workers=0, **dict(tiny, seed=1))  # other settings: retrain
    assert json.loads(Path(f"{prefix}-0000.json").read_text())["seed"] == 1
    Path(f"{prefix}-0000.json").unlink()  # a file not made here (a released model) is never overwritten
    with pytest.raises(FileExistsError, match="not written by dcn.pretrain"):
        ensure_pretrained(18, prefix, width_divisor=8, workers=0, **tiny)


def test_non_finite_weights_are_never_written(tmp_path):
    net = Classifier(18, 16, SC.NUM_CLASSES)
    net.initialize_weights(mx.cpu())
    net(mx.nd.zeros((2, 3, 64, 64)))
    w = net.backbone.conv1.weight
    w.set_data(w.data() * np.nan)
    with pytest.raises(NonFiniteWeightsError, match="conv1_weight"):
        save_original(net, tmp_path / "x-0000.params")
    assert not (tmp_path / "x-0000.params").exists()


@pytest.mark.parametrize("args, message", [
    (["--set", "network.depth=19"], "key 'network.depth': 19 is not one of [18, 34, 50, 101, 152]"),
    (["--width-divisor", "3"], "width divisor must divide 64"),
    (["--epochs", "0"], "epochs must be >= 1"),
    (["--batch-size", "1"], "batch size must be >= 2"),
    (["--threads", "0"], "--threads must be >= 1"),
])
def test_bad_arguments_give_clear_errors(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--cfg", str(RFCN_CFG), *args])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_api_rejects_unknown_depth(tmp_path):
    with pytest.raises(ValueError, match=r"depth must be one of \[18, 34, 50, 101, 152\], got 19"):
        ensure_pretrained(19, str(tmp_path / "x"))
    with pytest.raises(ValueError, match="unknown pretraining settings.*'epoch'"):
        ensure_pretrained(18, str(tmp_path / "x"), epoch=3)


def test_cli_never_replaces_a_file_it_did_not_write_and_asks_before_its_own(cli_run, tmp_path, capsys):
    import shutil

    released = tmp_path / "resnet_v1_101-0000.params"  # a released ImageNet model, no dcn.pretrain JSON
    released.write_bytes(b"MSRA weights")
    for flags in ([], ["--overwrite"]):
        with pytest.raises(SystemExit) as exc:
            main(["--cfg", str(RFCN_CFG), "--out", str(tmp_path / "resnet_v1_101"), *flags, *TINY_ARGS])
        assert exc.value.code == 2 and "was not written by dcn.pretrain" in capsys.readouterr().err
    assert released.read_bytes() == b"MSRA weights"
    prefix, _ = cli_run
    ours = tmp_path / "ours"
    for name in (f"{prefix.name}-0000.params", f"{prefix.name}-0000.json"):
        shutil.copy(prefix.parent / name, tmp_path / name.replace(prefix.name, "ours"))
    with pytest.raises(SystemExit) as exc:
        main(["--cfg", str(RFCN_CFG), "--out", str(ours), *TINY_ARGS])
    assert exc.value.code == 2 and "--resume continues that run, --overwrite replaces it" in capsys.readouterr().err
