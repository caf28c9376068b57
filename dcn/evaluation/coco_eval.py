"""COCO bbox evaluation through pycocotools, via the standard results JSON.

Detections are written as ``[{"image_id", "category_id", "bbox": [x, y, w, h],
"score"}]`` with ``w = x2 - x1 + 1`` (inclusive boxes, as the original), then
scored by ``COCOeval`` exactly as a results file submitted by hand would be.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..data.coco import COCODetection, load_coco_json
from ..data.records import PathLike

logger = logging.getLogger(__name__)

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def detections_to_coco(image_id: int, boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray,
                       cat_ids: Sequence[int]) -> List[Dict[str, Any]]:
    """One image's detections as COCO result entries (labels are 0-based)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = []
    for (x1, y1, x2, y2), lab, s in zip(boxes, np.asarray(labels).reshape(-1), np.asarray(scores).reshape(-1)):
        out.append({"image_id": int(image_id), "category_id": int(cat_ids[int(lab)]),
                    "bbox": [round(float(x1), 2), round(float(y1), 2),
                             round(float(x2 - x1 + 1), 2), round(float(y2 - y1 + 1), 2)],
                    "score": round(float(s), 5)})
    return out


def quiet_coco(data: Dict[str, Any]) -> COCO:
    """pycocotools COCO from an in-memory dict, without its stdout chatter."""
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


@dataclass
class COCOResult:
    stats: Dict[str, float]  # STAT_NAMES -> value (pycocotools' 12 numbers)
    per_class_ap: Dict[str, float]  # AP@[.5:.95] per category name
    summary_text: str  # pycocotools' printed summary

    def table(self) -> str:
        rows = [f"{k:<8}{100 * v:8.2f}" for k, v in self.stats.items()]
        rows += [f"{k:<20}{100 * v:8.2f}" for k, v in self.per_class_ap.items()]
        return "\n".join(rows)


class COCOEvaluator:
    """Collect detections per image, write the results JSON, run COCOeval.

    ``gt`` is a :class:`COCODetection`, an annotation JSON path or its dict.
    """

    def __init__(self, gt: Union[COCODetection, PathLike, Dict[str, Any]]) -> None:
        if isinstance(gt, COCODetection):
            data = gt.data
        elif isinstance(gt, dict):
            data = gt
        else:
            data = load_coco_json(gt)
        self.coco_gt = quiet_coco(data)
        cats = sorted(data["categories"], key=lambda c: c["id"])
        self.cat_ids = [int(c["id"]) for c in cats]
        self.cat_names = [str(c["name"]) for c in cats]
        self.results: List[Dict[str, Any]] = []

    def reset(self) -> None:
        self.results = []

    def update(self, image_id: int, boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> None:
        """``image_id`` is the JSON image id (``COCODetection.image_ids[i]``)."""
        self.results.extend(detections_to_coco(image_id, boxes, labels, scores, self.cat_ids))

    def write_results(self, path: PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.results))
        return path

    def evaluate(self, results_file: Optional[PathLike] = None) -> COCOResult:
        """Score ``results_file`` (default: the collected detections, through a
        temporary JSON round trip so both paths are the same code)."""
        if results_file is None:
            anns = json.loads(json.dumps(self.results))
        else:
            with open(results_file) as f:
                anns = json.load(f)
        if not anns:
            logger.warning("COCO evaluation: no detections; every metric is 0")
            return COCOResult({k: 0.0 for k in STAT_NAMES}, {n: 0.0 for n in self.cat_names}, "")
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            coco_dt = self.coco_gt.loadRes(anns)
            ev = COCOeval(self.coco_gt, coco_dt, "bbox")
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        summary = buf.getvalue()
        summary = summary[summary.find(" Average Precision"):] if " Average Precision" in summary else summary
        # precision: (iou, recall, class, area range, max dets); area 0 = all, maxDets 2 = 100
        prec = ev.eval["precision"][:, :, :, 0, 2]
        per_class = {}
        for k, name in enumerate(self.cat_names):
            p = prec[:, :, k]
            per_class[name] = float(p[p > -1].mean()) if (p > -1).any() else float("nan")
        return COCOResult({n: float(v) for n, v in zip(STAT_NAMES, ev.stats)}, per_class, summary)
