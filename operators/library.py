"""Locating, checking and loading the compiled operator library."""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import mxnet as mx

LOG = logging.getLogger(__name__)

BUILD_DIR = Path(__file__).resolve().parent / "build"
LIBRARY_PATH = Path(os.environ.get("DCN_OPS_LIBRARY", BUILD_DIR / "libdcn_ops.so"))
# CPU + GPU registration (built when nvcc exists); loaded instead of the CPU
# library only when MXNet sees a GPU, so CPU installs behave exactly as before.
CUDA_LIBRARY_PATH = BUILD_DIR / "libdcn_ops_cuda.so"
_VERSION_FILE = BUILD_DIR / "mxnet_version.txt"
OP_NAMES = ("DeformableConvolution", "ModulatedDeformableConvolution", "DeformablePSROIPooling")

_lock = threading.Lock()
_loaded = False
_loaded_path = LIBRARY_PATH


class OperatorLibraryError(RuntimeError):
    """The operator library is missing or does not match the installed MXNet."""


def is_loaded() -> bool:
    return _loaded


def _num_gpus() -> int:
    try:
        return mx.context.num_gpus()
    except mx.base.MXNetError:  # a CUDA wheel on a machine without a usable driver
        return 0


def library_path() -> Path:
    """The library load() uses: $DCN_OPS_LIBRARY, else the CUDA variant when it
    was built and MXNet has a GPU, else the CPU library."""
    if "DCN_OPS_LIBRARY" in os.environ:
        return LIBRARY_PATH
    if _num_gpus() > 0:
        if CUDA_LIBRARY_PATH.is_file():
            return CUDA_LIBRARY_PATH
        LOG.warning("MXNet sees a GPU but %s was not built (no nvcc at build time): the operators "
                    "will run on cpu only; rebuild with nvcc on PATH", CUDA_LIBRARY_PATH)
    return LIBRARY_PATH


def load() -> Path:
    """Load the operator library once; later calls are no-ops.

    Raises OperatorLibraryError with the command to run when the library is
    missing or was built against another MXNet.
    """
    global _loaded, _loaded_path
    with _lock:
        if _loaded:
            return _loaded_path
        path = library_path()
        if not path.is_file():
            raise OperatorLibraryError(
                f"operator library not found at {path}; build it with `bash init.sh` "
                "(or `make -C operators PYTHON=$(which python)`) from the repository root")
        if "DCN_OPS_LIBRARY" not in os.environ:
            built_for = _VERSION_FILE.read_text().strip() if _VERSION_FILE.is_file() else "unknown"
            if built_for != mx.__version__:
                raise OperatorLibraryError(
                    f"operator library {path} was built for mxnet {built_for}, but mxnet "
                    f"{mx.__version__} is installed; rebuild with `bash init.sh`")
        mx.library.load(str(path), verbose=False)
        _loaded, _loaded_path = True, path
        LOG.debug("loaded %s", path)
        return path
