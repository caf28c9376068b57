"""Loading original-style pretrained backbones (``prefix-000E.params`` with ``arg:``/``aux:`` keys)."""
from __future__ import annotations

import logging
from pathlib import Path

import mxnet as mx
from mxnet import gluon

logger = logging.getLogger(__name__)


def load_pretrained(net: gluon.Block, prefix: str, epoch: int = 0) -> int:
    """Copy every array of ``prefix-000E.params`` whose name and shape match a parameter of ``net``.

    MXNet Module names (``arg:``/``aux:`` prefixes, BatchNorm ``moving_*``) are
    mapped to Gluon's (``running_*``). Returns the number of arrays loaded.
    """
    path = Path(f"{prefix}-{epoch:04d}.params")
    if not path.is_file():
        raise FileNotFoundError(f"network.pretrained: {path} does not exist")
    loaded = mx.nd.load(str(path))
    renamed = {k.split(":", 1)[-1].replace("moving_mean", "running_mean").replace("moving_var", "running_var"): v
               for k, v in loaded.items()}
    params = net.collect_params()
    hits = 0
    for name, value in renamed.items():
        if name in params and params[name].shape == value.shape:
            params[name].set_data(value)
            hits += 1
    logger.info("pretrained %s: %d of %d arrays loaded into the network", path, hits, len(renamed))
    return hits
