"""Draw R-FCN / class-aware RPN detections on images and save them as PNG files.

    python -m rfcn.demo --params output/.../rfcn_synthetic-0008.params --images a.jpg b.jpg [--out demo_out]

The network is built from ``--cfg`` or, by default, the ``config.yaml`` that
training wrote next to the parameters.
"""
from __future__ import annotations

from typing import List, Optional

from dcn.checkpoint import load_network
from dcn.detection.demo import run_demo_cli

__all__ = ["main"]


def main(argv: Optional[List[str]] = None) -> None:
    run_demo_cli(load_network, argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
