"""Disjoint, deterministic per-worker shards of a dataset's indices.

Every worker draws the same permutation (``seed + epoch``) and keeps every
``num_workers``-th index starting at its rank, so the shards of one epoch are
disjoint and their union is the permutation (minus at most ``num_workers - 1``
indices). All shards have the same length on purpose: with ``dist_sync`` a worker
that runs one step more than the others waits forever for their gradients.
"""
from __future__ import annotations

import logging
from typing import Iterator, List, Optional

import numpy as np
from mxnet import gluon

logger = logging.getLogger(__name__)


def shard_indices(num_samples: int, rank: int, num_workers: int, *, seed: Optional[int] = None,
                  epoch: int = 0) -> np.ndarray:
    """Indices of ``rank``'s shard: ``perm[rank::num_workers][:num_samples // num_workers]``.

    ``perm`` is ``arange`` without ``seed``, else a permutation from ``RandomState(seed + epoch)``.
    """
    if not 0 <= rank < num_workers:
        raise ValueError(f"rank {rank} outside 0..{num_workers - 1}")
    per_worker = num_samples // num_workers
    if per_worker == 0:
        raise ValueError(f"{num_samples} samples cannot be shared by {num_workers} workers")
    order = np.arange(num_samples) if seed is None else np.random.RandomState(seed + epoch).permutation(num_samples)
    return order[rank::num_workers][:per_worker]


class ShardSampler(gluon.data.Sampler):
    """Gluon sampler over this worker's shard; call ``set_epoch`` each epoch to reshuffle (if ``shuffle``)."""

    def __init__(self, num_samples: int, rank: int = 0, num_workers: int = 1, *, shuffle: bool = True,
                 seed: int = 0) -> None:
        self.num_samples, self.rank, self.num_workers = num_samples, rank, num_workers
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        dropped = num_samples % num_workers
        if dropped:
            logger.warning("%d of %d samples left out each epoch so that %d workers get equal shards",
                           dropped, num_samples, num_workers)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> np.ndarray:
        return shard_indices(self.num_samples, self.rank, self.num_workers,
                             seed=self.seed if self.shuffle else None, epoch=self.epoch)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples // self.num_workers


class ShardBatchSampler(gluon.data.Sampler):
    """Full batches of ``batch_size`` indices from this worker's shard (the incomplete last one dropped)."""

    def __init__(self, num_samples: int, batch_size: int, rank: int = 0, num_workers: int = 1, *,
                 shuffle: bool = True, seed: int = 0) -> None:
        if num_samples // num_workers < batch_size:
            raise ValueError(f"a shard of {num_samples // num_workers} samples cannot fill a batch of {batch_size}")
        self.shard = ShardSampler(num_samples, rank, num_workers, shuffle=shuffle, seed=seed)
        self.batch_size = batch_size

    def set_epoch(self, epoch: int) -> None:
        self.shard.set_epoch(epoch)

    def __iter__(self) -> Iterator[List[int]]:
        idx = self.shard.indices().tolist()
        return iter([idx[i:i + self.batch_size] for i in range(0, len(self) * self.batch_size, self.batch_size)])

    def __len__(self) -> int:
        return len(self.shard) // self.batch_size
