"""Precomputed proposals: the paper's VOC ablation protocol trains the RoI head on fixed RPN proposals.

Files are ``<dataset.proposal_dir>/<image_set>_<dataset.proposal>.npz`` (the
original's ``<image_set>_rpn`` naming): one (P, 4) float32 array of
``[x1, y1, x2, y2]`` boxes in original-image pixels per image id, best first.
:func:`generate_proposals` writes them from any trained network with an RPN;
:class:`ProposalDataset` serves them resized/flipped with each training image.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import mxnet as mx
import numpy as np
from mxnet import autograd
from tqdm import tqdm

from dcn.config import Config
from dcn.data.base import DetectionDataset
from dcn.data.batching import TransformedDataset, det_sample_to_nd
from dcn.data.transforms import DetSample, DetectionTransform, flip_boxes

from .rpn import propose

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]


def proposal_file(cfg: Config, image_set: str) -> Path:
    """Where the proposals of ``image_set`` live; ValueError when ``dataset.proposal_dir`` is not set."""
    if not cfg.dataset.proposal_dir:
        raise ValueError("dataset.proposal_dir is empty: set it to the folder of precomputed proposals")
    return Path(cfg.dataset.proposal_dir) / f"{image_set}_{cfg.dataset.proposal}.npz"


def save_proposals(path: PathLike, proposals: Dict[str, np.ndarray]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{k: np.asarray(v, np.float32).reshape(-1, 4) for k, v in proposals.items()})
    tmp.replace(path)
    logger.info("wrote %d images' proposals to %s", len(proposals), path)


def load_proposals(path: PathLike) -> Dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no proposal file {path} (make it with python -m fpn.proposals)")
    with np.load(path) as f:
        return {k: f[k].astype(np.float32).reshape(-1, 4) for k in f.files}


def lookup(proposals: Dict[str, np.ndarray], image_id: str, height: int, width: int) -> np.ndarray:
    """The image's proposals (original pixels); one whole-image box when it has none (as ``propose``)."""
    try:
        boxes = proposals[image_id]
    except KeyError:
        raise ValueError(f"image {image_id!r} has no precomputed proposals "
                         f"(the file holds {len(proposals)} other images)") from None
    return boxes if len(boxes) else np.array([[0, 0, width - 1, height - 1]], np.float32)


class ProposalDataset(TransformedDataset):
    """A ``TransformedDataset`` whose items are ``(DetSample, proposals (P, 4) in resized pixels)``."""

    def __init__(self, dataset: DetectionDataset, transform: DetectionTransform, proposals: Dict[str, np.ndarray],
                 flip_duplicate: bool = False) -> None:
        super().__init__(dataset, transform, flip_duplicate)
        self.proposals = proposals

    def __getitem__(self, idx: int) -> Tuple[DetSample, np.ndarray]:
        n = len(self.dataset)
        img, rec = self.dataset[idx % n]
        sample = self.transform(img, rec, flip=(idx >= n) if self.flip_duplicate else None)
        boxes = lookup(self.proposals, rec.image_id, rec.height, rec.width)
        if sample.flipped:
            boxes = flip_boxes(boxes, rec.width)
        return sample, (boxes * sample.im_info[2]).astype(np.float32)


def sample_to_nd(sample: Any, ctx: mx.Context = mx.cpu()) -> Dict[str, mx.nd.NDArray]:
    """``det_sample_to_nd``, plus ``proposals`` (P, 4) for a ``(DetSample, proposals)`` item."""
    if isinstance(sample, tuple):
        det, boxes = sample
        out = det_sample_to_nd(det, ctx)
        out["proposals"] = mx.nd.array(boxes, ctx=ctx)
        return out
    return det_sample_to_nd(sample, ctx)


def generate_proposals(net, dataset: DetectionDataset, transform: DetectionTransform, cfg: Config,
                       ctx: mx.Context, max_images: int = 0, progress: bool = True) -> Dict[str, np.ndarray]:
    """Run the RPN of ``net`` (``dcn.detection.detector`` protocol) on every image with the
    ``TEST.PROPOSAL_*`` settings; boxes in original-image pixels."""
    t = cfg.TEST
    out: Dict[str, np.ndarray] = {}
    n = len(dataset) if max_images <= 0 else min(max_images, len(dataset))
    for i in tqdm(range(n), desc="proposals", disable=not progress, leave=False):
        img, rec = dataset[i]
        batch = det_sample_to_nd(transform(img, rec, flip=False), ctx)
        with autograd.predict_mode():
            _, logits, deltas, anchors = net(batch["data"])
            fg = 1 - mx.nd.softmax(logits, axis=-1)[:, :, 0]
            rois, _ = propose(anchors, fg, deltas, batch["im_info"], t.PROPOSAL_PRE_NMS_TOP_N,
                              t.PROPOSAL_POST_NMS_TOP_N, t.PROPOSAL_NMS_THRESH, t.PROPOSAL_MIN_SIZE)
        out[rec.image_id] = rois.asnumpy() / float(batch["im_info"][0, 2].asscalar())
    return out
