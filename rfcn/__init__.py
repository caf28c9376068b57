"""R-FCN (Dai et al. 2016) with deformable ConvNets (Dai et al. 2017), and the
paper's class-aware RPN, on MXNet Gluon.

Entry points: ``python -m rfcn.train``, ``python -m rfcn.test``, ``python -m rfcn.demo``.
"""
import dcn  # noqa: F401 - sets OMP_NUM_THREADS before MXNet is imported

from .model import RFCN, RFCNSpec

from . import recipe  # noqa: F401 - registers the networks with the core (dcn.modeling.recipes)

__all__ = ["RFCN", "RFCNSpec"]
