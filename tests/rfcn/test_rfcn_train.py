"""R-FCN: a few training steps on one synthetic image lower the loss, and the test-time output format."""
import mxnet as mx
import numpy as np
import pytest

from dcn.data.synthetic import CLASSES
from dcn.detection.inference import DetectParams, detect
from dcn.detection.loss import TrainParams
from dcn.detection.targets import ProposalTargetParams
from tests.detection_cases import check_detections, synthetic_batch, train_steps
from rfcn.model import RFCN, RFCNSpec


def small_net(**kw):
    mx.random.seed(0)
    net = RFCN(RFCNSpec(num_classes=len(CLASSES) + 1, depth=18, width_divisor=8, anchor_scales=(2, 4, 8),
                        input_scale=1 / 58.0, **kw))
    net.initialize_weights()
    net.hybridize()
    return net


@pytest.mark.parametrize("class_aware", [False, True])
def test_training_steps_lower_the_loss(class_aware):
    np.random.seed(0)
    net = small_net(class_aware_rpn=class_aware, num_deformable_layers=3)
    batch, _ = synthetic_batch()
    params = TrainParams(ProposalTargetParams(num_classes=7, batch_rois=-1), rpn_pre_nms_top_n=500,
                         rpn_post_nms_top_n=100, ohem=True, batch_rois_ohem=64)
    losses, metrics = train_steps(net, batch, params)
    assert ("RCNNLogLoss" in metrics) != class_aware
    assert np.mean(losses[-2:]) < losses[0], losses


@pytest.mark.parametrize("class_aware", [False, True])
def test_detect_output_format(class_aware):
    net = small_net(class_aware_rpn=class_aware, num_deformable_layers=0, deformable_psroi=False)
    batch, rec = synthetic_batch()
    dets = detect(net, batch["data"], batch["im_info"], DetectParams(max_per_image=20, score_thresh=0.0))
    check_detections(dets, rec, len(CLASSES), 20)  # original-image pixels (the network saw a 0.75x image)
