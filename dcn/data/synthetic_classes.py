"""Classification crops drawn by the synthetic generator: the "ImageNet" of the synthetic world.

Classes: the 6 detection shapes (``synthetic_shapes.SHAPES``), 14 more
procedural shapes, and ``background`` (texture + clutter, no object). Each
crop is drawn like an object of the detection images (``dcn.data.synthetic``):
elastic bend, one random homography (perspective, stretch up to 2.2x,
rotation), a texture whose colour contrasts with what it covers, over a
window of a detection-sized (256 px) background with its textures and clutter
strokes at their scale there, sometimes a stroke across the object, and sensor
noise. The object's longer side is 30-90 % of the crop (log-uniform), at a
jittered position (up to 10 % of it may leave the crop).

Shapes that the warps map onto each other are deliberately absent: a diamond
is a rotated square, an ellipse or a bar a stretched disk or square, an X a
rotated cross; as separate classes they would be label noise.

Deterministic: sample ``i`` of split ``s`` draws from its own
``np.random.default_rng([seed, SPLITS[s], i])``; its label is ``i % NUM_CLASSES``
(balanced in every range of indices).
"""
from __future__ import annotations

from typing import Callable, Dict, Sequence, Tuple

import cv2
import numpy as np

from . import synthetic_shapes as S
from .synthetic_shapes import CANVAS

GENERATOR_VERSION = 1  # bump when the drawing changes (ensure_pretrained then retrains)
SPLITS: Dict[str, int] = {"train": 0, "val": 1, "test": 2}
CROP = 64
SCENE = 256              # side of the detection images (dcn.data.synthetic) a crop is a window of
SIZE_RANGE = (0.3, 0.9)  # object's longer side / crop side
MAX_OVERHANG = 0.1       # fraction of the object's extent that may leave the crop


def _px(points: Sequence[Tuple[float, float]]) -> np.ndarray:
    """Unit-square points -> canvas pixels."""
    return np.asarray(points, np.float64) * CANVAS


def _fill(*polys: np.ndarray) -> np.ndarray:
    m = np.zeros((CANVAS, CANVAS), np.uint8)
    cv2.fillPoly(m, [np.round(p).astype(np.int32) for p in polys], 1)
    return m


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _square(rng: np.random.Generator) -> np.ndarray:
    pts = _px([(0.12, 0.12), (0.88, 0.12), (0.88, 0.88), (0.12, 0.88)]) + rng.uniform(-0.03, 0.03, (4, 2)) * CANVAS
    return _fill(pts)


def _regular(n: int) -> Callable[[np.random.Generator], np.ndarray]:
    def draw(rng: np.random.Generator) -> np.ndarray:
        return _fill(S._radial(n, np.full(n, 0.42 * CANVAS), phase=_u(rng, 0, 2 * np.pi)))
    return draw


def _crescent(rng: np.random.Generator) -> np.ndarray:
    m = np.zeros((CANVAS, CANVAS), np.uint8)
    c, r = CANVAS // 2, int(0.4 * CANVAS)
    cv2.circle(m, (c, c), r, 1, -1)
    cv2.circle(m, (c + int(_u(rng, 0.3, 0.5) * r), c), int(_u(rng, 0.8, 0.95) * r), 0, -1)
    return m


def _arrow(rng: np.random.Generator) -> np.ndarray:
    t, head = _u(rng, 0.07, 0.12), _u(rng, 0.45, 0.6)  # shaft half-thickness, head start (x)
    return _fill(_px([(0.1, 0.5 - t), (head, 0.5 - t), (head, 0.18), (0.9, 0.5), (head, 0.82), (head, 0.5 + t),
                      (0.1, 0.5 + t)]))


def _ell(rng: np.random.Generator) -> np.ndarray:
    t = _u(rng, 0.18, 0.28)
    return _fill(_px([(0.15, 0.1), (0.15 + t, 0.1), (0.15 + t, 0.9 - t), (0.75, 0.9 - t), (0.75, 0.9), (0.15, 0.9)]))


def _tee(rng: np.random.Generator) -> np.ndarray:
    t, h = _u(rng, 0.09, 0.13), _u(rng, 0.18, 0.26)  # stem half-thickness, bar height
    return _fill(_px([(0.1, 0.1), (0.9, 0.1), (0.9, 0.1 + h), (0.5 + t, 0.1 + h), (0.5 + t, 0.9), (0.5 - t, 0.9),
                      (0.5 - t, 0.1 + h), (0.1, 0.1 + h)]))


def _heart(rng: np.random.Generator) -> np.ndarray:
    s = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    x = 16 * np.sin(s) ** 3
    y = -(13 * np.cos(s) - _u(rng, 4, 6) * np.cos(2 * s) - 2 * np.cos(3 * s) - np.cos(4 * s))
    return _fill(np.stack([CANVAS / 2 + x * 0.024 * CANVAS, CANVAS / 2 + y * 0.024 * CANVAS], 1))


def _semicircle(rng: np.random.Generator) -> np.ndarray:
    m = np.zeros((CANVAS, CANVAS), np.uint8)
    c, r = CANVAS // 2, int(0.42 * CANVAS)
    cv2.ellipse(m, (c, int(c + 0.2 * r)), (r, r), 0, 180, 360, 1, -1)
    return m


def _chevron(rng: np.random.Generator) -> np.ndarray:
    t = _u(rng, 0.2, 0.3)  # arm thickness (vertical)
    return _fill(_px([(0.1, 0.15), (0.5, 0.85 - t), (0.9, 0.15), (0.9, 0.15 + t), (0.5, 0.85), (0.1, 0.15 + t)]))


def _frame(rng: np.random.Generator) -> np.ndarray:
    m = _square(rng)
    t = int(_u(rng, 0.13, 0.2) * CANVAS)
    cv2.rectangle(m, (int(0.12 * CANVAS) + t, int(0.12 * CANVAS) + t),
                  (int(0.88 * CANVAS) - t, int(0.88 * CANVAS) - t), 0, -1)
    return m


def _bowtie(rng: np.random.Generator) -> np.ndarray:
    w = _u(rng, 0.04, 0.09)  # half waist
    return _fill(_px([(0.1, 0.15), (0.5, 0.5 - w), (0.9, 0.15), (0.9, 0.85), (0.5, 0.5 + w), (0.1, 0.85)]))


def _u_shape(rng: np.random.Generator) -> np.ndarray:
    t = _u(rng, 0.16, 0.24)
    return _fill(_px([(0.12, 0.12), (0.12 + t, 0.12), (0.12 + t, 0.88 - t), (0.88 - t, 0.88 - t), (0.88 - t, 0.12),
                      (0.88, 0.12), (0.88, 0.88), (0.12, 0.88)]))


def _drop(rng: np.random.Generator) -> np.ndarray:
    r, cy, tip = 0.3 * CANVAS, 0.6 * CANVAS, _u(rng, 0.08, 0.16) * CANVAS
    alpha = np.arccos(r / (cy - tip))  # tangent points seen from the tip
    ang = np.linspace(-np.pi / 2 + alpha, 1.5 * np.pi - alpha, 40)
    pts = np.concatenate([[[CANVAS / 2, tip]], np.stack([CANVAS / 2 + r * np.cos(ang), cy + r * np.sin(ang)], 1)])
    return _fill(pts)


EXTRA_SHAPES: Dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "square": _square, "pentagon": _regular(5), "hexagon": _regular(6), "crescent": _crescent,
    "arrow": _arrow, "ell": _ell, "tee": _tee, "heart": _heart, "semicircle": _semicircle,
    "chevron": _chevron, "frame": _frame, "bowtie": _bowtie, "u_shape": _u_shape, "drop": _drop,
}
_DRAW = {**S.SHAPES, **EXTRA_SHAPES}
OBJECT_CLASSES: Tuple[str, ...] = tuple(S.SHAPES) + tuple(EXTRA_SHAPES)
CLASSES: Tuple[str, ...] = OBJECT_CLASSES + ("background",)
NUM_CLASSES = len(CLASSES)
BACKGROUND = NUM_CLASSES - 1


def label_of(index: int) -> int:
    return int(index) % NUM_CLASSES


def _split_id(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    return SPLITS[split]


_GRID = np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float32)


def _elastic(mask: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """``synthetic_shapes.elastic`` (same draws, same result) without rebuilding the pixel grid per call."""
    amp = strength * CANVAS
    dy, dx = (cv2.resize(rng.uniform(-amp, amp, (4, 4)).astype(np.float32), (CANVAS, CANVAS),
                         interpolation=cv2.INTER_CUBIC) for _ in range(2))
    return cv2.remap(mask.astype(np.float32), _GRID[1] + dx, _GRID[0] + dy, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _window_texture(size: int, rng: np.random.Generator, kind: str, c1: np.ndarray, c2: np.ndarray,
                    scene: int, x0: int, y0: int) -> np.ndarray:
    """``synthetic_shapes.texture(scene, scene, ...)[y0:y0 + size, x0:x0 + size]`` (same draws), computing
    only the window: a gradient spans the whole scene, stripes keep their period, noise its cell size."""
    if kind == "noise":
        g = int(rng.integers(3, 24))
        full = cv2.resize(rng.random((g, g)).astype(np.float32), (scene, scene), interpolation=cv2.INTER_CUBIC)
        t = np.clip(full[y0:y0 + size, x0:x0 + size], 0, 1)
    else:
        yy, xx = np.mgrid[y0:y0 + size, x0:x0 + size].astype(np.float32)
        if kind == "gradient":
            th = rng.uniform(0, 2 * np.pi)
            proj = xx * np.cos(th) + yy * np.sin(th)
            ends = [c * (scene - 1) for c in (0.0, np.cos(th), np.sin(th), np.cos(th) + np.sin(th))]
            t = (proj - min(ends)) / max(1e-6, max(ends) - min(ends))
        elif kind == "stripes":
            th, period = rng.uniform(0, np.pi), rng.uniform(5, 40)
            t = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(th) + yy * np.sin(th)) / period + rng.uniform(0, 6.3))
        else:
            raise ValueError(f"unknown background texture {kind!r}")
    return (c1[None, None, :] * (1 - t[..., None]) + c2[None, None, :] * t[..., None]).astype(np.float32)


def _window_background(size: int, rng: np.random.Generator, scene: int = SCENE) -> np.ndarray:
    """A ``size`` window of ``synthetic_shapes.background(scene)``: the same textures and clutter strokes
    at the scale of the detection images (drawing the background at crop size would pack its clutter
    four times as densely, its arcs as small as the objects)."""
    scene = max(scene, size)
    x0, y0 = (int(v) for v in rng.integers(0, scene - size + 1, 2))
    kinds = ("gradient", "stripes", "noise")
    img = _window_texture(size, rng, kinds[rng.integers(3)], S.random_color(rng), S.random_color(rng), scene, x0, y0)
    if rng.random() < 0.6:  # a second layer, as synthetic_shapes.background
        layer = _window_texture(size, rng, kinds[rng.integers(3)], S.random_color(rng), S.random_color(rng),
                                scene, x0, y0)
        a = rng.uniform(0.2, 0.5)
        img = (1 - a) * img + a * layer
    for _ in range(int(rng.integers(0, 5))):  # clutter lines/arcs anywhere in the scene; cv2 clips to the window
        colour = tuple(float(v) for v in S.random_color(rng))
        if rng.random() < 0.5:
            p1, p2 = rng.integers(0, scene, 2), rng.integers(0, scene, 2)
            cv2.line(img, (int(p1[0]) - x0, int(p1[1]) - y0), (int(p2[0]) - x0, int(p2[1]) - y0), colour,
                     int(rng.integers(1, 4)))
        else:
            c, r = rng.integers(0, scene, 2), int(rng.integers(scene // 16, scene // 3))
            a0 = float(rng.uniform(0, 360))
            cv2.ellipse(img, (int(c[0]) - x0, int(c[1]) - y0), (r, r), 0, a0, a0 + float(rng.uniform(40, 200)),
                        colour, int(rng.integers(1, 4)))
    return np.ascontiguousarray(img, dtype=np.float32)


def _place(rng: np.random.Generator, canvas: np.ndarray, size: int) -> np.ndarray:
    """Homography of the detection generator, rescaled and moved so the warped shape's longer side is
    SIZE_RANGE of the crop at a jittered position; returns the bool mask (size, size)."""
    hom = S.random_homography(rng, 100.0, (0.0, 0.0))
    contours, _ = cv2.findContours((canvas > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    pts = cv2.perspectiveTransform(np.concatenate(contours).astype(np.float32), hom)[:, 0]
    lo, hi = pts.min(0), pts.max(0)
    k = size * float(np.exp(rng.uniform(*np.log(SIZE_RANGE)))) / float((hi - lo).max())
    ext = (hi - lo) * k
    slack = MAX_OVERHANG * ext
    centre = rng.uniform(ext / 2 - slack, size - ext / 2 + slack)
    shift = centre - k * (lo + hi) / 2
    fit = np.array([[k, 0, shift[0]], [0, k, shift[1]], [0, 0, 1]])
    warped = cv2.warpPerspective(canvas, fit @ hom, (size, size), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return warped > 0.5


def _paint_object(rng: np.random.Generator, img: np.ndarray, mask: np.ndarray) -> None:
    """Texture the object as ``synthetic._try_place``: a colour far from what it covers, mild pattern."""
    c1, c2, kind = S.object_paint(rng, img[mask].mean(0))
    size = img.shape[0]
    img[mask] = S.texture(size, size, rng, kind, c1, c2)[mask]


def render_crop(index: int, split: str = "train", seed: int = 0, size: int = CROP) -> Tuple[np.ndarray, int]:
    """Sample ``index`` of ``split``: (BGR uint8 (size, size, 3) crop, label in ``range(NUM_CLASSES)``)."""
    rng = np.random.default_rng([int(seed), _split_id(split), int(index)])
    label = label_of(index)
    img = _window_background(size, rng)
    if label != BACKGROUND:
        canvas = _DRAW[CLASSES[label]](rng).astype(np.float32)
        canvas = _elastic(canvas, rng, rng.uniform(0.0, 0.07))
        mask = _place(rng, canvas, size)
        if mask.any():  # a sliver can vanish at the border; the crop then keeps its label (rare)
            _paint_object(rng, img, mask)
    if rng.random() < 0.25:  # a stroke over everything: edges that cross the object, as occluders do
        p1, p2 = rng.integers(0, size, 2), rng.integers(0, size, 2)
        cv2.line(img, (int(p1[0]), int(p1[1])), (int(p2[0]), int(p2[1])),
                 tuple(float(v) for v in S.random_color(rng)), int(rng.integers(1, 3)))
    img += np.float32(rng.uniform(0, 6)) * rng.standard_normal(img.shape, dtype=np.float32)  # sensor noise
    return np.clip(np.round(img), 0, 255).astype(np.uint8), label


def render_batch(indices: Sequence[int], split: str = "train", seed: int = 0, size: int = CROP
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """Crops ``indices`` of ``split``: (uint8 (N, size, size, 3) BGR, int32 (N,) labels)."""
    imgs = np.empty((len(indices), size, size, 3), np.uint8)
    labels = np.empty(len(indices), np.int32)
    for k, i in enumerate(indices):
        imgs[k], labels[k] = render_crop(int(i), split, seed, size)
    return imgs, labels
