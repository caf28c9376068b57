"""What a train entry point needs for one or several workers: the store, its rank, sharding, a watchdog."""
from __future__ import annotations

import logging
from typing import Any, Callable

from .kvstore import KVStoreLike, barrier, is_distributed, num_workers, resolve_kvstore, worker_rank
from .shard import ShardSampler
from .watchdog import Watchdog

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 600.0  # a step (or the chief's checkpoint) never legitimately takes this long
DEFAULT_START_TIMEOUT_S = 1800.0  # nodes started by hand or ssh may join minutes apart


class DistSession:
    """Join the job named by ``kvstore`` (a no-op stand-in with rank 0 of 1 unless it is ``dist_*``).

    The watchdog (only armed for a distributed store) allows ``start_timeout_s``
    for every node to join, then ``timeout_s`` for each training step (through
    :meth:`watch`) and for the final barrier of :meth:`finish`.
    """

    def __init__(self, kvstore: KVStoreLike, timeout_s: float = DEFAULT_TIMEOUT_S,
                 start_timeout_s: float = DEFAULT_START_TIMEOUT_S) -> None:
        self.distributed = is_distributed(kvstore)
        self.watchdog = Watchdog(start_timeout_s if self.distributed else 0)
        self.watchdog.start("waiting for every node of the job to start")
        self.kvstore = resolve_kvstore(kvstore)
        self.rank, self.num_workers = worker_rank(self.kvstore), num_workers(self.kvstore)
        self.watchdog.context = f"worker {self.rank} of {self.num_workers}"
        self.watchdog.kick("waiting for the first training step")  # before shortening the timeout
        self.watchdog.timeout_s = timeout_s if self.distributed else 0
        self.watchdog.start()

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    def watch(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` (the loop's forward) kicking the watchdog each call."""
        return self.watchdog.wrap(fn, "training (a step or the chief's checkpoint)")

    def sampler(self, num_samples: int, *, shuffle: bool = True, seed: int = 0) -> ShardSampler:
        """This worker's shard of ``num_samples`` indices (all of them with one worker)."""
        return ShardSampler(num_samples, self.rank, self.num_workers, shuffle=shuffle, seed=seed)

    def finish(self) -> None:
        """Wait for every worker to finish training, then stop the watchdog."""
        self.watchdog.kick("waiting at the final barrier for the other workers")
        barrier(self.kvstore)
        self.watchdog.stop()
        logger.info("worker %d of %d finished", self.rank, self.num_workers)
