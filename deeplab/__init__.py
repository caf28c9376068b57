"""DeepLab (Chen et al.) with deformable ConvNets (Dai et al. 2017) on MXNet Gluon.

Entry points: ``python -m deeplab.train``, ``python -m deeplab.test``, ``python -m deeplab.demo``.
"""
from .model import DeepLab, DeepLabSpec

__all__ = ["DeepLab", "DeepLabSpec"]
