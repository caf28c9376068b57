"""R-FCN (Dai et al. 2016) with deformable ConvNets (Dai et al. 2017), and the
paper's class-aware RPN, on MXNet Gluon.

Entry points: ``python -m rfcn.train``, ``python -m rfcn.test``, ``python -m rfcn.demo``.
"""
from dcn.utils.env import set_default_threads

set_default_threads()  # entry points run from here; before mxnet is imported

from .model import RFCN, RFCNSpec  # noqa: E402

__all__ = ["RFCN", "RFCNSpec"]
