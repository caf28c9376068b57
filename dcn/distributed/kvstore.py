"""One KVStore per process, shared by the data sharding and the Trainer.

A process joins a ps-lite job exactly once: creating a second ``dist_*`` store
waits forever in a start-up barrier that the servers never enter again. So the
store is created here once, cached, and the same object is handed to the
data sharding (``rank``/``num_workers``) and to ``gluon.Trainer``.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, Dict, List, Optional, Union

import mxnet as mx

logger = logging.getLogger(__name__)

KVStoreLike = Union[str, mx.kv.KVStore, None]
SUPPORTED_DIST = ("dist_sync", "dist_device_sync")

_cache: Dict[str, mx.kv.KVStore] = {}


def is_distributed(kvstore: KVStoreLike) -> bool:
    """True for ``dist_*`` names or stores."""
    kind = kvstore.type if isinstance(kvstore, mx.kv.KVStore) else (kvstore or "")
    return "dist" in kind


def resolve_kvstore(kind: KVStoreLike) -> KVStoreLike:
    """The process-wide store for a ``dist_*`` name; any other value is returned unchanged.

    ``dist_async`` is refused: it needs the optimizer on the servers, whose
    states cannot be checkpointed (``Cannot save states for distributed training``).
    """
    if not isinstance(kind, str) or not is_distributed(kind):
        return kind
    if kind not in SUPPORTED_DIST:
        raise ValueError(f"kvstore '{kind}' is not supported; use one of {SUPPORTED_DIST} "
                         "(asynchronous updates would run on the servers, whose states cannot be checkpointed)")
    if "DMLC_ROLE" not in os.environ:
        raise RuntimeError(f"kvstore '{kind}' needs the DMLC_* environment of a launched job "
                           "(see docs/distributed.md: start it with experiments/dist_train.sh)")
    if kind not in _cache:
        if _cache:
            raise RuntimeError(f"this process already joined a '{next(iter(_cache))}' job; cannot also create '{kind}'")
        logger.info("joining the %s job (scheduler %s:%s, %s workers, %s servers)", kind,
                    os.environ.get("DMLC_PS_ROOT_URI"), os.environ.get("DMLC_PS_ROOT_PORT"),
                    os.environ.get("DMLC_NUM_WORKER"), os.environ.get("DMLC_NUM_SERVER"))
        kv = mx.kv.create(kind)  # blocks until every node of the job has started
        logger.info("joined as worker %d of %d", kv.rank, kv.num_workers)
        _cache[kind] = kv
    return _cache[kind]


def worker_rank(kvstore: KVStoreLike) -> int:
    """This worker's rank in a distributed store (0 otherwise)."""
    return kvstore.rank if isinstance(kvstore, mx.kv.KVStore) and is_distributed(kvstore) else 0


def num_workers(kvstore: KVStoreLike) -> int:
    """Workers in a distributed store (1 otherwise)."""
    return kvstore.num_workers if isinstance(kvstore, mx.kv.KVStore) and is_distributed(kvstore) else 1


def barrier(kvstore: KVStoreLike) -> None:
    """Wait for every worker (no-op without a distributed store)."""
    if isinstance(kvstore, mx.kv.KVStore) and is_distributed(kvstore):
        kvstore._barrier()  # pylint: disable=protected-access  # the public API has no barrier


def cached_kvstore() -> Optional[mx.kv.KVStore]:
    """The store this process joined, if any."""
    return next(iter(_cache.values()), None)


def sync_initial_params(trainer: "mx.gluon.Trainer", infer_shapes: Callable[[], Any]) -> None:
    """Before the first forward of a dist job: give every worker worker 0's parameters, and wait for them.

    Gluon does this lazily inside the first ``trainer.step``, i.e. after that step's
    forward/backward. With ``update_on_kvstore=False`` nothing orders a worker's initial
    pull before its own first gradient push, so the server may answer that pull with the
    already summed gradients and the worker's weights silently diverge (seen in about one
    run in three on MXNet 1.9.1); and workers other than 0 would compute their first
    gradients with their own initial weights. ``infer_shapes`` runs one forward pass,
    only when some parameter still has a deferred shape.
    """
    kv = getattr(trainer, "_kvstore_params", {}).get("kvstore")
    if not (isinstance(kv, mx.kv.KVStore) and is_distributed(kv)):
        return
    # pylint: disable=protected-access  # Gluon has no public "initialize the kvstore now"
    if trainer._kv_initialized and not trainer._params_to_init:
        return  # done already, e.g. by trainer.load_states on resume (the forward then waits for the pull)
    if any(p._deferred_init for p in trainer._params):
        logger.info("one forward pass to infer deferred parameter shapes before broadcasting them")
        with mx.autograd.pause():
            infer_shapes()
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    _broadcast_from_worker0(trainer)


def _broadcast_from_worker0(trainer: "mx.gluon.Trainer") -> None:
    """Gluon's ``_init_params`` for a dist store, made safe.

    Gluon pushes the parameter arrays themselves. A weight that an inference-mode
    CPU convolution has used (e.g. the forward that infers deferred shapes) is kept
    in MKLDNN layout, which a kvstore push cannot read: the push fails inside the
    engine without an error in Python, a peer's pull then reaches the server for a
    key never initialised ("init 42 first"), the server aborts and the job hangs
    (seen with DeepLab). Here worker 0 pushes plain copies and pulls every key back
    (so the server has stored them) before a barrier releases the other workers' pulls.
    """
    kv = trainer._kvstore
    params = [p for p in trainer._params_to_init if not p._deferred_init]
    keys = [trainer._param2idx[p.name] for p in params]
    values = [_plain_copy(p.list_data()[0]) for p in params]
    outs = [[mx.nd.zeros(v.shape, v.context, dtype=v.dtype)] for v in values]
    kv.init(keys, values)
    if kv.rank == 0:
        _pull_all(kv, keys, outs)
    kv._barrier()  # pylint: disable=protected-access
    if kv.rank != 0:
        _pull_all(kv, keys, outs)
    for param, (value,) in zip(params, outs):
        param.set_data(value)
    mx.nd.waitall()
    trainer._params_to_init = [p for p in trainer._params_to_init if p._deferred_init]


def _plain_copy(arr: mx.nd.NDArray) -> mx.nd.NDArray:
    return mx.nd.array(arr.asnumpy(), ctx=arr.context, dtype=arr.dtype)


def _pull_all(kv: mx.kv.KVStore, keys: List[int], arrays: List[List[mx.nd.NDArray]]) -> None:
    kv.pull(keys, arrays)
    for outs in arrays:
        for arr in outs:
            arr.wait_to_read()  # the pull has landed: this worker's first push can no longer overtake it
