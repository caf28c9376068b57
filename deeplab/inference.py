"""Whole-image prediction: scores at the network input size, resized to the original image."""
from __future__ import annotations

from typing import Tuple

import cv2
import mxnet as mx
import numpy as np

from .model import DeepLab


def predict_scores(net: DeepLab, data: np.ndarray, out_hw: Tuple[int, int], ctx: mx.Context = mx.cpu()
                   ) -> np.ndarray:
    """``data`` float32 (3, h, w) -> softmax probabilities (C, H, W) at ``out_hw`` (bilinear resize)."""
    scores = net(mx.nd.array(data[None], ctx=ctx))
    prob = mx.nd.softmax(scores, axis=1)[0].asnumpy()
    h, w = out_hw
    if prob.shape[1:] == (h, w):
        return prob
    # cv2 resizes HWC arrays with up to 512 channels in one call
    hwc = cv2.resize(np.ascontiguousarray(prob.transpose(1, 2, 0)), (w, h), interpolation=cv2.INTER_LINEAR)
    return hwc.reshape(h, w, -1).transpose(2, 0, 1)


def predict_labels(net: DeepLab, data: np.ndarray, out_hw: Tuple[int, int], ctx: mx.Context = mx.cpu()
                   ) -> np.ndarray:
    """Class id per pixel (H, W) uint8 at ``out_hw``."""
    return predict_scores(net, data, out_hw, ctx).argmax(axis=0).astype(np.uint8)
