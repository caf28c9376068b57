"""Locating, checking and loading the compiled operator library."""
from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
from pathlib import Path

import mxnet as mx

from .paths import BUILD_DIR

LOG = logging.getLogger(__name__)

LIBRARY_PATH = Path(os.environ.get("DCN_OPS_LIBRARY", BUILD_DIR / "libdcn_ops.so"))
# CPU + GPU registration (built when nvcc exists); loaded instead of the CPU
# library only when MXNet sees a GPU, so CPU installs behave exactly as before.
CUDA_LIBRARY_PATH = BUILD_DIR / "libdcn_ops_cuda.so"
_VERSION_FILE = BUILD_DIR / "mxnet_version.txt"

# oneDNN's sgemm (the onednn-cpu-gomp wheel, a dependency: it shares MXNet's
# libgomp) is ~1.2x faster than the mxnet wheel's OpenBLAS on the deformable
# conv GEMMs. The library looks it up lazily through $DCN_DNNL_LIBRARY
# ("none" forces OpenBLAS); load() fills the variable in when unset.
DNNL_LIBRARY_NAME = "libdnnl.so.3"


def find_dnnl() -> Path | None:
    """libdnnl.so.3 of the onednn-cpu-gomp wheel in this environment, if installed and loadable."""
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        candidate = Path(prefix) / "lib" / DNNL_LIBRARY_NAME
        if candidate.is_file():
            try:
                ctypes.CDLL(str(candidate)).dnnl_sgemm  # noqa: B018 - the symbol must exist
                return candidate
            except (OSError, AttributeError) as err:
                LOG.warning("ignoring %s (%s)", candidate, err)
    return None


def gemm_backend() -> str:
    """'onednn' or 'openblas': what the float32 CPU GEMMs of the ops use in this process."""
    choice = os.environ.get("DCN_DNNL_LIBRARY", "")
    if choice in ("", "none"):
        return "openblas"
    return "onednn" if Path(choice).is_file() else "openblas"


def _choose_gemm() -> None:
    if "DCN_DNNL_LIBRARY" in os.environ:
        return
    found = find_dnnl()
    if found is None:
        LOG.info("oneDNN (pip package onednn-cpu-gomp==2023.2.0) is not installed: deformable "
                 "convolution GEMMs use the mxnet wheel's OpenBLAS, ~1.2x slower on CPU")
        os.environ["DCN_DNNL_LIBRARY"] = "none"
    else:
        os.environ["DCN_DNNL_LIBRARY"] = str(found)


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
        _choose_gemm()
        mx.library.load(str(path), verbose=False)
        _loaded, _loaded_path = True, path
        LOG.debug("loaded %s", path)
        return path
