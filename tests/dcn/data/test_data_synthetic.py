"""Synthetic generator: determinism, exact boxes vs masks, VOC readers, ensure_synthetic."""
import numpy as np
import pytest
from PIL import Image

from dcn.data import VOCDetection
from dcn.data import synthetic
from dcn.data.synthetic import CLASSES, ensure_synthetic, generate

N, SIZE = 10, 128


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("synth"), N, seed=3, size=SIZE)


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_byte_identical(dataset, tmp_path):
    again = _files(generate(tmp_path / "again", N, seed=3, size=SIZE))
    assert again == _files(dataset)
    other = _files(generate(tmp_path / "other", N, seed=4, size=SIZE))
    assert other.keys() == again.keys()
    assert other["JPEGImages/synth_000000.jpg"] != again["JPEGImages/synth_000000.jpg"]


def test_layout_and_splits(dataset):
    for sub in ("Main", "Segmentation"):
        lists = {n: (dataset / "ImageSets" / sub / f"{n}.txt").read_text().split() for n in ("train", "val", "trainval")}
        assert sorted(lists["train"] + lists["val"]) == sorted(lists["trainval"]) and len(lists["trainval"]) == N
        assert lists["val"] == ["synth_000004", "synth_000009"]
    for d, ext in (("JPEGImages", "jpg"), ("Annotations", "xml"), ("SegmentationClass", "png")):
        assert len(list((dataset / d).glob(f"*.{ext}"))) == N


def test_boxes_are_tight_bounds_of_visible_masks(dataset):
    ds = VOCDetection(dataset, "trainval", classes=CLASSES, check_image_size=True)
    assert len(ds) == N and sum(r.num_objects for r in ds.records) >= N
    for rec in ds.records:
        cls_map = np.array(Image.open(dataset / "SegmentationClass" / f"{rec.image_id}.png"))
        inst = np.array(Image.open(dataset / "SegmentationObject" / f"{rec.image_id}.png"))
        assert cls_map.shape == (SIZE, SIZE) and (rec.height, rec.width) == (SIZE, SIZE)
        assert inst.max() == rec.num_objects
        assert ((cls_map > 0) == (inst > 0)).all()
        assert not rec.difficult.any()
        for k, (box, label) in enumerate(zip(rec.boxes, rec.labels)):
            ys, xs = np.nonzero(inst == k + 1)
            assert xs.size >= synthetic.MIN_AREA
            np.testing.assert_array_equal(box, [xs.min(), ys.min(), xs.max(), ys.max()])
            assert (cls_map[ys, xs] == label + 1).all()


def test_segmentation_reader(dataset):
    ds = synthetic.load_segmentation(dataset, "train")
    assert len(ds) == 8 and len(synthetic.load_detection(dataset, "val")) == 2 and ds.num_classes == len(CLASSES) + 1
    img, label = ds[0]
    assert img.shape == (SIZE, SIZE, 3) and label.max() <= len(CLASSES)


def test_ensure_reuses_complete_and_regenerates_interrupted(tmp_path, monkeypatch):
    out = ensure_synthetic(tmp_path / "s", 4, seed=0, size=64)
    stamp = (out / synthetic.MARKER).stat().st_mtime_ns
    calls = []
    monkeypatch.setattr(synthetic, "generate", lambda *a, **k: calls.append(a))
    ensure_synthetic(out, 4, seed=0, size=64)
    assert calls == [] and (out / synthetic.MARKER).stat().st_mtime_ns == stamp
    ensure_synthetic(out, 5, seed=0, size=64)  # other parameters -> regenerate
    assert len(calls) == 1
    monkeypatch.undo()
    (out / synthetic.MARKER).rename(out / synthetic.IN_PROGRESS)  # as after an interrupted run
    (out / "JPEGImages" / "synth_000001.jpg").unlink()
    ensure_synthetic(out, 4, seed=0, size=64)
    assert (out / "JPEGImages" / "synth_000001.jpg").is_file() and synthetic.is_complete(out, 4, 0, 64)


def _voc_like(root):
    for name in ("JPEGImages/2007_000027.jpg", "Annotations/2007_000027.xml", "ImageSets/Main/train.txt",
                 "SegmentationClass/2007_000032.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"user data {name}")
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("entry", ["ensure", "generate", "cli"])
def test_refuses_a_folder_it_did_not_write(tmp_path, entry):
    """A real VOC folder (no marker) as dataset_path: nothing deleted, an error naming the folder and a file."""
    before = _voc_like(tmp_path / "VOC2007")
    with pytest.raises((synthetic.SyntheticFolderError, SystemExit), match=r"VOC2007: holds 4 files .*did not write"):
        if entry == "ensure":
            ensure_synthetic(tmp_path / "VOC2007", 4, seed=0, size=64)
        elif entry == "generate":
            generate(tmp_path / "VOC2007", 4, seed=0, size=64)
        else:
            synthetic.main(["--out", str(tmp_path / "VOC2007"), "--num-images", "4", "--size", "64"])
    after = {p: p.read_bytes() for p in (tmp_path / "VOC2007").rglob("*") if p.is_file() and p.suffix != ".lock"}
    assert after == before


def test_regenerates_only_its_own_files(tmp_path, caplog):
    """Another num_images: the generator's files are replaced (logged), a user's file in the folder stays."""
    out = ensure_synthetic(tmp_path / "s", 6, seed=0, size=64)
    (out / "JPEGImages" / "mine.jpg").write_bytes(b"user file")
    (out / "notes.txt").write_text("keep me")
    with caplog.at_level("WARNING", logger="dcn.data.synthetic"):
        ensure_synthetic(out, 4, seed=0, size=64)
    assert (out / "JPEGImages" / "mine.jpg").read_bytes() == b"user file"
    assert (out / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in (out / "JPEGImages").iterdir()) == ["mine.jpg"] + [
        f"synth_{i:06d}.jpg" for i in range(4)]
    assert synthetic.is_complete(out, 4, 0, 64) and not (out / synthetic.IN_PROGRESS).exists()
    text = caplog.text
    assert "regenerating" in text and "replacing 30 files" in text and "keeping 1 files" in text


def test_cli(tmp_path, capsys):
    synthetic.main(["--out", str(tmp_path / "cli"), "--num-images", "3", "--seed", "1", "--size", "64"])
    assert "wrote 3 images" in capsys.readouterr().out
    assert synthetic.is_complete(tmp_path / "cli", 3, 1, 64)


def test_variety():
    objs = [o for i in range(40) for o in synthetic.render_image(i, seed=0, size=256)[3]]
    sides = np.array([max(o.box[2] - o.box[0], o.box[3] - o.box[1]) + 1 for o in objs])
    assert sides.max() / sides.min() > 10  # scale range of an order of magnitude
    assert {o.label for o in objs} == set(range(len(CLASSES)))
    assert any(o.truncated for o in objs) and len(objs) > 80
