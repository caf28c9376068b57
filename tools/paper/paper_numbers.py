"""The paper's numbers (ResNet-101; VOC 2007 test for detection, VOC 2012 val mIoU@V for DeepLab), to print
beside ours. Detection entries are (mAP@0.5, mAP@0.7)."""
from __future__ import annotations

TABLE1 = {
    "deeplab": {"dconv0": (69.7,), "dconv1": (73.9,), "dconv2": (74.8,), "dconv3": (75.2,), "dconv6": (74.8,)},
    "rpn": {"dconv0": (68.0, 44.9), "dconv1": (73.5, 54.4), "dconv2": (74.3, 56.3), "dconv3": (74.5, 57.2),
            "dconv6": (74.6, 57.7)},
    "faster": {"dconv0": (78.1, 62.1), "dconv1": (78.6, 63.8), "dconv2": (78.5, 63.3), "dconv3": (78.6, 63.3),
               "dconv6": (78.7, 64.0)},
    "rfcn": {"dconv0": (80.0, 61.8), "dconv1": (80.6, 63.0), "dconv2": (81.0, 63.8), "dconv3": (81.4, 64.7),
             "dconv6": (81.5, 65.4)},
}
TABLE3 = {
    "deeplab": {"dconv0": (69.7,), "atrous4": (73.1,), "atrous6": (73.6,), "atrous8": (73.2,), "dconv3": (75.3,)},
    "rpn": {"dconv0": (68.0, 44.9), "atrous4": (72.8, 53.1), "atrous6": (73.6, 55.2), "atrous8": (73.2, 55.1),
            "dconv3": (74.5, 57.2)},
    "faster": {"dconv0": (78.1, 62.1), "atrous4": (78.6, 63.1), "atrous6": (78.5, 62.3), "atrous8": (77.8, 61.8),
               "dconv3": (78.6, 63.3), "droi": (78.3, 66.6), "both": (79.3, 66.9)},
    "rfcn": {"dconv0": (80.0, 61.8), "atrous4": (80.5, 63.0), "atrous6": (80.2, 63.5), "atrous8": (80.3, 63.2),
             "dconv3": (81.4, 64.7), "droi": (81.2, 65.0), "both": (82.6, 68.5)},
}
# effective dilation (mean, std) by small / medium / large / background, the last deformable layer first;
# our three deformable blocks (res4b, res5a, res5b of ResNet-18) are matched from the end
TABLE2 = {
    "res5c": ((5.3, 3.3), (5.8, 3.5), (8.4, 4.5), (6.2, 3.0)),
    "res5b": ((2.5, 1.3), (3.1, 1.5), (5.1, 2.5), (3.2, 1.2)),
    "res5a": ((2.2, 1.2), (2.9, 1.3), (4.2, 1.6), (3.1, 1.1)),
}
# (parameters in M, network forward in s on a K40) for (plain, deformable)
TABLE4 = {
    "deeplab": ((46.0, 0.084), (46.1, 0.088)),  # DeepLab@V
    "rpn": ((46.0, 0.142), (46.1, 0.152)),
    "faster": ((58.3, 0.147), (59.9, 0.192)),
    "rfcn": ((47.1, 0.143), (49.5, 0.169)),
}
