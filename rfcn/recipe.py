"""R-FCN's network as the core sees it (``dcn.modeling.recipes``): registered when ``rfcn`` is imported."""
from __future__ import annotations

from dcn.checkpoint.tables import ANCHORS_DERIVED, RPN_RULES, ClassLayer, LayerRule, NetworkTable
from dcn.config import Config
from dcn.modeling.recipes import NetworkRecipe, register_network

from .config import model_spec
from .model import RFCN, RFCNSpec

# the original's demo-only R-FCN symbols (rfcn/symbols/deform_conv_demo.py, deform_psroi_demo.py)
DEMO_SYMBOLS = ("deform_conv_demo", "deform_psroi_demo")

RFCN_TABLE = NetworkTable(
    network="rfcn",
    head=RPN_RULES + (
        LayerRule("conv_new_1", "conv_new_1", "1x1 reduction to 1024 (inside our backbone block)"),
        LayerRule("rfcn_cls", "rfcn_cls", "position-sensitive score maps k*k*C (k = network.psroi_group_size, 7)"),
        LayerRule("rfcn_bbox", "rfcn_bbox", "position-sensitive box maps k*k*8; *_test arrays re-normalised",
                  test_arrays=("rfcn", 2)),
        LayerRule("rfcn_cls_offset_t", "rfcn_cls_offset_t", "deformable PS RoI pooling offsets (dcn only)"),
        LayerRule("rfcn_bbox_offset_t", "rfcn_bbox_offset_t", "deformable PS RoI pooling offsets (dcn only)"),
    ),
    derived=dict(ANCHORS_DERIVED),
    # k*k position-sensitive maps per class
    class_layers=(ClassLayer("rfcn_cls_weight", lambda net: getattr(getattr(net, "spec", None), "group_size", 7) ** 2),),
)


def recognises(symbol: str) -> bool:
    return "rfcn" in symbol or "class_aware_rpn" in symbol or symbol in DEMO_SYMBOLS


def build(cfg: Config) -> RFCN:
    return RFCN(model_spec(cfg))


RECIPE = register_network(NetworkRecipe(name="rfcn", recognises=recognises, build=build, network_types=(RFCN,),
                                        spec_type=RFCNSpec, table=RFCN_TABLE, order=30))
