"""Faster R-CNN 2fc and FPN as the core sees them (``dcn.modeling.recipes``): registered when ``fpn`` is imported."""
from __future__ import annotations

from dcn.checkpoint.tables import (ANCHORS_DERIVED, RPN_RULES, ClassLayer, LayerRule, NetworkTable,
                                   rpn_classifier_rows)
from dcn.config import Config
from dcn.modeling.recipes import NetworkRecipe, register_network

from .config import Detector, make_net, model_spec
from .pyramid_net import FPN
from .rcnn import FasterRCNN
from .spec import FasterRCNNSpec

_BBOX_PRED = LayerRule("bbox_pred", "bbox_pred", "4*NUM_CLASSES box deltas (class-specific); *_test arrays "
                       "re-normalised (output c is coordinate c % 4)", test_arrays=("rcnn", 0))
_TWO_FC = (LayerRule("fc_new_1", "fc_new_1", "fc 256*7*7 -> 1024"),
           LayerRule("fc_new_2", "fc_new_2", "fc 1024 -> 1024"),
           LayerRule("cls_score", "cls_score", "fc -> NUM_CLASSES"),
           _BBOX_PRED)
_CLASS_ADVICE = "set dataset.NUM_CLASSES (and CLASS_AGNOSTIC: false, as the released models)"
_CLASS_LAYERS = (ClassLayer("cls_score_weight", lambda net: 1, _CLASS_ADVICE),
                 ClassLayer("bbox_pred_weight", lambda net: 4, _CLASS_ADVICE))

FASTER_RCNN_TABLE = NetworkTable(
    network="faster_rcnn",
    head=RPN_RULES + (
        LayerRule("conv_new_1", "conv_new_1", "1x1 reduction 2048 -> 256 (inside our backbone block)"),
        LayerRule("offset", "offset", "deformable RoI pooling offset fc 256*7*7 -> 98 (dcn only; the "
                  "DeformablePSROIPooling 'offset_t' before it has no parameters)"),
    ) + _TWO_FC,
    derived=dict(ANCHORS_DERIVED),
    class_layers=_CLASS_LAYERS,
)

FPN_TABLE = NetworkTable(
    network="fpn",
    head=(
        tuple(LayerRule(f"fpn_p{k}_1x1", f"fpn_p{k}_1x1", "lateral 1x1 -> 256") for k in (2, 3, 4, 5))
        + tuple(LayerRule(f"fpn_p{k}", f"fpn_p{k}", "3x3 output conv" if k < 6 else "3x3 stride-2 conv on C5 "
                          "(RPN only)") for k in (2, 3, 4, 5, 6))
        + (LayerRule("rpn_conv", "rpn_conv_3x3", "RENAMED: the RPN 3x3 conv shared by P2-P6 (the original's "
                     "shared Variable rpn_conv_weight/bias)"),
           LayerRule("rpn_cls_score", "rpn_cls_score", "shared by P2-P6; rows permuted: class-major (original) -> "
                     "anchor-major (ours)", transform=rpn_classifier_rows),
           LayerRule("rpn_bbox_pred", "rpn_bbox_pred", "shared by P2-P6; anchor-major in both"))
        + tuple(LayerRule(f"offset_p{k}", f"offset_p{k}", f"deformable RoI pooling offset fc of P{k} (dcn only)")
                for k in (2, 3, 4, 5))
        + _TWO_FC),
    derived={f"anchors_p{k}_anchor_": "anchor boxes of the level, computed from ANCHOR_SCALES/RATIOS and its "
                                      "stride; never read from a file" for k in (2, 3, 4, 5, 6)},
    offsets="res3b3/res4b22/res5{a,b,c}_branch2b_offset (fpn_dcn: deformable_pyramid + res5)",
    class_layers=_CLASS_LAYERS,
)


def build(cfg: Config) -> Detector:
    """FPN for a symbol with ``fpn``, Faster R-CNN otherwise (``fpn.config.model_spec``)."""
    return make_net(model_spec(cfg))


FPN_RECIPE = register_network(NetworkRecipe(name="fpn", recognises=lambda symbol: "fpn" in symbol, build=build,
                                            network_types=(FPN,), spec_type=FasterRCNNSpec, table=FPN_TABLE,
                                            order=20))
# after FPN and R-FCN: 'resnet_v1_101_fpn_rcnn' is FPN; 'rcnn' alone names Faster R-CNN
FASTER_RCNN_RECIPE = register_network(NetworkRecipe(name="faster_rcnn", recognises=lambda symbol: "rcnn" in symbol,
                                                    build=build, network_types=(FasterRCNN,),
                                                    spec_type=FasterRCNNSpec, table=FASTER_RCNN_TABLE, order=40))
