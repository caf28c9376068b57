"""Evaluation: VOC mAP (IoU 0.5/0.7, 11-point and area), COCO via pycocotools,
segmentation mIoU from a confusion matrix."""
from .coco_eval import COCOEvaluator, COCOResult, detections_to_coco
from .seg_eval import SegmentationEvaluator, SegResult
from .voc_eval import VOCDetectionEvaluator, VOCResult, metric_for_year, voc_ap

__all__ = ["COCOEvaluator", "COCOResult", "SegResult", "SegmentationEvaluator", "VOCDetectionEvaluator",
           "VOCResult", "detections_to_coco", "metric_for_year", "voc_ap"]
