"""Checkpoints: resume gives the uninterrupted result bit for bit; damaged files give clear errors."""
import json
import logging
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

from dcn.engine import CheckpointError, find_last_checkpoint, fit, list_checkpoints, load_checkpoint
from dcn.utils.fileio import atomic_write_text
from tests.dcn.engine.test_engine import NUM_SAMPLES, l2_forward, make_net, params_of, tiny_config, tiny_data


@pytest.fixture(autouse=True)
def _quiet_logging():
    yield
    logging.getLogger().handlers.clear()


def _train(out, end_epoch, resume=False, init_seed=0):
    cfg = tiny_config(out, f"TRAIN.end_epoch={end_epoch}")
    net = make_net(mx.cpu(), init_seed)
    loop = fit(cfg, net, l2_forward, tiny_data(), NUM_SAMPLES, ctx=[mx.cpu()], resume=resume, progress=False)
    return net, loop


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    net, loop = _train(out, 2)
    logging.getLogger().handlers.clear()
    return out, params_of(net), loop.trainer.optimizer.num_update, loop.history.epochs


def test_resume_equals_uninterrupted(tmp_path, uninterrupted):
    _, full_params, full_updates, full_epochs = uninterrupted
    _train(tmp_path, 1)
    # A fresh process would start from a different init: the checkpoint must overwrite all of it.
    net, loop = _train(tmp_path, 2, resume=True, init_seed=123)
    resumed = params_of(net)
    assert resumed.keys() == full_params.keys()
    for name in full_params:  # includes BatchNorm running stats; dropout + shuffle are reseeded per epoch
        np.testing.assert_array_equal(resumed[name], full_params[name], err_msg=name)
    assert loop.trainer.optimizer.num_update == full_updates == 12
    assert [r["loss"] for r in loop.history.epochs] == [r["loss"] for r in full_epochs]
    assert [c.epoch for c in list_checkpoints(tmp_path, "tiny")] == [1, 2]


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    _, loop = _train(tmp_path, 1, resume=True)
    assert len(loop.history.epochs) == 1


def test_manifest_contents(uninterrupted):
    out = uninterrupted[0]
    manifest = json.loads((out / "tiny-0002.json").read_text())
    assert manifest["epoch"] == 2 and set(manifest["files"]) == {"tiny-0002.params", "tiny-0002.states"}
    assert manifest["config"]["TRAIN"]["model_prefix"] == "tiny" and "numpy" in manifest["rng"]
    assert "loss" in manifest["metrics"]


@pytest.mark.parametrize("damage, match", [
    (lambda d: d["params"].write_bytes(d["params"].read_bytes()[:-100]), "truncated"),
    (lambda d: d["states"].write_bytes(b"x" * d["states"].stat().st_size), "sha256"),
    (lambda d: d["params"].unlink(), "missing"),
    (lambda d: d["manifest"].write_text('{"format": 1, "files": '), "corrupt checkpoint manifest"),
])
def test_damaged_checkpoint_raises_naming_the_file(tmp_path, uninterrupted, damage, match):
    src = uninterrupted[0]
    for p in src.glob("tiny-0002.*"):
        (tmp_path / p.name).write_bytes(p.read_bytes())
    files = {"params": tmp_path / "tiny-0002.params", "states": tmp_path / "tiny-0002.states",
             "manifest": tmp_path / "tiny-0002.json"}
    damage(files)
    broken = {"truncated": "params", "sha256": "states", "missing": "params"}.get(match, "manifest")
    net = make_net(mx.cpu())
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(files["manifest"], net, None, [mx.cpu()])
    assert str(files[broken]) in str(info.value)


def test_incomplete_checkpoint_is_skipped(tmp_path, uninterrupted):
    src = uninterrupted[0]
    for p in src.glob("tiny-000*.*"):
        (tmp_path / p.name).write_bytes(p.read_bytes())
    (tmp_path / "tiny-0002.json").unlink()  # crashed before the manifest was written
    (tmp_path / ".tiny-0003.params.abc.tmp").write_bytes(b"partial")
    assert find_last_checkpoint(tmp_path, "tiny").epoch == 1


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")

    class Boom(Exception):
        pass

    from dcn.utils.fileio import atomic_path
    with pytest.raises(Boom):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise Boom
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_wrong_model_is_a_clear_error(tmp_path, uninterrupted):
    other = mx.gluon.nn.Dense(3, in_units=2, prefix="other_")
    other.initialize()
    with pytest.raises(CheckpointError, match="cannot load parameters"):
        load_checkpoint(uninterrupted[0] / "tiny-0002.json", other, None, [mx.cpu()])


def _flip_one_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_read_params_verifies_the_manifest_beside_it(tmp_path, uninterrupted):
    """test / demo / check load through read_params: a bit flip is caught where a manifest records the hash."""
    import shutil

    from dcn.checkpoint.loader import read_params
    from dcn.engine.checkpoint import verify_against_manifest

    out = uninterrupted[0]
    for name in ("tiny-0002.params", "tiny-0002.json"):
        shutil.copy(out / name, tmp_path / name)
    assert verify_against_manifest(tmp_path / "tiny-0002.params") == tmp_path / "tiny-0002.json"
    assert len(read_params(tmp_path / "tiny-0002.params")) > 0
    _flip_one_byte(tmp_path / "tiny-0002.params")
    with pytest.raises(CheckpointError, match=r"tiny-0002.params: corrupt or modified .*tiny-0002.json"):
        read_params(tmp_path / "tiny-0002.params")
    (tmp_path / "tiny-0002.json").unlink()  # no manifest: nothing to compare with (a flip in the payload loads)
    assert verify_against_manifest(tmp_path / "tiny-0002.params") is None


def test_pretrained_info_hash_is_checked(tmp_path):
    import shutil

    from dcn.checkpoint.loader import read_params

    src = Path("experiments/pretrained")
    for name in ("synthetic_resnet_v1_18_w4-0000.params", "synthetic_resnet_v1_18_w4-0000.json"):
        shutil.copy(src / name, tmp_path / name)
    assert len(read_params(tmp_path / "synthetic_resnet_v1_18_w4-0000.params")) > 0  # the shipped file matches
    _flip_one_byte(tmp_path / "synthetic_resnet_v1_18_w4-0000.params")
    with pytest.raises(CheckpointError, match="sha256 differs"):
        read_params(tmp_path / "synthetic_resnet_v1_18_w4-0000.params")


def test_read_params_refuses_non_finite_arrays(tmp_path):
    from dcn.checkpoint.loader import read_params

    mx.nd.save(str(tmp_path / "nan.params"), {"arg:w": mx.nd.array([1.0, float("nan")]), "arg:b": mx.nd.ones(2)})
    with pytest.raises(CheckpointError, match=r"nan.params: 1 arrays hold NaN/inf \(arg:w\)"):
        read_params(tmp_path / "nan.params")


def test_resume_with_a_corrupt_newest_checkpoint_offers_the_previous_one(tmp_path, uninterrupted):
    src = uninterrupted[0]
    for p in src.glob("tiny-000*.*"):
        (tmp_path / p.name).write_bytes(p.read_bytes())
    _flip_one_byte(tmp_path / "tiny-0002.params")
    with pytest.raises(CheckpointError, match=r"tiny-0002.params: corrupt[\s\S]*previous complete checkpoint is "
                                              r"epoch 1 \(tiny-0001.json\)[\s\S]*TRAIN.begin_epoch=1"):
        _train(tmp_path, 3, resume=True)
    # the offered fallback works: continue from epoch 1, epoch 2 is trained again
    cfg = tiny_config(tmp_path, "TRAIN.end_epoch=2", "TRAIN.begin_epoch=1")
    loop = fit(cfg, make_net(mx.cpu()), l2_forward, tiny_data(), NUM_SAMPLES, ctx=[mx.cpu()], progress=False)
    assert loop.history.epochs[-1]["epoch"] == 2 and find_last_checkpoint(tmp_path, "tiny").epoch == 2
    load_checkpoint(tmp_path / "tiny-0002.json", make_net(mx.cpu()), None, [mx.cpu()])  # verifies again


def test_a_failed_write_names_the_file_and_keeps_the_old_one(tmp_path):
    """A full disk surfaced as MXNet's 'FileStream.Write incomplete' without a path."""
    from dcn.utils.fileio import FileWriteError, atomic_write

    target = tmp_path / "model-0001.params"
    target.write_bytes(b"old")

    def full_disk(tmp):
        with open(tmp, "wb") as f:
            f.write(b"partial")
        raise mx.base.MXNetError("[00:00:00] src/io/local_filesys.cc:38: Check failed: ... FileStream.Write incomplete")

    with pytest.raises(FileWriteError, match=r"model-0001.params: could not write the file \(.*FileStream.Write "
                                             r"incomplete; \d+ MiB free there\); nothing was replaced"):
        atomic_write(target, full_disk)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model-0001.params"]
    with pytest.raises(ValueError, match="not an I/O error"):  # other errors keep their type
        atomic_write(target, lambda tmp: (_ for _ in ()).throw(ValueError("not an I/O error")))


def test_training_removes_the_temp_files_a_killed_run_left(tmp_path, uninterrupted, caplog):
    src = uninterrupted[0]
    for p in src.glob("tiny-0001.*"):
        (tmp_path / p.name).write_bytes(p.read_bytes())
    stale = tmp_path / ".tiny-0002.params.k3j9x_2a.tmp"  # SIGKILL during the epoch-2 write
    stale.write_bytes(b"x" * 1000)
    keep = tmp_path / "notes.tmp"
    keep.write_text("not ours")
    with caplog.at_level("WARNING"):
        _train(tmp_path, 2, resume=True)
    assert not stale.exists() and keep.exists()
    assert "temp file of an interrupted write" in caplog.text
