"""python -m fpn.train / fpn.proposals / fpn.test / fpn.demo on a tiny private synthetic dataset:
end-to-end, then the fixed-proposal protocol (train the head on dumped proposals, test with TEST.HAS_RPN false)."""
import numpy as np
import pytest

from dcn.engine.output_dir import OutputExistsError

RCNN = "experiments/faster_rcnn/cfgs/synthetic_rcnn_dcn.yaml"
FPN = "experiments/fpn/cfgs/synthetic_fpn_dcn.yaml"


def tiny(tmp_path, out):
    data = tmp_path / "data"
    return ["--set", f"dataset.dataset_path={data}", "--set", f"dataset.root_path={data}",
            "--set", "dataset.num_images=8", "--set", "TRAIN.end_epoch=1", "--set", "TRAIN.lr_step=[]",
            "--set", "TRAIN.FLIP=false", "--set", "SCALES=[128,128]", "--set", "TEST.RPN_PRE_NMS_TOP_N=200",
            "--set", f"output_path={tmp_path / out}"]


def test_end_to_end_then_fixed_proposals(tmp_path, capsys):
    from fpn import demo, proposals, test, train

    sets = tiny(tmp_path, "e2e")
    train.main(["--cfg", RCNN, "--gpus", "cpu"] + sets)
    params = sorted((tmp_path / "e2e").glob("*.params"))[-1]
    first = params.read_bytes()
    with pytest.raises(OutputExistsError, match="e2e holds another run"):  # again without --resume
        train.main(["--cfg", RCNN] + sets)
    train.main(["--cfg", RCNN, "--overwrite"] + sets)  # the first run moves aside, intact
    assert [p.read_bytes() for p in tmp_path.glob(f"e2e.old-*/{params.name}")] == [first]
    test.main(["--cfg", RCNN, "--params", str(params)] + sets)
    assert "mAP@0.5:" in capsys.readouterr().out
    _bit_flipped_copy_is_refused(tmp_path, params, sets)
    image = sorted((tmp_path / "data" / "JPEGImages").glob("*.jpg"))[0]
    demo.main(["--params", str(params), "--images", str(image), "--out", str(tmp_path / "demo"), "--thresh", "0"])
    assert (tmp_path / "demo" / f"{image.stem}_det.png").stat().st_size > 0
    # same stem twice and a truncated image: both readable ones get their own PNG, the bad one is named
    import shutil
    one_jpg, one_png, cut = tmp_path / "one.jpg", tmp_path / "one.png", tmp_path / "cut.jpg"
    shutil.copy(image, one_jpg)
    __import__("cv2").imwrite(str(one_png), __import__("cv2").imread(str(image)))
    cut.write_bytes(image.read_bytes()[:-200])
    with pytest.raises(SystemExit, match=r"1 of 3 images could not be read: .*cut.jpg"):
        demo.main(["--params", str(params), "--images", str(one_jpg), str(one_png), str(cut),
                   "--out", str(tmp_path / "demo2"), "--thresh", "0"])
    assert sorted(p.name for p in (tmp_path / "demo2").iterdir()) == ["one_jpg_det.png", "one_png_det.png"]

    props = ["--set", f"dataset.proposal_dir={tmp_path / 'props'}"]
    proposals.main(["--cfg", RCNN, "--params", str(params), "--image-set", "both"] + sets + props)
    with np.load(tmp_path / "props" / "train_rpn.npz") as f:
        assert len(f.files) >= 1 and all(f[k].shape[1] == 4 and len(f[k]) > 0 for k in f.files)
    fixed = tiny(tmp_path, "fixed") + props
    train.main(["--cfg", RCNN] + fixed)
    params = sorted((tmp_path / "fixed").glob("*.params"))[-1]
    test.main(["--cfg", RCNN, "--params", str(params), "--set", "TEST.HAS_RPN=false"] + fixed)
    assert "mAP@0.7:" in capsys.readouterr().out


def test_fpn_train_and_multiscale_soft_nms_test(tmp_path, capsys):
    from fpn import test, train

    sets = tiny(tmp_path, "fpn")
    net, loop = train.train(__import__("dcn.config", fromlist=["load_config"]).load_config(
        FPN, [s for s in sets if s != "--set"]), progress=False)
    assert net.spec.fpn and net.spec.deformable_pyramid
    params = sorted((tmp_path / "fpn").glob("*.params"))[-1]
    test.main(["--cfg", FPN, "--params", str(params), "--set", "TEST.USE_SOFTNMS=true",
               "--set", "TEST_SCALES=[[128,128],[96,96]]"] + sets)
    assert "mAP@0.5:" in capsys.readouterr().out


def test_train_rejects_a_bad_config(tmp_path):
    from fpn import train

    with pytest.raises(ValueError, match="network.dilation"):
        train.main(["--cfg", FPN, "--set", "network.dilation=2"] + tiny(tmp_path, "bad"))


def _bit_flipped_copy_is_refused(tmp_path, params, sets):
    """test, demo and checkpoint check compare the .params with the sha256 of the manifest beside it."""
    import shutil

    from dcn.checkpoint.__main__ import main as checkpoint_main
    from dcn.engine.checkpoint import CheckpointError
    from fpn import demo, test

    bad = tmp_path / "flipped"
    bad.mkdir()
    for src in (params, params.with_suffix(".json"), params.parent / "config.yaml"):
        shutil.copy(src, bad / src.name)
    flipped = bad / params.name
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))
    assert checkpoint_main(["check", "--cfg", RCNN, "--params", str(params)] + sets) == 0
    # convert / export never write over their input, nor over existing files without --force
    converted = tmp_path / "converted.params"
    assert checkpoint_main(["convert", "--cfg", RCNN, "--params", str(params), "--out", str(converted)] + sets) == 0
    stamp = converted.stat().st_mtime_ns
    assert checkpoint_main(["convert", "--cfg", RCNN, "--params", str(params), "--out", str(converted)] + sets) == 2
    assert converted.stat().st_mtime_ns == stamp
    assert checkpoint_main(["convert", "--cfg", RCNN, "--params", str(params), "--out", str(converted),
                            "--force"] + sets) == 0
    before = params.read_bytes()
    assert checkpoint_main(["convert", "--cfg", RCNN, "--params", str(params), "--out", str(params),
                            "--force"] + sets) == 2
    assert params.read_bytes() == before
    assert checkpoint_main(["check", "--cfg", RCNN, "--params", str(flipped)] + sets) != 0
    with pytest.raises(CheckpointError, match="sha256 differs"):
        test.main(["--cfg", RCNN, "--params", str(flipped)] + sets)
    image = sorted((tmp_path / "data" / "JPEGImages").glob("*.jpg"))[0]
    with pytest.raises((CheckpointError, SystemExit), match="sha256 differs"):
        demo.main(["--params", str(flipped), "--images", str(image), "--out", str(tmp_path / "bad_demo")])
