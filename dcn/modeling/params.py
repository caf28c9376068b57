"""How big a network is: the one parameter count every report uses (paper Table 4: quickstart, paper tools,
benchmarks)."""
from __future__ import annotations

import numpy as np
from mxnet import gluon

# arrays a network holds that are not learned weights: BatchNorm statistics, the anchor tables (computed from
# ANCHOR_SCALES/RATIOS) and DeepLab's fixed bilinear upsampling kernel
NOT_LEARNED_SUFFIXES = ("running_mean", "running_var", "upsampling_weight")
NOT_LEARNED_PREFIXES = ("anchors_",)


def count_params(net: gluon.Block) -> int:
    """Learnable parameters of ``net`` (the arrays above excluded), from the parameters' shapes."""
    return int(sum(int(np.prod(p.shape)) for name, p in net.collect_params().items()
                   if not name.endswith(NOT_LEARNED_SUFFIXES) and not name.startswith(NOT_LEARNED_PREFIXES)))
