"""Seeded fuzzing of the config and annotation readers: damaged input gives their own error, nothing else.

A mutated YAML either loads (and passes the config checks) or raises ``ConfigError``; a mutated VOC XML
either reads into finite, ordered boxes inside the image or raises ``DatasetFileError`` naming the file.
"""
from pathlib import Path

import numpy as np
import pytest

from dcn.config import ConfigError, apply_overrides, config_from_text
from dcn.data import DatasetFileError
from dcn.data.voc import parse_voc_xml

CONFIGS = ["experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml", "experiments/fpn/cfgs/synthetic_fpn_dcn.yaml",
           "experiments/deeplab/cfgs/synthetic_deeplab_dcn.yaml"]
TOKENS = ["", "x", "-1", "0", ".inf", "-.nan", "[", "]", "{}", "null", "1e999", "true", "[1, 2]", "'a'", ":",
          "- 3", "\t", "#", "&a", "*a", "!!python/object:os.system", "2147483648", "0.0.1", "~", "{a: 1}"]
KEYS = ["TRAIN.lr", "TRAIN.lr_step", "TRAIN.end_epoch", "network.ANCHOR_SCALES", "SCALES", "dataset.num_images",
        "TEST.NMS", "network.norm", "TRAIN.BATCH_ROIS", "gpus", "network.FIXED_PARAMS", "TRAIN.FLIP", "nope.key",
        "TRAIN", "network.depth", "TEST_SCALES", "TRAIN.BBOX_STDS", "default.seed"]


def _mutate_text(rng, text: str) -> str:
    lines = text.splitlines()
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(6))
        i = int(rng.integers(len(lines))) if lines else 0
        if not lines:
            lines = [TOKENS[rng.integers(len(TOKENS))]]
        elif kind == 0:  # replace a value
            head = lines[i].split(":", 1)[0]
            lines[i] = f"{head}: {TOKENS[rng.integers(len(TOKENS))]}"
        elif kind == 1:  # drop a line
            del lines[i]
        elif kind == 2:  # duplicate a line
            lines.insert(i, lines[i])
        elif kind == 3:  # break indentation
            lines[i] = (" " * int(rng.integers(0, 5))) + lines[i].lstrip()
        elif kind == 4:  # flip one character
            if lines[i]:
                j = int(rng.integers(len(lines[i])))
                lines[i] = lines[i][:j] + chr(int(rng.integers(32, 127))) + lines[i][j + 1:]
        else:  # truncate the file
            lines = lines[:i]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("path", CONFIGS)
def test_mutated_config_files_give_config_errors(path):
    text = Path(path).read_text()
    rng = np.random.default_rng(abs(hash(Path(path).name)) % 2 ** 32)
    loaded = refused = 0
    for i in range(400):
        mutated = _mutate_text(rng, text)
        try:
            config_from_text(mutated, f"mutant{i}.yaml")
            loaded += 1
        except ConfigError as err:
            assert f"mutant{i}.yaml" in str(err), str(err)
            refused += 1
    assert loaded > 20 and refused > 20, (loaded, refused)


def test_random_overrides_give_config_errors():
    base = config_from_text(Path(CONFIGS[0]).read_text())
    rng = np.random.default_rng(3)
    for _ in range(1500):
        item = f"{KEYS[rng.integers(len(KEYS))]}={TOKENS[rng.integers(len(TOKENS))]}"
        try:
            cfg = apply_overrides(base, [item])
        except ConfigError as err:
            assert item in str(err) or item.split("=")[0] in str(err), (item, str(err))
            continue
        assert np.isfinite(cfg.TRAIN.lr) and cfg.TRAIN.end_epoch >= 1, item


XML = ("<annotation><size><width>64</width><height>48</height><depth>3</depth></size>"
       "<object><name>disk</name><difficult>0</difficult><bndbox><xmin>3</xmin><ymin>4</ymin><xmax>20</xmax>"
       "<ymax>30</ymax></bndbox></object>"
       "<object><name>star</name><difficult>1</difficult><bndbox><xmin>30</xmin><ymin>10</ymin><xmax>64</xmax>"
       "<ymax>48</ymax></bndbox></object></annotation>")
VALUES = ["", "nan", "inf", "-inf", "-5", "1e9", "abc", "3.5", "0", "64", "65", "  7 ", "1e-3", "NaN"]


def test_mutated_annotations_give_dataset_errors(tmp_path):
    rng = np.random.default_rng(5)
    classes = {"disk": 0, "triangle": 1, "star": 2}
    read = refused = 0
    for i in range(800):
        text = XML
        for _ in range(int(rng.integers(1, 3))):
            tags = ["width", "height", "xmin", "ymin", "xmax", "ymax", "name", "difficult"]
            tag = tags[rng.integers(len(tags))]
            parts = text.split(f"<{tag}>")
            k = int(rng.integers(1, len(parts)))
            end = parts[k].index(f"</{tag}>")
            parts[k] = VALUES[rng.integers(len(VALUES))] + parts[k][end:]
            text = f"<{tag}>".join(parts)
        if rng.random() < 0.1:
            text = text[:int(rng.integers(len(text)))]
        path = tmp_path / f"a{i}.xml"
        path.write_text(text)
        try:
            h, w, boxes, labels, difficult = parse_voc_xml(path, classes)
        except DatasetFileError as err:
            assert err.path == path
            refused += 1
            continue
        read += 1
        assert np.isfinite(boxes).all() and (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()
        assert (boxes >= 0).all() and (boxes[:, 2] <= w - 1).all() and (boxes[:, 3] <= h - 1).all()
        assert len(labels) == len(boxes) == len(difficult)
    assert read > 50 and refused > 200, (read, refused)
