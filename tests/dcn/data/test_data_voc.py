"""VOC detection reader on a tiny VOCdevkit built in tmp_path."""
import cv2
import numpy as np
import pytest

from dcn.data import DatasetFileError, VOCDetection

XML = """<annotation><size><width>{w}</width><height>{h}</height><depth>3</depth></size>{objs}</annotation>"""
OBJ = ("<object><name>{name}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
       "<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>")


def _write_image(folder, image_id, h=40, w=60):
    (folder / "JPEGImages").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "JPEGImages" / f"{image_id}.jpg"), np.full((h, w, 3), 128, np.uint8))


def _write_xml(folder, image_id, objs, h=40, w=60):
    (folder / "Annotations").mkdir(parents=True, exist_ok=True)
    body = "".join(OBJ.format(name=n, d=d, b=b) for n, b, d in objs)
    (folder / "Annotations" / f"{image_id}.xml").write_text(XML.format(w=w, h=h, objs=body))


def _write_set(folder, name, ids):
    (folder / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    (folder / "ImageSets" / "Main" / f"{name}.txt").write_text("\n".join(ids) + "\n")


@pytest.fixture()
def devkit(tmp_path):
    v07, v12 = tmp_path / "VOC2007", tmp_path / "VOC2012"
    for iid in ("000001", "000002"):
        _write_image(v07, iid)
    _write_xml(v07, "000001", [("dog", (1, 1, 10, 20), 0), ("person", (5, 6, 60, 40), 1)])
    _write_xml(v07, "000002", [("car", (30, 10, 31, 11), 0)])
    _write_set(v07, "trainval", ["000001", "000002"])
    _write_image(v12, "2008_000003")
    _write_xml(v12, "2008_000003", [("cat", (2, 3, 4, 5), 0)])
    _write_set(v12, "trainval", ["2008_000003"])
    return tmp_path


def test_reads_joined_image_sets(devkit):
    ds = VOCDetection(devkit, "2007_trainval+2012_trainval")
    assert len(ds) == 3 and ds.num_skipped == 0 and ds.num_classes == 20
    r = ds.records[0]
    assert (r.image_id, r.height, r.width) == ("000001", 40, 60)
    np.testing.assert_array_equal(r.boxes, [[0, 0, 9, 19], [4, 5, 59, 39]])  # 1-based -> 0-based
    assert r.boxes.dtype == np.float32 and r.boxes.shape == (2, 4)
    assert r.labels.tolist() == [ds.classes.index("dog"), ds.classes.index("person")]
    assert r.difficult.tolist() == [False, True]
    assert r.without_difficult().num_objects == 1
    assert ds.records[2].image_path == devkit / "VOC2012" / "JPEGImages" / "2008_000003.jpg"
    img, rec = ds[2]
    assert img.shape == (40, 60, 3) and rec is ds.records[2]


def test_missing_image_names_file(devkit):
    (devkit / "VOC2007" / "JPEGImages" / "000002.jpg").unlink()
    with pytest.raises(DatasetFileError, match="000002.jpg"):
        VOCDetection(devkit, "2007_trainval")
    ds = VOCDetection(devkit, "2007_trainval", skip_bad=True)
    assert len(ds) == 1 and ds.num_skipped == 1
    assert ds.skipped[0][0].name == "000002.jpg"


def test_broken_xml_names_file(devkit):
    (devkit / "VOC2007" / "Annotations" / "000001.xml").write_text("<annotation><size>")
    with pytest.raises(DatasetFileError, match="000001.xml"):
        VOCDetection(devkit, "2007_trainval")


@pytest.mark.parametrize("objs,msg", [
    ([("unicorn", (1, 1, 5, 5), 0)], "unknown class"),
    ([("dog", (1, 1, 99, 5), 0)], "outside"),
    ([("dog", (1, 1, 5, 5), 0), ("cat", (1, "nan", 5, 5), 0)], r"object 1 \('cat'\): ymin is nan, expected a finite"),
    ([("dog", (1, 1, "inf", 5), 0)], r"object 0 \('dog'\): xmax is inf"),
    ([("dog", (50, 1, 10, 5), 0)], r"object 0 \('dog'\): xmax 10 < xmin 50, expected xmin <= xmax"),
    ([("dog", (1, 30, 10, 5), 0)], r"ymax 5 < ymin 30"),
])
def test_bad_objects_name_file(devkit, objs, msg):
    _write_xml(devkit / "VOC2007", "000002", objs)
    with pytest.raises(DatasetFileError, match=msg) as e:
        VOCDetection(devkit, "2007_trainval")
    assert e.value.path.name == "000002.xml"


def test_missing_list_and_size_mismatch(devkit):
    with pytest.raises(DatasetFileError, match="test.txt"):
        VOCDetection(devkit, "2007_test")
    _write_image(devkit / "VOC2007", "000002", h=41)  # XML says 40 rows
    with pytest.raises(DatasetFileError, match="000002.jpg"):
        VOCDetection(devkit, "2007_trainval", check_image_size=True)
    ds = VOCDetection(devkit, "2007_trainval")  # without the header check it fails at load time
    with pytest.raises(DatasetFileError, match="000002.jpg"):
        ds[1]


def _truncate(path, keep=0.6):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def test_truncated_jpeg_is_an_error_or_skipped_when_asked(devkit):
    """libjpeg only warns on stderr and fills the rest grey: the reader names the file instead."""
    from dcn.data.image_io import load_image

    img = devkit / "VOC2007" / "JPEGImages" / "000002.jpg"
    cv2.imwrite(str(img), np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8))
    _truncate(img)
    with pytest.raises(DatasetFileError, match="truncated JPEG") as e:
        VOCDetection(devkit, "2007_trainval")
    assert e.value.path == img
    with pytest.raises(DatasetFileError, match="000002.jpg.*truncated JPEG"):
        load_image(img)
    ds = VOCDetection(devkit, "2007_trainval", skip_bad=True)
    assert [r.image_id for r in ds.records] == ["000001"] and ds.skipped[0][0] == img


def _png_header_only(path, width, height):
    """A valid PNG signature + IHDR claiming width x height, an empty IDAT and IEND (no pixels)."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) +
                     chunk(b"IEND", b""))


def test_huge_and_truncated_png_name_the_file(tmp_path):
    from dcn.data.image_io import load_image

    _png_header_only(tmp_path / "huge.png", 36000, 36000)
    with pytest.raises(DatasetFileError, match=r"huge.png.*(too large|more than)"):
        load_image(tmp_path / "huge.png")
    cv2.imwrite(str(tmp_path / "ok.png"), np.zeros((20, 30, 3), np.uint8))
    assert load_image(tmp_path / "ok.png").shape == (20, 30, 3)
    _truncate(tmp_path / "ok.png", 0.5)
    with pytest.raises(DatasetFileError, match="ok.png.*truncated PNG"):
        load_image(tmp_path / "ok.png")


def test_an_image_that_resizes_to_nothing_names_the_file(tmp_path):
    """A 5000x2 image died in cv2.resize (!dsize.empty()) without naming the image."""
    from dcn.data.base import DetectionDataset
    from dcn.data.batching import TransformedDataset
    from dcn.data.records import BadFilePolicy, DetRecord
    from dcn.data.transforms import resize_image

    path = tmp_path / "thin.jpg"
    cv2.imwrite(str(path), np.full((2, 5000, 3), 200, np.uint8))
    rec = DetRecord("thin", path, 2, 5000, np.zeros((0, 4), np.float32), np.zeros(0, np.int32), np.zeros(0, bool))
    ds = DetectionDataset("thin", ("a",), [rec], BadFilePolicy(False, "thin"))
    tds = TransformedDataset(ds, lambda img, target, flip=None: resize_image(img, 256, 256))
    with pytest.raises(DatasetFileError, match=r"thin.jpg.*5000x2 image resized by 0.0512 .*under 1 pixel"):
        tds[0]
