"""Deformable ConvNets operators as an MXNet extension library.

``operators.load()`` registers ``DeformableConvolution``,
``ModulatedDeformableConvolution`` and ``DeformablePSROIPooling`` in
``mx.nd`` / ``mx.sym``. Nothing is built at import; run ``bash init.sh``
(or ``make -C operators``) to build the library. The Gluon blocks live in
``operators.blocks`` (importing it loads the library).
"""
from __future__ import annotations

import dcn  # noqa: F401 - sets OMP_NUM_THREADS before MXNet is imported (operators.library imports it)

import importlib
from typing import Any

# operators.library imports MXNet; it is imported on first use of these names, so that
# operators.cuda_harness (ctypes + numpy) works where MXNet is not installed (a GPU
# machine with torch only runs the device check that way).
__all__ = ["LIBRARY_PATH", "OperatorLibraryError", "is_loaded", "load"]


def __getattr__(name: str) -> Any:
    if name in __all__ or name == "library":
        library = importlib.import_module(".library", __name__)  # not `from . import`: that recurses here
        return library if name == "library" else getattr(library, name)
    raise AttributeError(f"module 'operators' has no attribute {name!r}")
