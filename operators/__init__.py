"""Deformable ConvNets operators as an MXNet extension library.

``operators.load()`` registers ``DeformableConvolution``,
``ModulatedDeformableConvolution`` and ``DeformablePSROIPooling`` in
``mx.nd`` / ``mx.sym``. Nothing is built at import; run ``bash init.sh``
(or ``make -C operators``) to build the library. The Gluon blocks live in
``operators.blocks`` (importing it loads the library).
"""
from __future__ import annotations

import dcn  # noqa: F401 - sets OMP_NUM_THREADS before MXNet is imported (operators.library imports it)

from .library import LIBRARY_PATH, OperatorLibraryError, is_loaded, load

__all__ = ["LIBRARY_PATH", "OperatorLibraryError", "is_loaded", "load"]
