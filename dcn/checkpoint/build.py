"""Build (and initialise) the network an experiment config describes, on the CPU by default.

R-FCN (``rfcn``), DeepLab (``deeplab``), Faster R-CNN 2fc and FPN (``fpn``).
"""
from __future__ import annotations

from typing import Optional

import mxnet as mx
from mxnet import gluon

from dcn.config import Config
from dcn.config.errors import ConfigError


# the original's demo-only R-FCN symbols (rfcn/symbols/deform_conv_demo.py, deform_psroi_demo.py)
RFCN_DEMO_SYMBOLS = ("deform_conv_demo", "deform_psroi_demo")


class UnsupportedNetworkError(ValueError):
    """The config names a network this project has no module (or no mapping table) for."""


def config_network(cfg: Config) -> str:
    """'rfcn', 'deeplab', 'faster_rcnn' or 'fpn', from ``cfg.symbol`` (as the original's symbol names)."""
    symbol = cfg.symbol.lower()
    if "deeplab" in symbol:
        return "deeplab"
    if "fpn" in symbol:
        return "fpn"
    if "rfcn" in symbol or "class_aware_rpn" in symbol or symbol in RFCN_DEMO_SYMBOLS:
        return "rfcn"
    if "rcnn" in symbol:
        return "faster_rcnn"
    raise UnsupportedNetworkError(f"symbol {cfg.symbol!r}: cannot tell the network (expected rfcn, deeplab, "
                                  "rcnn or fpn in the name)")


def build_network(cfg: Config, ctx: Optional[mx.Context] = None) -> gluon.Block:
    """The network of ``cfg``, initialised (all shapes known), not hybridised."""
    import operators
    operators.load()
    ctx = ctx or mx.cpu()
    kind = config_network(cfg)
    if kind == "rfcn":
        from rfcn.config import model_spec
        from rfcn.model import RFCN
        net = RFCN(model_spec(cfg))
    elif kind == "deeplab":
        from deeplab.config import model_spec
        from deeplab.model import DeepLab
        net = DeepLab(model_spec(cfg))
    else:  # faster_rcnn, fpn: fpn.config picks FPN for a symbol with "fpn", as config_network does
        from fpn.config import make_net, model_spec
        try:
            spec = model_spec(cfg)
        except ValueError as err:  # inconsistent network.* keys (stride, dilation): a config error
            raise ConfigError(str(err)) from None
        net = make_net(spec)
    net.initialize_weights(ctx=ctx, scratch=False)
    return net
