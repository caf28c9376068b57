"""Shape masks, geometric warps and textures for the synthetic dataset.

Every shape is drawn once on a square canonical canvas, bent by a smooth
elastic field, then mapped into the image by one homography (perspective
jitter, aspect stretch, rotation, scale, translation). Boxes and masks come
from the thresholded warped mask, so they are exact by construction.
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import cv2
import numpy as np

CANVAS = 128  # canonical canvas side; shapes fill about [0.1, 0.9] of it
_EXTENT = 0.8 * CANVAS


def _poly(points: np.ndarray) -> np.ndarray:
    m = np.zeros((CANVAS, CANVAS), np.uint8)
    cv2.fillPoly(m, [np.round(points).astype(np.int32)], 1)
    return m


def _radial(n: int, radii: np.ndarray, phase: float = -np.pi / 2) -> np.ndarray:
    ang = phase + np.arange(n) * 2 * np.pi / n
    c = CANVAS / 2
    return np.stack([c + radii * np.cos(ang), c + radii * np.sin(ang)], 1)


def _disk(rng: np.random.Generator) -> np.ndarray:
    m = np.zeros((CANVAS, CANVAS), np.uint8)
    cv2.circle(m, (CANVAS // 2, CANVAS // 2), int(0.4 * CANVAS), 1, -1)
    return m


def _triangle(rng: np.random.Generator) -> np.ndarray:
    pts = _radial(3, np.full(3, 0.44 * CANVAS)) + rng.uniform(-0.04, 0.04, (3, 2)) * CANVAS
    pts[:, 1] += 0.1 * CANVAS  # centre the bounding box, not the centroid
    return _poly(pts)


def _star(rng: np.random.Generator) -> np.ndarray:
    inner = rng.uniform(0.35, 0.55)
    radii = np.tile([0.42 * CANVAS, 0.42 * CANVAS * inner], 5)
    pts = _radial(10, radii)
    pts[:, 1] += 0.04 * CANVAS
    return _poly(pts)


def _ring(rng: np.random.Generator) -> np.ndarray:
    m = _disk(rng)
    cv2.circle(m, (CANVAS // 2, CANVAS // 2), int(0.4 * CANVAS * rng.uniform(0.45, 0.72)), 0, -1)
    return m


def _cross(rng: np.random.Generator) -> np.ndarray:
    m = np.zeros((CANVAS, CANVAS), np.uint8)
    c, arm, half = CANVAS // 2, int(0.4 * CANVAS), int(rng.uniform(0.09, 0.16) * CANVAS)
    cv2.rectangle(m, (c - arm, c - half), (c + arm, c + half), 1, -1)
    cv2.rectangle(m, (c - half, c - arm), (c + half, c + arm), 1, -1)
    return m


def _letter(rng: np.random.Generator) -> np.ndarray:
    """A capital 'A' made of three strokes (a hard negative for the triangle)."""
    m = np.zeros((CANVAS, CANVAS), np.uint8)
    t = int(rng.uniform(0.09, 0.14) * CANVAS)
    top, left, right = (0.5, 0.12), (0.16, 0.88), (0.84, 0.88)
    bar = rng.uniform(0.55, 0.68)
    p = lambda x, y: (int(x * CANVAS), int(y * CANVAS))  # noqa: E731
    cv2.line(m, p(*top), p(*left), 1, t)
    cv2.line(m, p(*top), p(*right), 1, t)
    lx = 0.5 + (left[0] - 0.5) * (bar - top[1]) / (left[1] - top[1])
    cv2.line(m, p(lx, bar), p(1 - lx, bar), 1, max(2, int(t * 0.8)))
    return m


SHAPES: Dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "disk": _disk, "triangle": _triangle, "star": _star,
    "ring": _ring, "cross": _cross, "letter": _letter,
}


def elastic(mask: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Non-rigid bend: a smooth displacement field (cubic upsampling of a 4x4
    random grid), at most ``strength * CANVAS`` pixels."""
    grid = np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float32)
    amp = strength * CANVAS
    dy, dx = (cv2.resize(rng.uniform(-amp, amp, (4, 4)).astype(np.float32), (CANVAS, CANVAS),
                         interpolation=cv2.INTER_CUBIC) for _ in range(2))
    return cv2.remap(mask.astype(np.float32), grid[1] + dx, grid[0] + dy, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def random_homography(rng: np.random.Generator, size_px: float, center: Tuple[float, float]) -> np.ndarray:
    """Canvas -> image: perspective jitter, then stretch (up to 2.2x), rotation,
    scale so the longer side is about ``size_px``, and translation."""
    src = np.float32([[0, 0], [CANVAS, 0], [CANVAS, CANVAS], [0, CANVAS]])
    jitter = rng.uniform(0.0, 0.14) * CANVAS
    persp = cv2.getPerspectiveTransform(src, (src + rng.uniform(-jitter, jitter, (4, 2))).astype(np.float32))
    stretch = float(np.exp(rng.uniform(0, np.log(2.2))))
    k = size_px / _EXTENT
    sx, sy = (k, k / stretch) if rng.random() < 0.5 else (k / stretch, k)
    th = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
    to_origin = np.array([[1, 0, -CANVAS / 2], [0, 1, -CANVAS / 2], [0, 0, 1]])
    place = np.array([[1, 0, center[0]], [0, 1, center[1]], [0, 0, 1]])
    return place @ rot @ np.diag([sx, sy, 1.0]) @ to_origin @ persp


def warp_to_roi(canvas: np.ndarray, hom: np.ndarray) -> Tuple[np.ndarray, int, int]:
    """Warp only into the bounding box of the warped canvas (cheap for small
    objects). Returns (bool mask, x0, y0) with the mask's top-left in image px."""
    corners = cv2.perspectiveTransform(
        np.float32([[[0, 0], [CANVAS, 0], [CANVAS, CANVAS], [0, CANVAS]]]), hom)[0]
    x0, y0 = np.floor(corners.min(0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 1
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    warped = cv2.warpPerspective(canvas, shift @ hom, (int(x1 - x0), int(y1 - y0)),
                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return warped > 0.5, int(x0), int(y0)


def random_color(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, 3)


def object_paint(rng: np.random.Generator, covered: np.ndarray) -> Tuple[np.ndarray, np.ndarray, str]:
    """(c1, c2, texture kind) of an object over pixels of mean colour ``covered``: a colour far from
    what it covers (else the object would be invisible and its label noise), varied by a mild pattern."""
    c1 = random_color(rng)
    if np.abs(c1 - covered).sum() < 150:
        c1 = np.where(covered > 127, covered - rng.uniform(90, 127, 3), covered + rng.uniform(90, 127, 3))
    c2 = np.clip(c1 + rng.uniform(-50, 50, 3), 0, 255)
    return c1, c2, ("flat", "gradient", "stripes", "noise")[int(rng.integers(4))]


def texture(h: int, w: int, rng: np.random.Generator, kind: str, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """float32 (h, w, 3) BGR texture blending c1 and c2 by a pattern in [0, 1]."""
    if kind == "flat":
        t = np.zeros((h, w), np.float32)
    elif kind == "gradient":
        th = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        proj = xx * np.cos(th) + yy * np.sin(th)
        t = (proj - proj.min()) / max(1e-6, float(proj.max() - proj.min()))
    elif kind == "stripes":
        th, period = rng.uniform(0, np.pi), rng.uniform(5, 40)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(th) + yy * np.sin(th)) / period + rng.uniform(0, 6.3))
    elif kind == "noise":
        g = int(rng.integers(3, 24))
        t = cv2.resize(rng.random((g, g)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        t = np.clip(t, 0, 1)
    else:
        raise ValueError(f"unknown texture {kind!r}")
    return (c1[None, None, :] * (1 - t[..., None]) + c2[None, None, :] * t[..., None]).astype(np.float32)


def background(size: int, rng: np.random.Generator) -> np.ndarray:
    """Textured float32 (size, size, 3) background with distractor strokes."""
    kinds = ("gradient", "stripes", "noise")
    img = texture(size, size, rng, kinds[rng.integers(3)], random_color(rng), random_color(rng))
    if rng.random() < 0.6:  # a second layer so no single cue identifies "background"
        layer = texture(size, size, rng, kinds[rng.integers(3)], random_color(rng), random_color(rng))
        a = rng.uniform(0.2, 0.5)
        img = (1 - a) * img + a * layer
    for _ in range(int(rng.integers(0, 5))):  # clutter lines/arcs: edges that are not objects
        colour = tuple(float(v) for v in random_color(rng))
        if rng.random() < 0.5:
            p1, p2 = rng.integers(0, size, 2), rng.integers(0, size, 2)
            cv2.line(img, (int(p1[0]), int(p1[1])), (int(p2[0]), int(p2[1])), colour, int(rng.integers(1, 4)))
        else:
            c, r = rng.integers(0, size, 2), int(rng.integers(size // 16, size // 3))
            a0 = float(rng.uniform(0, 360))
            cv2.ellipse(img, (int(c[0]), int(c[1])), (r, r), 0, a0, a0 + float(rng.uniform(40, 200)), colour,
                        int(rng.integers(1, 4)))
    return img
