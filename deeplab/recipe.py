"""DeepLab's network as the core sees it (``dcn.modeling.recipes``): registered when ``deeplab`` is imported."""
from __future__ import annotations

from dcn.checkpoint.tables import ClassLayer, LayerRule, NetworkTable
from dcn.config import Config
from dcn.modeling.recipes import NetworkRecipe, register_network

from .config import model_spec
from .model import DeepLab, DeepLabSpec

DEEPLAB_TABLE = NetworkTable(
    network="deeplab",
    head=(
        LayerRule("fc6", "fc6", "1x1 conv 2048 -> 1024"),
        LayerRule("score", "score", "1x1 conv -> class maps"),
        LayerRule("upsampling", "upsampling", "fixed bilinear deconvolution (no bias); loaded like any array"),
    ),
    class_layers=(ClassLayer("score_weight", lambda net: 1),),
)


def build(cfg: Config) -> DeepLab:
    return DeepLab(model_spec(cfg))


RECIPE = register_network(NetworkRecipe(name="deeplab", recognises=lambda symbol: "deeplab" in symbol, build=build,
                                        network_types=(DeepLab,), spec_type=DeepLabSpec, table=DEEPLAB_TABLE,
                                        order=10))
