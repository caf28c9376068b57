"""Draw Faster R-CNN / FPN detections on images and save them as PNG files.

    python -m fpn.demo --params output/.../fpn_synthetic-0008.params --images a.jpg b.jpg [--out demo_out]

The network is built from ``--cfg`` or, by default, the ``config.yaml`` that
training wrote next to the parameters (``dcn.detection.demo``). A network
trained on precomputed proposals has an untrained RPN, so the demo needs an
end-to-end one.
"""
from __future__ import annotations

from typing import List, Optional

from dcn.detection.demo import run_demo_cli

from dcn.checkpoint import load_network


def main(argv: Optional[List[str]] = None) -> None:
    run_demo_cli(load_network, argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
