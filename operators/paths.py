"""Where the build puts the libraries (no MXNet import: the CUDA harness uses it on machines without MXNet)."""
from pathlib import Path

BUILD_DIR = Path(__file__).resolve().parent / "build"
