"""Config schema: shipped YAMLs load, bad keys/types/files are located errors, overrides are typed."""
from pathlib import Path

import pytest

from dcn.config import (ConfigError, apply_overrides, config_from_text, dump_config, load_config)

REPO = Path(__file__).resolve().parents[3]
SHIPPED = sorted(REPO.glob("experiments/*/cfgs/*.yaml"))
ORIGINAL_NAMES = {
    "rfcn": ["resnet_v1_101_voc0712_rfcn_dcn_end2end_ohem.yaml", "resnet_v1_101_voc0712_rfcn_end2end_ohem.yaml",
             "resnet_v1_101_coco_trainval_rfcn_dcn_end2end_ohem.yaml",
             "resnet_v1_101_coco_trainval_rfcn_end2end_ohem.yaml"],
    "faster_rcnn": ["resnet_v1_101_voc0712_rcnn_dcn_end2end.yaml", "resnet_v1_101_voc0712_rcnn_end2end.yaml",
                    "resnet_v1_101_coco_trainval_rcnn_dcn_end2end.yaml",
                    "resnet_v1_101_coco_trainval_rcnn_end2end.yaml"],
    "fpn": ["resnet_v1_101_coco_trainval_fpn_dcn_end2end_ohem.yaml",
            "resnet_v1_101_coco_trainval_fpn_end2end_ohem.yaml"],
    "deeplab": ["deeplab_resnet_v1_101_voc12_segmentation_base.yaml",
                "deeplab_resnet_v1_101_voc12_segmentation_dcn.yaml",
                "deeplab_resnet_v1_101_cityscapes_segmentation_base.yaml",
                "deeplab_resnet_v1_101_cityscapes_segmentation_dcn.yaml"],
}


def test_original_file_names_and_one_synthetic_per_task_are_shipped():
    for task, names in ORIGINAL_NAMES.items():
        folder = REPO / "experiments" / task / "cfgs"
        for name in names:
            assert (folder / name).is_file(), f"{task}/{name}"
        assert len(list(folder.glob("synthetic_*.yaml"))) == 1, task


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_yaml_loads(path, tmp_path):
    cfg = load_config(path)
    dcn_file = "_dcn" in path.name or path.name == "deform_conv_demo.yaml"
    assert (cfg.network.num_deformable_layers > 0) == dcn_file
    # The dump re-loads to the same config.
    assert load_config(dump_config(cfg, tmp_path)) == cfg


def test_paper_protocol_values():
    rfcn = load_config(REPO / "experiments/rfcn/cfgs/resnet_v1_101_voc0712_rfcn_dcn_end2end_ohem.yaml")
    assert rfcn.TRAIN.lr == 0.0005 and rfcn.TRAIN.lr_step == [4.83] and rfcn.TRAIN.end_epoch == 7
    assert rfcn.TRAIN.warmup and rfcn.TRAIN.warmup_lr == 5e-5 and rfcn.TRAIN.warmup_step == 1000
    assert rfcn.TRAIN.ENABLE_OHEM and rfcn.TRAIN.BATCH_ROIS == -1 and rfcn.TRAIN.BATCH_ROIS_OHEM == 128
    assert rfcn.network.NUM_ANCHORS == 9 and rfcn.CLASS_AGNOSTIC and rfcn.network.deformable_psroi
    fpn = load_config(REPO / "experiments/fpn/cfgs/resnet_v1_101_coco_trainval_fpn_dcn_end2end_ohem.yaml")
    assert fpn.TRAIN.lr == 0.01 and fpn.TRAIN.lr_step == [4.0, 6.0] and fpn.TRAIN.wd == 1e-4
    assert fpn.network.NUM_ANCHORS == 3 and len(fpn.test_scales) == 6 and fpn.TEST.USE_SOFTNMS
    city = load_config(REPO / "experiments/deeplab/cfgs/deeplab_resnet_v1_101_cityscapes_segmentation_dcn.yaml")
    assert city.TRAIN.lr_step == [40.336] and city.TRAIN.end_epoch == 53 and city.network.deformable_groups == 1


def _write(tmp_path, text):
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, key, line, words", [
    ("TRAIN:\n  lr: 0.1\n  lr_stepp: [1]\n", "TRAIN.lr_stepp", 3, "did you mean 'lr_step'"),
    ("symbol: x\nnetwork:\n  NUM_ANCHORS: 9\n", "network.NUM_ANCHORS", 3, "derived"),
    ("default:\n  frequent: 10\nbogus: 1\n", "bogus", 3, "unknown key"),
    ("TRAIN:\n  wd: 0.1\n  lr: fast\n", "TRAIN.lr", 3, "expected float"),
    ("TRAIN:\n  FLIP: 1\n", "TRAIN.FLIP", 2, "expected bool"),
    ("SCALES:\n- 600\n- big\n", "SCALES[1]", 3, "expected int"),
    ("network:\n  num_deformable_layers: 4\n", "network.num_deformable_layers", 2, "not one of"),
    ("TRAIN:\n  lr: 0.1\n\n  lr: 0.2\n", "TRAIN.lr", 4, "duplicate"),
    ("TRAIN:\n  lr_step: [6, 4]\n", "TRAIN.lr_step", 2, "increasing"),
    ("TRAIN: 3\n", "TRAIN", 1, "expected mapping"),
])
def test_errors_name_key_file_and_line(tmp_path, text, key, line, words):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert (err.key, err.file, err.line) == (key, str(path), line)
    assert f"{path}:{line}" in str(err) and key in str(err) and words in str(err)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found") as info:
        load_config(tmp_path / "nope.yaml")
    assert info.value.file == str(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="invalid YAML") as info:
        load_config(_write(tmp_path, "TRAIN:\n  lr: [1,\n"))
    assert info.value.line is not None


def test_exponent_floats_and_int_for_float():
    cfg = config_from_text("TRAIN:\n  lr: 5e-4\n  warmup_lr: 1\n")
    assert cfg.TRAIN.lr == 5e-4 and isinstance(cfg.TRAIN.warmup_lr, float)


def test_overrides_are_typed():
    base = config_from_text("{}")
    cfg = apply_overrides(base, ["TRAIN.lr=0.001", "network.num_deformable_layers=0", "gpus=[0, 1]",
                                 "TRAIN.lr_step=[3, 5.5]", "TRAIN.FLIP=false", "dataset.image_set=2007_test",
                                 "TRAIN.clip_gradient=null"])
    assert cfg.TRAIN.lr == 0.001 and isinstance(cfg.TRAIN.lr, float)
    assert cfg.network.num_deformable_layers == 0 and cfg.gpus == [0, 1]
    assert cfg.TRAIN.lr_step == [3.0, 5.5] and cfg.TRAIN.FLIP is False
    assert cfg.dataset.image_set == "2007_test" and cfg.TRAIN.clip_gradient is None
    assert base.TRAIN.lr == 0.0005  # the original object is untouched


@pytest.mark.parametrize("item, words", [
    ("TRAIN.lrr=0.1", "did you mean 'lr'"),
    ("TRAIN.lr=abc", "expected float"),
    ("network.num_deformable_layers=4", "not one of"),
    ("nosection.lr=1", "unknown key"),
    ("TRAIN.lr.x=1", "not a section"),
    ("TRAIN.lr", "KEY=VALUE"),
])
def test_bad_overrides(item, words):
    with pytest.raises(ConfigError, match=words) as info:
        apply_overrides(config_from_text("{}"), [item])
    assert item in str(info.value)


def test_load_with_overrides(tmp_path):
    path = _write(tmp_path, "TRAIN:\n  lr: 0.1\n")
    assert load_config(path, ["TRAIN.lr=0.2"]).TRAIN.lr == 0.2


def test_command_line(tmp_path):
    from dcn.config import parse_config
    path = _write(tmp_path, "TRAIN:\n  lr: 0.1\n")
    cfg, args = parse_config(["--cfg", str(path), "--set", "TRAIN.lr=0.2", "--set", "gpus=[1]", "--resume"])
    assert cfg.TRAIN.lr == 0.2 and cfg.gpus == [1] and args.resume


def test_thread_helper_does_not_import_mxnet():
    import subprocess
    import sys
    code = "import sys, dcn.utils.env as e; e.set_default_threads(); print('mxnet' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_overrides_linking_two_keys_do_not_depend_on_their_order():
    from dcn.config import ConfigError, load_config
    cfg_file = "experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml"
    # the file has OHEM on with BATCH_ROIS -1; switching both, in either order, is valid
    both = ["TRAIN.ENABLE_OHEM=false", "TRAIN.BATCH_ROIS=128"]
    for order in (both, both[::-1]):
        cfg = load_config(cfg_file, order)
        assert cfg.TRAIN.BATCH_ROIS == 128 and not cfg.TRAIN.ENABLE_OHEM
    with pytest.raises(ConfigError, match="needs ENABLE_OHEM"):
        load_config(cfg_file, ["TRAIN.ENABLE_OHEM=false", "TRAIN.BATCH_ROIS=-1"])


def test_pretrained_backbone_needs_frozen_batchnorm():
    cfg_file = "experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml"  # pretrained, frozen BN
    assert load_config(cfg_file).network.norm == "frozen_bn"
    with pytest.raises(ConfigError, match="network.norm.*frozen_bn"):
        load_config(cfg_file, ["network.norm=gn"])
    scratch = load_config(cfg_file, ["network.norm=gn", "network.pretrained="])
    assert scratch.network.norm == "gn" and scratch.network.pretrained == ""


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_empty_config_file_is_an_error_naming_it(tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"empty.yaml.*holds no settings"):
        load_config(path)


@pytest.mark.parametrize("item", ["TRAIN.lr=.inf", "TRAIN.lr=-.inf", "TRAIN.lr=.nan", "TRAIN.wd=1e999"])
def test_non_finite_numbers_are_refused(item):
    with pytest.raises(ConfigError, match=r"expected a finite number"):
        apply_overrides(config_from_text("{}"), [item])


def test_non_finite_number_in_a_file_names_key_and_line(tmp_path):
    path = tmp_path / "inf.yaml"
    path.write_text("TRAIN:\n  momentum: 0.9\n  lr: .inf\n")
    with pytest.raises(ConfigError, match=r"inf.yaml:3: key .TRAIN.lr.: expected a finite number"):
        load_config(path)
