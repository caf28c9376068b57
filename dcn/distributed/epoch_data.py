"""The data side of every train entry point: this worker's batches, reshuffled per epoch, and the
samples one epoch holds over all workers (what ``dcn.engine.fit`` turns lr steps into updates with)."""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

from mxnet import gluon

from ..config import Config
from ..data.batching import list_batchify, make_batch_sampler
from .session import DistSession


def epoch_loader(cfg: Config, dataset: Any, num_devices: int, session: DistSession,
                 on_epoch: Optional[Callable[[int], None]] = None) -> Tuple[Callable[[int], gluon.data.DataLoader], int]:
    """``(epoch_data, num_samples)``: ``epoch_data(epoch)`` reseeds the sampler (and calls ``on_epoch``)
    and returns the loader of lists of one sample per device; ``num_samples`` counts every worker's shard."""
    sampler = make_batch_sampler(dataset.aspect_ratios(), num_devices, shuffle=cfg.TRAIN.SHUFFLE,
                                 seed=cfg.default.seed, aspect_grouping=cfg.TRAIN.ASPECT_GROUPING,
                                 rank=session.rank, num_workers=session.num_workers)
    loader = gluon.data.DataLoader(dataset, batch_sampler=sampler, batchify_fn=list_batchify,
                                   num_workers=cfg.default.num_workers)

    def epoch_data(epoch: int) -> gluon.data.DataLoader:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        if on_epoch is not None:
            on_epoch(epoch)
        return loader

    num_samples = len(sampler) * num_devices * session.num_workers if session.distributed else len(dataset)
    return epoch_data, num_samples
