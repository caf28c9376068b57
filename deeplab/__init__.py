"""DeepLab (Chen et al.) with deformable ConvNets (Dai et al. 2017) on MXNet Gluon.

Entry points: ``python -m deeplab.train``, ``python -m deeplab.test``, ``python -m deeplab.demo``.
"""
import dcn  # noqa: F401 - sets OMP_NUM_THREADS before MXNet is imported

from .model import DeepLab, DeepLabSpec

from . import recipe  # noqa: F401 - registers the networks with the core (dcn.modeling.recipes)

__all__ = ["DeepLab", "DeepLabSpec"]
