"""Aspect-ratio grouping batch sampler (one image per device per batch)."""
from __future__ import annotations

from typing import Iterator, List, Sequence

import mxnet as mx
import numpy as np


class AspectRatioGroupSampler(mx.gluon.data.Sampler):
    """Yields batches of indices whose images are all landscape (w >= h) or all
    portrait, so the images one step puts on the devices have similar shapes
    (the original's ASPECT_GROUPING).

    Each epoch reshuffles within the two groups and the order of the batches,
    from ``default_rng([seed, epoch])``: reproducible and independent of workers.
    """

    def __init__(self, aspect_ratios: Sequence[float], batch_size: int, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        ratios = np.asarray(aspect_ratios, np.float64)
        self._groups = [np.flatnonzero(ratios >= 1), np.flatnonzero(ratios < 1)]
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> List[np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch])
        batches = []
        for g in self._groups:
            g = rng.permutation(g) if self.shuffle else g
            for i in range(0, len(g), self.batch_size):
                b = g[i:i + self.batch_size]
                if len(b) == self.batch_size or not self.drop_last:
                    batches.append(b)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[List[int]]:
        batches = self._batches()
        self.epoch += 1  # next epoch gets a new order unless set_epoch is called
        return iter([b.tolist() for b in batches])

    def __len__(self) -> int:
        n = [len(g) // self.batch_size if self.drop_last else -(-len(g) // self.batch_size) for g in self._groups]
        return sum(n)
