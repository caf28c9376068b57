"""What ``symbol`` says beyond the network's name (the schema has no key for it): the width divisor."""
from __future__ import annotations

import re

from .schema import Config

SYNTHETIC_WIDTH_DIVISOR = 4  # a CPU-sized net for the synthetic dataset


def width_divisor(cfg: Config) -> int:
    """A width divisor token ``w<n>`` in ``symbol`` (``resnet_v1_18_w4_rfcn_dcn``, ``resnet_v1_18_w8_deeplab_dcn``)
    divides every width by n; without one, the synthetic dataset gets 4 and real datasets 1."""
    m = re.search(r"(?:^|_)w(\d+)(?:_|$)", cfg.symbol)
    if m:
        return int(m.group(1))
    return SYNTHETIC_WIDTH_DIVISOR if cfg.dataset.dataset == "synthetic" else 1
