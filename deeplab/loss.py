"""Per-pixel softmax cross-entropy with an ignore label (the original's
``SoftmaxOutput(multi_output=True, use_ignore=True, ignore_label=255, normalization='valid')``)."""
from __future__ import annotations

from typing import Dict, Tuple

import mxnet as mx

IGNORE_LABEL = 255


def segmentation_loss(scores: mx.nd.NDArray, label: mx.nd.NDArray, ignore_label: int = IGNORE_LABEL
                      ) -> Tuple[mx.nd.NDArray, Dict[str, mx.nd.NDArray]]:
    """``scores`` (N, C, H, W) logits, ``label`` (N, H, W) class ids or ``ignore_label``.

    Returns the loss (mean over the valid pixels, a 1-element array) and
    metrics: the loss and the pixel accuracy over the valid pixels.
    """
    if scores.shape[2:] != label.shape[1:]:
        raise ValueError(f"scores {scores.shape} and label {label.shape} differ in size")
    label = label.astype("float32")
    valid = label != ignore_label
    logp = mx.nd.log_softmax(scores, axis=1)
    picked = mx.nd.pick(logp, label * valid, axis=1)  # ignored pixels pick class 0, masked below
    num_valid = mx.nd.maximum(valid.sum(), 1)
    loss = -(picked * valid).sum() / num_valid
    with mx.autograd.pause():
        correct = (mx.nd.argmax(scores, axis=1) == label) * valid
        acc = correct.sum() / num_valid
    return loss, {"SoftmaxLoss": loss.detach(), "PixelAcc": acc}
