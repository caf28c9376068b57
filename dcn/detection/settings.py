"""Test-time detection settings and box-decoding constants: plain data, no MXNet, so that the ONNX
pipeline (``dcn.deploy``) reads the same definitions as ``dcn.detection.inference``."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Sequence

# log(1000 / 16): the largest width/height delta decoded (the original's bbox_transform clip)
BOX_DELTA_CLIP = math.log(1000.0 / 16)


@dataclass
class DetectParams:
    rpn_pre_nms_top_n: int = 6000
    rpn_post_nms_top_n: int = 300
    rpn_nms_thresh: float = 0.7
    rpn_min_size: float = 0
    nms: float = 0.3
    score_thresh: float = 1e-3
    max_per_image: int = 300
    bbox_means: Sequence[float] = (0.0, 0.0, 0.0, 0.0)
    bbox_stds: Sequence[float] = (0.1, 0.1, 0.2, 0.2)
    use_softnms: bool = False
    softnms_method: str = "gaussian"   # or "linear" (IoU threshold: nms)
    softnms_sigma: float = 0.6
    bbox_averaging: bool = False
    bbox_averaging_thresh: float = 0.5

    @classmethod
    def from_dict(cls, d: dict) -> "DetectParams":
        """From a dict such as an export's ``-meta.json`` ``detect`` entry; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
