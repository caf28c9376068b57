"""Batches of synthetic classification crops, rendered inline or by worker processes.

Epoch ``e`` renders the fresh train-split samples ``e*N .. (e+1)*N - 1`` (labels ``i % K``) in pools of
about ``POOL`` crops; each pool is trained on ``repeats`` times, every pass in a new random order and
with a new random flip/transpose per crop (the 8 symmetries of the square: every class is
rotation- and mirror-invariant as a set). Rendering a crop costs about as much as a ResNet-18/4
training step on it, so reusing each crop twice nearly halves the cost per step at little loss.
All draws depend only on (seed, epoch), so a resumed run sees the same batches. Workers are spawned
processes without MXNet: one core renders the next pools while the main process trains.
"""
from __future__ import annotations

import multiprocessing as mp
from collections import deque
from typing import Iterable, Iterator, List, Sequence, Tuple

import cv2
import numpy as np

from dcn.data import synthetic_classes as SC

AUG_STREAM = 7919  # second entry of the augmentation rng's seed (the crops use split ids 0..2)
POOL = 2048        # crops per rendering task and per reuse pool (~1.7 s on one core)

Task = Tuple[int, int, str, int, int]  # start, stop, split, seed, crop size


def to_input(imgs_bgr: np.ndarray, pixel_means_bgr: Sequence[float]) -> np.ndarray:
    """uint8 (N, H, W, 3) BGR -> float32 (N, 3, H, W) RGB minus the means: ``dcn.data.transforms.normalize``
    on a batch (0..255 scale, no std division), what the detection transforms feed the backbone."""
    rgb = imgs_bgr[..., ::-1].astype(np.float32) - np.asarray(pixel_means_bgr, np.float32)[::-1]
    return np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one core per renderer; OpenCV would otherwise spread over all of them


def _render(task: Task) -> Tuple[np.ndarray, np.ndarray]:
    start, stop, split, seed, size = task
    return SC.render_batch(range(start, stop), split, seed, size)


class CropRenderer:
    """Renders tasks in order, with ``workers`` processes (0: in this process, when asked)."""

    def __init__(self, workers: int = 0, prefetch: int = 3):
        self.workers = max(0, int(workers))
        self.prefetch = max(1, prefetch)
        self._pool = mp.get_context("spawn").Pool(self.workers, _init_worker) if self.workers else None

    def stream(self, tasks: Iterable[Task]) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        """(crops, labels) per task, in order; with workers, up to ``prefetch`` tasks are rendered ahead."""
        if self._pool is None:
            yield from map(_render, tasks)
            return
        todo = iter(tasks)
        pending: deque = deque()
        for task in todo:
            pending.append(self._pool.apply_async(_render, (task,)))
            if len(pending) >= max(self.prefetch, self.workers):
                break
        while pending:
            result = pending.popleft().get()
            task = next(todo, None)
            if task is not None:
                pending.append(self._pool.apply_async(_render, (task,)))
            yield result

    def render(self, split: str, seed: int, size: int, count: int) -> Tuple[np.ndarray, np.ndarray]:
        """Samples ``0 .. count - 1`` of ``split``."""
        parts = list(self.stream((a, min(a + POOL, count), split, seed, size) for a in range(0, count, POOL)))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> "CropRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def epoch_pools(epoch: int, images_per_epoch: int, seed: int, size: int) -> List[Task]:
    """The epoch's rendering tasks: its sample range split evenly into pools of at least ``POOL`` crops
    (or one pool for a short epoch)."""
    start = epoch * images_per_epoch
    count = max(1, images_per_epoch // POOL)
    edges = [start + images_per_epoch * k // count for k in range(count + 1)]
    return [(a, b, "train", seed, size) for a, b in zip(edges, edges[1:])]


def steps_per_epoch(images_per_epoch: int, batch_size: int, repeats: int) -> int:
    """Optimizer steps of an epoch: ``repeats`` passes over each pool, whole batches only."""
    return sum(repeats * ((b - a) // batch_size) for a, b, *_ in epoch_pools(0, images_per_epoch, 0, 0))


def symmetries(imgs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random flip / transpose (one of the square's 8 symmetries) per crop of (N, H, W, C)."""
    kinds = rng.integers(0, 8, len(imgs))
    out = np.empty_like(imgs)
    for k, (img, t) in enumerate(zip(imgs, kinds)):
        if t & 4:
            img = img.transpose(1, 0, 2)
        if t & 1:
            img = img[:, ::-1]
        if t & 2:
            img = img[::-1]
        out[k] = img
    return out


def pool_batches(imgs: np.ndarray, labels: np.ndarray, batch_size: int, repeats: int, rng: np.random.Generator,
                 pixel_means_bgr: Sequence[float]) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """``repeats`` passes over one pool as (float32 NCHW input, int32 labels) batches."""
    for _ in range(repeats):
        order = rng.permutation(len(imgs))
        for a in range(0, len(order) - batch_size + 1, batch_size):
            idx = np.sort(order[a:a + batch_size])
            yield to_input(symmetries(imgs[idx], rng), pixel_means_bgr), labels[idx]
