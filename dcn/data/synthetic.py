"""Built-in synthetic dataset in VOC layout (the embedded default of every task).

    python -m dcn.data.synthetic --out DIR --num-images N --seed S [--size 256]

writes ``JPEGImages/*.jpg``, ``Annotations/*.xml``, ``SegmentationClass/*.png``
(palette PNG, 0 = background, class i -> i + 1), ``SegmentationObject/*.png``
(instance k -> k + 1, in XML object order), ``ImageSets/Main/{train,val,trainval}.txt``
and ``ImageSets/Segmentation/{train,val,trainval}.txt``. Output is byte-identical for
the same arguments: image i draws from its own ``default_rng([seed, i])``, so a
larger N only appends images. Every 5th image is in ``val``.

Read it back with ``load_detection(DIR, 'train')`` / ``load_segmentation(DIR, 'train')``
(= ``VOCDetection(DIR, 'train', classes=CLASSES)`` / ``VOCSegmentation(DIR, 'train',
classes=SEG_CLASSES)``).
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from . import synthetic_shapes as S
from .records import PathLike
from .voc import VOCDetection
from .voc_seg import VOCSegmentation

try:
    import fcntl
except ImportError:  # not on Windows; generation is then unguarded
    fcntl = None

logger = logging.getLogger(__name__)

CLASSES: Tuple[str, ...] = tuple(S.SHAPES)  # disk, triangle, star, ring, cross, letter
SEG_CLASSES: Tuple[str, ...] = ("background",) + CLASSES
GENERATOR_VERSION = 1  # bump when the drawing changes, so ensure_synthetic regenerates
MARKER = "SYNTHETIC_COMPLETE.json"
IN_PROGRESS = "SYNTHETIC_GENERATING.json"  # written first, removed last: an interrupted run is still ours
_SUBDIRS = ("JPEGImages", "Annotations", "SegmentationClass", "SegmentationObject", "ImageSets")
# every file the generator writes below _SUBDIRS; only these are ever removed
_OWN_FILE = re.compile(r"^(JPEGImages/synth_\d{6}\.jpg|Annotations/synth_\d{6}\.xml"
                       r"|Segmentation(Class|Object)/synth_\d{6}\.png"
                       r"|ImageSets/(Main|Segmentation)/(train|val|trainval)\.txt)$")


class SyntheticFolderError(RuntimeError):
    """The dataset folder holds files the synthetic generator did not write; nothing was changed."""

MAX_OBJECTS = 6
MIN_VISIBLE_FRACTION = 0.35  # drop placements that would leave an object mostly hidden
MIN_AREA = 24  # pixels; smaller visible parts are not labelled objects
MIN_INSIDE_FRACTION = 0.5  # truncation at the image border allowed up to this


@dataclass
class SyntheticObject:
    label: int
    box: np.ndarray  # inclusive 0-based x1, y1, x2, y2 of the visible mask
    truncated: bool


def voc_palette() -> List[int]:
    """The standard VOC colour map (bit-interleaved), 256 RGB entries."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def render_image(index: int, seed: int, size: int = 256
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, List[SyntheticObject]]:
    """One scene: (BGR uint8 image, class map, instance map, objects)."""
    rng = np.random.default_rng([seed, index])
    img = S.background(size, rng)
    min_px, max_px = max(8.0, 12.0 * size / 256), 0.75 * size  # >10x scale range
    visible: List[np.ndarray] = []  # bool (size, size) visible mask per placed object
    full_area: List[int] = []
    meta: List[Tuple[int, bool]] = []
    for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
        label = int(rng.integers(len(CLASSES)))
        for _attempt in range(10):
            placed = _try_place(rng, img, label, size, min_px, max_px, visible, full_area)
            if placed is not None:
                break
        if placed is None:
            continue
        mask_in, area, truncated, obj_tex = placed
        for v in visible:  # the new object occludes the earlier ones
            v &= ~mask_in
        visible.append(mask_in)
        full_area.append(area)
        meta.append((label, truncated))
        img[mask_in] = obj_tex[mask_in]
    img += rng.normal(0, rng.uniform(0, 6), img.shape).astype(np.float32)  # sensor noise
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)

    cls_map = np.zeros((size, size), np.uint8)
    inst_map = np.zeros((size, size), np.uint8)
    objects = []
    for k, (v, (label, truncated)) in enumerate(zip(visible, meta)):
        ys, xs = np.nonzero(v)
        cls_map[v] = label + 1
        inst_map[v] = k + 1
        objects.append(SyntheticObject(label, np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float32),
                                       truncated))
    return img, cls_map, inst_map, objects


def _try_place(rng: np.random.Generator, img: np.ndarray, label: int, size: int, min_px: float, max_px: float,
               visible: List[np.ndarray], full_area: List[int]
               ) -> Optional[Tuple[np.ndarray, int, bool, np.ndarray]]:
    """Draw one warped shape; None if it is too truncated/small or would hide an
    earlier object almost entirely."""
    canvas = S.SHAPES[CLASSES[label]](rng).astype(np.float32)
    canvas = S.elastic(canvas, rng, rng.uniform(0.0, 0.07))
    size_px = float(np.exp(rng.uniform(np.log(min_px), np.log(max_px))))
    center = tuple(rng.uniform(0, size, 2))
    roi, x0, y0 = S.warp_to_roi(canvas, S.random_homography(rng, size_px, center))
    area = int(roi.sum())
    if area < MIN_AREA:
        return None
    mask_in = np.zeros((size, size), bool)
    ix0, iy0 = max(x0, 0), max(y0, 0)
    ix1, iy1 = min(x0 + roi.shape[1], size), min(y0 + roi.shape[0], size)
    if ix1 <= ix0 or iy1 <= iy0:
        return None
    mask_in[iy0:iy1, ix0:ix1] = roi[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
    inside = int(mask_in.sum())
    if inside < max(MIN_AREA, MIN_INSIDE_FRACTION * area):
        return None
    for v, fa in zip(visible, full_area):
        left = int((v & ~mask_in).sum())
        if left < max(MIN_AREA, MIN_VISIBLE_FRACTION * fa):
            return None
    c1, c2, kind = S.object_paint(rng, img[mask_in].mean(0))
    tex = np.zeros((size, size, 3), np.float32)
    tex[iy0:iy1, ix0:ix1] = S.texture(iy1 - iy0, ix1 - ix0, rng, kind, c1, c2)
    return mask_in, area, inside < area, tex


def _annotation_xml(image_id: str, size: int, objects: List[SyntheticObject]) -> bytes:
    ann = ET.Element("annotation")
    ET.SubElement(ann, "folder").text = "synthetic"
    ET.SubElement(ann, "filename").text = f"{image_id}.jpg"
    sz = ET.SubElement(ann, "size")
    for k, v in (("width", size), ("height", size), ("depth", 3)):
        ET.SubElement(sz, k).text = str(v)
    ET.SubElement(ann, "segmented").text = "1"
    for obj in objects:
        o = ET.SubElement(ann, "object")
        ET.SubElement(o, "name").text = CLASSES[obj.label]
        ET.SubElement(o, "pose").text = "Unspecified"
        ET.SubElement(o, "truncated").text = str(int(obj.truncated))
        ET.SubElement(o, "difficult").text = "0"
        bb = ET.SubElement(o, "bndbox")
        for k, v in zip(("xmin", "ymin", "xmax", "ymax"), obj.box):
            ET.SubElement(bb, k).text = str(int(v) + 1)  # VOC is 1-based
    ET.indent(ann)
    return ET.tostring(ann, encoding="utf-8") + b"\n"


def _save_png(path: Path, arr: np.ndarray, palette: List[int]) -> None:
    im = Image.fromarray(arr, mode="P")
    im.putpalette(palette)
    im.save(path, format="PNG", optimize=False)


def _dataset_files(out: Path) -> List[Path]:
    return [p for d in _SUBDIRS if (out / d).is_dir() for p in sorted((out / d).rglob("*")) if not p.is_dir()]


def _is_own(out: Path, path: Path) -> bool:
    """A file name the generator writes (an image list only if it lists generated ids alone)."""
    if not _OWN_FILE.match(path.relative_to(out).as_posix()):
        return False
    if path.suffix == ".txt":
        try:
            return all(re.fullmatch(r"synth_\d{6}", line) for line in path.read_text().split())
        except (OSError, UnicodeDecodeError):
            return False
    return True


def _clear_own_output(out: Path) -> None:
    """Remove what an earlier generation wrote into ``out``; refuse a folder it did not make.

    The folder is the generator's when its marker (complete or in progress) is there, or when every file in
    the dataset sub-folders has a name the generator writes. Other files are never removed.
    """
    files = _dataset_files(out)
    foreign = [p for p in files if not _is_own(out, p)]
    marked = (out / MARKER).is_file() or (out / IN_PROGRESS).is_file()
    if foreign and not marked:
        shown = ", ".join(str(p.relative_to(out)) for p in foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise SyntheticFolderError(
            f"{out}: holds {len(foreign)} files the synthetic generator did not write ({shown}) and no "
            f"{MARKER}; refusing to write the synthetic dataset over them. Point dataset.dataset_path "
            "(or --out) at a new or empty folder, or use dataset: voc for a real VOC folder")
    own = [p for p in files if _is_own(out, p)]
    if own:
        logger.warning("synthetic: replacing %d files of an earlier generation in %s%s", len(own), out,
                       f" (keeping {len(foreign)} files it did not write)" if foreign else "")
        for p in own:
            p.unlink()


def generate(out_dir: PathLike, num_images: int = 500, seed: int = 0, size: int = 256) -> Path:
    """Write the dataset into ``out_dir``, replacing only what an earlier generation wrote there.

    Raises :class:`SyntheticFolderError` (changing nothing) if the folder holds other files in its
    dataset sub-folders and is not marked as a synthetic dataset.
    """
    if num_images < 2:
        raise ValueError("num_images must be >= 2 (train and val both need an image)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _clear_own_output(out)
    params = _params(num_images, seed, size)
    (out / IN_PROGRESS).write_text(json.dumps(params, indent=1, sort_keys=True) + "\n")
    (out / MARKER).unlink(missing_ok=True)  # an interrupted run is never "complete"
    for d in ("JPEGImages", "Annotations", "SegmentationClass", "SegmentationObject",
              "ImageSets/Main", "ImageSets/Segmentation"):
        (out / d).mkdir(parents=True, exist_ok=True)
    palette = voc_palette()
    ids = [f"synth_{i:06d}" for i in range(num_images)]
    t0 = time.perf_counter()
    num_objects = 0
    for i, image_id in enumerate(tqdm(ids, desc="synthetic", leave=False)):
        img, cls_map, inst_map, objects = render_image(i, seed, size)
        num_objects += len(objects)
        ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok
        (out / "JPEGImages" / f"{image_id}.jpg").write_bytes(jpg.tobytes())
        (out / "Annotations" / f"{image_id}.xml").write_bytes(_annotation_xml(image_id, size, objects))
        _save_png(out / "SegmentationClass" / f"{image_id}.png", cls_map, palette)
        _save_png(out / "SegmentationObject" / f"{image_id}.png", inst_map, palette)
    val = [x for i, x in enumerate(ids) if i % 5 == 4]
    train = [x for i, x in enumerate(ids) if i % 5 != 4]
    for sub in ("Main", "Segmentation"):
        for name, lst in (("train", train), ("val", val), ("trainval", ids)):
            (out / "ImageSets" / sub / f"{name}.txt").write_text("\n".join(lst) + "\n")
    (out / MARKER).write_text(json.dumps(params, indent=1, sort_keys=True) + "\n")
    (out / IN_PROGRESS).unlink()  # last
    logger.info("synthetic: %d images, %d objects in %.1f s -> %s", num_images, num_objects,
                time.perf_counter() - t0, out)
    return out


def _params(num_images: int, seed: int, size: int) -> dict:
    return {"num_images": num_images, "seed": seed, "size": size, "version": GENERATOR_VERSION,
            "classes": list(CLASSES)}


def is_complete(out_dir: PathLike, num_images: int = 500, seed: int = 0, size: int = 256) -> bool:
    """True if ``out_dir`` holds a finished generation with these parameters."""
    marker = Path(out_dir) / MARKER
    try:
        return json.loads(marker.read_text()) == _params(num_images, seed, size)
    except (OSError, ValueError):
        return False


def ensure_synthetic(out_dir: PathLike, num_images: int = 500, seed: int = 0, size: int = 256) -> Path:
    """Reuse a complete dataset with the same parameters, else (re)generate it.

    An exclusive lock on ``<out_dir>/.generate.lock`` makes concurrent callers
    (parallel tests, several training processes) wait for one generation.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".generate.lock", "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        if is_complete(out, num_images, seed, size):
            logger.debug("synthetic dataset in %s is complete; reusing it", out)
            return out
        if (out / MARKER).is_file():
            logger.warning("synthetic: %s was generated with %s; regenerating with %s", out,
                           (out / MARKER).read_text().strip().replace("\n", ""), _params(num_images, seed, size))
        return generate(out, num_images, seed, size)


def load_detection(root: PathLike, image_set: str = "train", **kwargs) -> VOCDetection:
    """The synthetic dataset through the VOC detection reader."""
    return VOCDetection(root, image_set, classes=CLASSES, **kwargs)


def load_segmentation(root: PathLike, split: str = "train", **kwargs) -> VOCSegmentation:
    """The synthetic dataset through the VOC segmentation reader (background = 0)."""
    return VOCSegmentation(root, split, classes=SEG_CLASSES, **kwargs)


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m dcn.data.synthetic", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output folder (VOC layout)")
    ap.add_argument("--num-images", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=256, help="image side in pixels")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    try:
        out = generate(args.out, args.num_images, args.seed, args.size)
    except SyntheticFolderError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"wrote {args.num_images} images ({len(CLASSES)} classes: {', '.join(CLASSES)}) to {out} "
          f"in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
