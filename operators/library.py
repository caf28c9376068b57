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
_VERSION_FILE = BUILD_DIR / "mxnet_version.txt"
OP_NAMES = ("DeformableConvolution", "ModulatedDeformableConvolution", "DeformablePSROIPooling")

_lock = threading.Lock()
_loaded = False


class OperatorLibraryError(RuntimeError):
    """The operator library is missing or does not match the installed MXNet."""


def is_loaded() -> bool:
    return _loaded


def load() -> Path:
    """Load the operator library once; later calls are no-ops.

    Raises OperatorLibraryError with the command to run when the library is
    missing or was built against another MXNet.
    """
    global _loaded
    with _lock:
        if _loaded:
            return LIBRARY_PATH
        if not LIBRARY_PATH.is_file():
            raise OperatorLibraryError(
                f"operator library not found at {LIBRARY_PATH}; build it with `bash init.sh` "
                "(or `make -C operators PYTHON=$(which python)`) from the repository root")
        if "DCN_OPS_LIBRARY" not in os.environ:
            built_for = _VERSION_FILE.read_text().strip() if _VERSION_FILE.is_file() else "unknown"
            if built_for != mx.__version__:
                raise OperatorLibraryError(
                    f"operator library {LIBRARY_PATH} was built for mxnet {built_for}, but mxnet "
                    f"{mx.__version__} is installed; rebuild with `bash init.sh`")
        mx.library.load(str(LIBRARY_PATH), verbose=False)
        _loaded = True
        LOG.debug("loaded %s", LIBRARY_PATH)
        return LIBRARY_PATH
