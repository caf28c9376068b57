"""Precompute RPN proposals of a dataset split for the fixed-proposal protocol.

    python -m fpn.proposals --cfg CFG --params RPN_NET.params --image-set train [--set dataset.proposal_dir=DIR]

Runs the RPN of a trained network described by ``--cfg`` (Faster R-CNN, FPN or
R-FCN, by its ``symbol``; ``TEST.PROPOSAL_*`` settings, ``test_scales[0]``) and writes
``<dataset.proposal_dir>/<image_set>_<dataset.proposal>.npz``, which
``python -m fpn.train`` / ``fpn.test`` (``TEST.HAS_RPN: false``) then use.
"""
from __future__ import annotations

import argparse
import logging
from typing import List, Optional

from dcn.checkpoint import load_network
from dcn.config import add_config_args, config_from_args
from dcn.detection.data import load_dataset, make_transform
from dcn.detection.proposals import generate_proposals, proposal_file, save_proposals
from dcn.engine import make_contexts

logger = logging.getLogger(__name__)


def main(argv: Optional[List[str]] = None) -> None:
    parser = add_config_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--params", required=True, help="trained network whose RPN makes the proposals")
    parser.add_argument("--image-set", choices=("train", "test", "both"), default="both",
                        help="dataset.image_set, dataset.test_image_set, or both")
    parser.add_argument("--max-images", type=int, default=0, help="only the first N images (0 = all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = config_from_args(args)
    if not cfg.dataset.proposal_dir:
        parser.error("set dataset.proposal_dir (--set dataset.proposal_dir=DIR) for the output files")
    ctx = make_contexts(cfg.gpus)[0]
    net = load_network(cfg, args.params, ctx)  # any registered detector, by its symbol
    transform = make_transform(cfg, train=False, scale=cfg.test_scales[0])
    for train in ((True, False) if args.image_set == "both" else (args.image_set == "train",)):
        image_set = cfg.dataset.image_set if train else cfg.dataset.test_image_set
        boxes = generate_proposals(net, load_dataset(cfg, train), transform, cfg, ctx, args.max_images)
        save_proposals(proposal_file(cfg, image_set), boxes)


if __name__ == "__main__":
    main()
