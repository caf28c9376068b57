"""Faster R-CNN (2fc) and deformable FPN with deformable ConvNets (Dai et al. 2017) on MXNet Gluon.

Entry points: ``python -m fpn.train``, ``python -m fpn.test``, ``python -m fpn.demo``,
``python -m fpn.proposals`` (precomputed proposals for the fixed-proposal protocol).
"""
import dcn  # noqa: F401 - sets OMP_NUM_THREADS before MXNet is imported

from .pyramid_net import FPN
from .rcnn import FasterRCNN
from .spec import FasterRCNNSpec

from . import recipe  # noqa: F401 - registers the networks with the core (dcn.modeling.recipes)

__all__ = ["FPN", "FasterRCNN", "FasterRCNNSpec"]
