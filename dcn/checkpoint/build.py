"""The network an experiment config describes, or a built network's kind and mapping table.

The networks are the tasks' (R-FCN, DeepLab, Faster R-CNN 2fc, FPN), found
through the recipes they register (``dcn.modeling.recipes``).
"""
from __future__ import annotations

from typing import Optional

import mxnet as mx
from mxnet import gluon

import operators
from operators.blocks import set_border_rule
from dcn.config import Config
from dcn.config.errors import ConfigError
from dcn.modeling.backbones.resnet_v1 import ResNetV1
from dcn.modeling.recipes import NetworkRecipe, recipe_for_net, recipe_for_symbol, recipes_in_order

from .tables import BACKBONE_TABLE, NetworkTable


class UnsupportedNetworkError(ValueError):
    """The config names a network this project has no module (or no mapping table) for."""


def config_recipe(cfg: Config) -> NetworkRecipe:
    """The recipe of the network ``cfg.symbol`` names (as the original's symbol names)."""
    recipe = recipe_for_symbol(cfg.symbol)
    if recipe is None:
        names = ", ".join(r.name for r in recipes_in_order())
        raise UnsupportedNetworkError(f"symbol {cfg.symbol!r}: cannot tell the network (registered: {names}; "
                                      "expected rfcn, deeplab, rcnn or fpn in the name)")
    return recipe


def config_network(cfg: Config) -> str:
    """'rfcn', 'deeplab', 'faster_rcnn' or 'fpn' (a registered recipe's name), from ``cfg.symbol``."""
    return config_recipe(cfg).name


def new_network(cfg: Config) -> gluon.Block:
    """The network of ``cfg`` from its task's recipe, not initialised."""
    recipe = config_recipe(cfg)
    try:
        net = recipe.build(cfg)
    except ConfigError:
        raise
    except ValueError as err:  # inconsistent network.* keys (stride, dilation): a config error
        raise ConfigError(str(err)) from None
    if cfg.network.border_rule != "dcnv1":
        set_border_rule(net, cfg.network.border_rule)
    return net


def build_network(cfg: Config, ctx: Optional[mx.Context] = None) -> gluon.Block:
    """The network of ``cfg``, initialised (all shapes known), not hybridised."""
    operators.load()
    net = new_network(cfg)
    net.initialize_weights(ctx=ctx or mx.cpu(), scratch=False)
    return net


def network_kind(net) -> str:
    """The registered network ``net`` is ('rfcn', 'deeplab', 'faster_rcnn', 'fpn'), 'resnet_v1' for a bare
    backbone, 'generic' otherwise."""
    recipe = recipe_for_net(net)
    if recipe is not None:
        return recipe.name
    return "resnet_v1" if isinstance(net, ResNetV1) else "generic"


def table_for(net) -> NetworkTable:
    """The mapping table of ``net``'s network (empty for a network without one)."""
    recipe = recipe_for_net(net)
    if recipe is not None:
        return recipe.table
    return BACKBONE_TABLE if isinstance(net, ResNetV1) else NetworkTable(network=type(net).__name__, head=())
