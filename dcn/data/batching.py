"""Dataset wrappers and batching: images differ in size, so a batch is a list
with one image per device, converted to ``mx.nd`` only at the end."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Sequence, Union

import cv2
import mxnet as mx
import numpy as np

from .base import DetectionDataset, SegmentationDataset
from .records import DatasetFileError
from .sampler import AspectRatioGroupSampler
from .transforms import DetSample


class TransformedDataset(mx.gluon.data.Dataset):
    """``dataset`` with ``transform(image, target, flip=...)`` applied.

    ``flip_duplicate=True`` reproduces the original's TRAIN.FLIP: the dataset
    is doubled and items N..2N-1 are the mirrored images. This keeps an
    "epoch" the same length as in the original configs (lr_step is in epochs)
    and makes the flip deterministic in any worker process.
    """

    def __init__(self, dataset: Union[DetectionDataset, SegmentationDataset], transform: Callable,
                 flip_duplicate: bool = False) -> None:
        self.dataset = dataset
        self.transform = transform
        self.flip_duplicate = flip_duplicate

    def __len__(self) -> int:
        return len(self.dataset) * (2 if self.flip_duplicate else 1)

    def __getitem__(self, idx: int) -> Any:
        n = len(self.dataset)
        img, target = self.dataset[idx % n]
        flip = (idx >= n) if self.flip_duplicate else None
        try:
            return self.transform(img, target, flip=flip)
        except DatasetFileError:
            raise
        except (cv2.error, ValueError) as e:  # e.g. a 5000x2 image that resizes to 0 pixels
            path = self.dataset.records[idx % n].image_path
            raise DatasetFileError(path, f"cannot be prepared for the network ({type(e).__name__}: "
                                         f"{str(e).strip().splitlines()[-1]})") from e

    def aspect_ratios(self) -> np.ndarray:
        r = self.dataset.aspect_ratios()
        return np.concatenate([r, r]) if self.flip_duplicate else r


def list_batchify(samples: Sequence[Any]) -> List[Any]:
    """Batchify for gluon's DataLoader: keep the per-image samples as a list."""
    return list(samples)


def make_batch_sampler(aspect_ratios: Sequence[float], num_devices: int, *, shuffle: bool = True, seed: int = 0,
                       aspect_grouping: bool = True, rank: int = 0, num_workers: int = 1) -> mx.gluon.data.Sampler:
    """Batches of ``num_devices`` indices (one image per device); call ``set_epoch`` (when present) each epoch.

    One worker: aspect-ratio grouped (reseeded per epoch) or plain (numpy's global
    state, reseeded by the loop). Several ``dist_sync`` workers: this worker's equal
    shard (``dcn.distributed.shard``) in full batches only, so every worker runs the
    same number of steps; aspect grouping is off there.
    """
    if num_workers > 1:
        from ..distributed.shard import ShardBatchSampler  # dcn.distributed imports dcn.data
        return ShardBatchSampler(len(aspect_ratios), num_devices, rank, num_workers, shuffle=shuffle, seed=seed)
    if aspect_grouping:
        return AspectRatioGroupSampler(aspect_ratios, num_devices, shuffle=shuffle, seed=seed)
    base = (mx.gluon.data.RandomSampler(len(aspect_ratios)) if shuffle
            else mx.gluon.data.SequentialSampler(len(aspect_ratios)))
    return mx.gluon.data.BatchSampler(base, num_devices, last_batch="keep")


def make_loader(dataset: TransformedDataset, num_devices: int, shuffle: bool = True, seed: int = 0,
                aspect_grouping: bool = True, num_workers: int = 0) -> mx.gluon.data.DataLoader:
    """Loader yielding lists of ``num_devices`` samples (one image per device)."""
    sampler = make_batch_sampler(dataset.aspect_ratios(), num_devices, shuffle=shuffle, seed=seed,
                                 aspect_grouping=aspect_grouping)
    return mx.gluon.data.DataLoader(dataset, batch_sampler=sampler, batchify_fn=list_batchify,
                                    num_workers=num_workers)


def det_sample_to_nd(sample: DetSample, ctx: mx.Context = mx.cpu()) -> Dict[str, mx.nd.NDArray]:
    """Batch-of-one arrays: data (1,3,H,W), im_info (1,3), gt_boxes (1,K,5) with
    the class label (0-based) in column 4."""
    gt = np.concatenate([sample.boxes, sample.labels[:, None].astype(np.float32)], axis=1)
    return {"data": mx.nd.array(sample.data[None], ctx=ctx),
            "im_info": mx.nd.array(sample.im_info[None], ctx=ctx),
            "gt_boxes": mx.nd.array(gt[None], ctx=ctx)}


def seg_sample_to_nd(sample: Sequence[np.ndarray], ctx: mx.Context = mx.cpu()) -> Dict[str, mx.nd.NDArray]:
    data, label = sample
    return {"data": mx.nd.array(data[None], ctx=ctx), "label": mx.nd.array(label[None], ctx=ctx)}


def scatter(samples: Sequence[Any], ctxs: Sequence[mx.Context],
            to_nd: Callable[[Any, mx.Context], Dict[str, mx.nd.NDArray]] = det_sample_to_nd
            ) -> List[Dict[str, mx.nd.NDArray]]:
    """One sample per device; a short last batch uses the first len(samples) devices."""
    if len(samples) > len(ctxs):
        raise ValueError(f"{len(samples)} samples for {len(ctxs)} devices (one image per device)")
    return [to_nd(s, c) for s, c in zip(samples, ctxs)]
