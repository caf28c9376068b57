"""Faster R-CNN (2fc) and deformable FPN with deformable ConvNets (Dai et al. 2017) on MXNet Gluon.

Entry points: ``python -m fpn.train``, ``python -m fpn.test``, ``python -m fpn.demo``,
``python -m fpn.proposals`` (precomputed proposals for the fixed-proposal protocol).
"""
from dcn.utils.env import set_default_threads

set_default_threads()  # entry points run from here; before mxnet is imported

from .pyramid_net import FPN  # noqa: E402
from .rcnn import FasterRCNN  # noqa: E402
from .spec import FasterRCNNSpec  # noqa: E402

__all__ = ["FPN", "FasterRCNN", "FasterRCNNSpec"]
