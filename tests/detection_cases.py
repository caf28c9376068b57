"""Shared inputs of the detector tests (R-FCN, Faster R-CNN, FPN)."""
import numpy as np

from dcn.data.batching import det_sample_to_nd
from dcn.data.records import DetRecord
from dcn.data.synthetic import render_image
from dcn.data.transforms import DetectionTransform


def synthetic_batch(index=3, size=128, stride=0):
    """One synthetic image as a network batch (resized by 0.75) and its record."""
    img, _, _, objects = render_image(index, seed=0, size=size)
    rec = DetRecord(str(index), "unused.jpg", size, size, np.array([o.box for o in objects]),
                    np.array([o.label for o in objects]), np.zeros(len(objects), bool))
    sample = DetectionTransform(size * 3 // 4, size, stride=stride)(img, rec, flip=False)  # resize: scale 0.75
    return det_sample_to_nd(sample), rec


def train_steps(net, batch, params, steps=6, lr=0.01):
    """Losses of ``steps`` SGD steps on the same batch (same sampling draws each run) and the last metrics."""
    from mxnet import autograd, gluon

    from dcn.detection.loss import detector_loss

    trainer = gluon.Trainer({k: v for k, v in net.collect_params().items() if v.grad_req != "null"}, "sgd",
                            {"learning_rate": lr, "momentum": 0.9, "wd": 5e-4})
    losses, metrics = [], {}
    for step in range(steps):
        np.random.seed(step)
        with autograd.record():
            loss, metrics = detector_loss(net, batch, params, np.random.default_rng(step))
        loss.backward()
        trainer.step(1)
        losses.append(float(loss.asscalar()))
        assert np.isfinite(losses[-1]), losses
    return losses, metrics


def check_detections(dets, rec, num_fg, max_dets):
    """(K, 6) float32 [class, score, box] rows, best first, 0 < K <= max_dets, in original-image pixels."""
    assert dets.dtype == np.float32 and dets.ndim == 2 and dets.shape[1] == 6 and 0 < len(dets) <= max_dets
    cls, score, boxes = dets[:, 0], dets[:, 1], dets[:, 2:]
    assert np.all(cls == np.round(cls)) and cls.min() >= 0 and cls.max() < num_fg
    assert np.all(np.diff(score) <= 1e-6) and score.min() >= 0 and score.max() <= 1
    assert boxes.min() >= 0 and boxes[:, [0, 2]].max() <= rec.width - 1 + 1e-3
    assert boxes[:, [1, 3]].max() <= rec.height - 1 + 1e-3
